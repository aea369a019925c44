import EffWire
import Foundation
import XCTest

/// The real effnetd binary, driven over its real socket with real signals.
final class DaemonEndToEndTests: XCTestCase {
    let samples = repoRoot.appendingPathComponent("samples").path

    func cameras(_ fps: (Double, Double) = (20, 10)) -> String {
        """
        [[camera]]
        name = "a"
        images = "\(samples)"
        fps = \(fps.0)
        [[camera]]
        name = "b"
        images = "\(samples)"
        fps = \(fps.1)
        """
    }

    func hello(_ c: LineClient) throws -> Hello {
        guard case .hello(let h)? = try c.readMessage() else { throw HarnessError("no hello") }
        return h
    }

    func subscribe(_ c: LineClient, _ line: String = #"{"type":"subscribe"}"#) throws -> Subscribed {
        guard case .subscribed(let s) = try c.request(line) else { throw HarnessError("no subscribed reply") }
        return s
    }

    /// 50 subscribers get every prediction in order while one more never reads: its gap
    /// is reported to it, the others see none, and the daemon's memory stays bounded.
    func testFiftySubscribersAndOneThatNeverReads() throws {
        let d = try DaemonProcess(cameras: cameras((25, 25)), extra: "[socket]\nqueue = 8\nstall_timeout_s = 120")
        try d.waitReady()
        // The one that never reads: a small receive buffer and the biggest messages (top 1000).
        let stalled = try LineClient(path: d.socketPath, receiveBuffer: 4096)
        _ = try hello(stalled)
        _ = try subscribe(stalled, #"{"type":"subscribe","cameras":["a"],"top_k":1000}"#)
        var readers: [LineClient] = []
        for _ in 0..<50 {
            let c = try LineClient(path: d.socketPath)
            let h = try hello(c)
            XCTAssertEqual(h.cameras, ["a", "b"])
            XCTAssertEqual(h.model, "efficientnet-lite0-int8.tflite")
            XCTAssertEqual(h.protocol, Wire.protocolVersion)
            let s = try subscribe(c)
            XCTAssertEqual(s.cameras, ["a", "b"])
            readers.append(c)
        }
        let rssStart = d.residentKiB()
        // Each reader: 60 predictions, per camera consecutive seq, never a `dropped`.
        var firstSeq: [String: UInt64] = [:]
        for (i, c) in readers.enumerated() {
            var last: [String: UInt64] = [:]
            for _ in 0..<60 {
                let p = try c.readPrediction()
                if let prev = last[p.camera] { XCTAssertEqual(p.seq, prev + 1, "reader \(i) camera \(p.camera)") }
                last[p.camera] = p.seq
                XCTAssertNil(p.dropped, "reader \(i)")
                XCTAssertEqual(p.top.count, 5)
                XCTAssertGreaterThanOrEqual(p.latency_ms, p.inference_ms)
                XCTAssertNotNil(RFC3339.parse(p.captured_at), p.captured_at)
                if i == 0, firstSeq[p.camera] == nil { firstSeq[p.camera] = p.seq }
            }
        }
        let rssEnd = d.residentKiB()
        // Status sees 52 clients and the non-reader's subscription.
        let statusClient = try LineClient(path: d.socketPath)
        _ = try hello(statusClient)
        guard case .status(let st) = try statusClient.request(#"{"type":"status"}"#) else { return XCTFail("no status") }
        XCTAssertEqual(st.clients, 52)
        XCTAssertEqual(st.cameras.map(\.subscribers), [51, 50])
        XCTAssertGreaterThan(st.cameras[0].inferences, 25)
        XCTAssertEqual(st.cameras[0].format, "RGB3")
        // Bounded: the non-reader's backlog is its queue (8) plus what the sockets hold.
        XCTAssertLessThan(rssEnd - rssStart, 64 * 1024, "RSS grew from \(rssStart) to \(rssEnd) KiB")
        // Now the non-reader reads: somewhere there is a gap, announced by `dropped`.
        var last: UInt64? = nil
        var sawGap = false
        for _ in 0..<400 {
            let p = try stalled.readPrediction()
            XCTAssertEqual(p.camera, "a")
            XCTAssertEqual(p.top.count, 1000)
            if let last, p.seq != last + 1 {
                XCTAssertEqual(p.dropped, p.seq - last - 1, "the gap is the dropped count")
                sawGap = true
                break
            }
            XCTAssertNil(p.dropped)
            last = p.seq
        }
        XCTAssertTrue(sawGap, "the non-reading subscriber should have lost predictions")
        let end = d.terminate()
        XCTAssertEqual(end.status, 0, d.stderr)
    }

    /// Every kind of malformed input gets an error line and a closed connection; the
    /// daemon keeps serving everyone else.
    func testMalformedInputGetsAnErrorAndLeavesTheDaemonServing() throws {
        let d = try DaemonProcess(cameras: cameras((10, 5)))
        try d.waitReady()
        let watcher = try LineClient(path: d.socketPath)
        _ = try hello(watcher)
        _ = try subscribe(watcher)
        let bad: [(String, String)] = [
            ("not json\n", "not valid JSON"),
            ("[1,2]\n", "expected a JSON object"),
            ("{\"type\":\"dance\"}\n", "unknown type"),
            ("{\"no_type\":1}\n", "missing \"type\""),
            ("{\"type\":\"subscribe\",\"top_k\":\"many\"}\n", "top_k"),
            ("{\"type\":\"subscribe\",\"cameras\":[\"nope\"]}\n", "unknown camera"),
            ("\u{0}\u{1}\u{2}\u{ff}garbage\n", "not valid JSON"),
            (String(decoding: [0x7b, 0x22, 0xc3, 0x28, 0x22, 0x7d, 0x0a], as: UTF8.self), "not valid JSON"),
            (String(repeating: "x", count: Wire.maxLineBytes + 10), "over"),
            (String(repeating: "{", count: 5000) + "\n", "not valid JSON"),
        ]
        for (line, want) in bad {
            let c = try LineClient(path: d.socketPath)
            _ = try hello(c)
            try? c.send(line)
            guard case .error(let e)? = try c.readMessage() else { XCTFail("no error for \(line.prefix(40))"); continue }
            XCTAssertTrue(e.message.contains(want), "\(line.prefix(40)): \(e.message)")
            XCTAssertNil(try c.readLine(), "the connection is closed after an error")
        }
        // A client that connects and leaves mid-line does no harm either.
        do {
            let c = try LineClient(path: d.socketPath)
            try c.send("{\"type\":\"subscr")
        }
        // The subscriber saw no interruption; new clients are served.
        var last: [String: UInt64] = [:]
        for _ in 0..<10 {
            let p = try watcher.readPrediction()
            if let prev = last[p.camera] { XCTAssertEqual(p.seq, prev + 1) }
            last[p.camera] = p.seq
        }
        let c = try LineClient(path: d.socketPath)
        _ = try hello(c)
        guard case .status(let st) = try c.request(#"{"type":"status"}"#) else { return XCTFail("no status") }
        XCTAssertEqual(st.cameras.count, 2)
        XCTAssertEqual(d.terminate().status, 0, d.stderr)
    }

    func testClientLimit() throws {
        let d = try DaemonProcess(cameras: cameras((5, 5)), extra: "[socket]\nmax_clients = 3")
        try d.waitReady()
        let held = try (0..<3).map { _ in try LineClient(path: d.socketPath) }
        for c in held { _ = try hello(c) }
        let extra = try LineClient(path: d.socketPath)
        guard case .error(let e)? = try extra.readMessage() else { return XCTFail("the fourth client should get an error") }
        XCTAssertTrue(e.message.contains("too many clients"), e.message)
        XCTAssertNil(try extra.readLine())
        XCTAssertEqual(d.terminate().status, 0, d.stderr)
    }

    /// SIGHUP with a good config applies it without dropping subscribers; with a bad one
    /// it is rejected and the old config keeps running. SIGTERM exits 0 within 2 s.
    func testReloadGoodAndBadThenTerminate() throws {
        let d = try DaemonProcess(cameras: cameras((10, 10)))
        try d.waitReady()
        let sub = try LineClient(path: d.socketPath)
        _ = try hello(sub)
        _ = try subscribe(sub, #"{"type":"subscribe","cameras":["a"]}"#)
        let before = try sub.readPrediction()

        // Good: camera a keeps its name (seq continues), b becomes c, top_k 3.
        try d.rewriteConfig(cameras: """
            [[camera]]
            name = "a"
            images = "\(samples)"
            fps = 15
            [[camera]]
            name = "c"
            images = "\(samples)/coffee.jpg"
            fps = 5
            """, extra: "top_k = 3")
        d.signal(SIGHUP)
        let msgs = d.notify.collect(timeout: 60) { $0.contains("READY=1") }
        XCTAssertTrue(msgs.contains { $0.contains("RELOADING=1") }, "\(msgs)")
        XCTAssertTrue(msgs.contains { $0.contains("READY=1") }, "\(msgs)")
        var seqs: [UInt64] = [before.seq]
        for _ in 0..<20 { seqs.append(try sub.readPrediction().seq) }
        XCTAssertEqual(seqs, Array(before.seq...(before.seq + 20)), "seq continues across the reload with no gap")
        let probe = try LineClient(path: d.socketPath)
        XCTAssertEqual(try hello(probe).cameras, ["a", "c"])
        guard case .status(let st) = try probe.request(#"{"type":"status"}"#) else { return XCTFail("no status") }
        XCTAssertEqual(st.reloads, 1)
        XCTAssertEqual(st.cameras.map(\.name), ["a", "c"])
        let fresh = try LineClient(path: d.socketPath)
        _ = try hello(fresh)
        XCTAssertEqual(try subscribe(fresh).top_k, 3)

        // Bad: an unknown key. Rejected, the running config kept, the subscriber still served.
        try "[model]\npth = \"x\"\n".write(toFile: d.configPath, atomically: true, encoding: .utf8)
        d.signal(SIGHUP)
        _ = d.notify.collect(timeout: 30) { $0.contains("READY=1") }
        let probe2 = try LineClient(path: d.socketPath)
        _ = try hello(probe2)
        guard case .status(let st2) = try probe2.request(#"{"type":"status"}"#) else { return XCTFail("no status") }
        XCTAssertEqual(st2.reloads, 1)
        XCTAssertEqual(st2.reloads_rejected, 1)
        XCTAssertEqual(st2.cameras.map(\.name), ["a", "c"])
        XCTAssertTrue(d.stderrShows("pth"), "the rejection names the key: \(d.stderr)")
        // Reload over the socket (we are the daemon's own user): rejected the same way.
        guard case .reloaded(let r) = try probe2.request(#"{"type":"reload"}"#, timeout: 60) else { return XCTFail("no reloaded reply") }
        XCTAssertFalse(r.ok)
        XCTAssertTrue(r.message.contains("pth"), r.message)
        // Input on which toml++ would abort (the loader refuses it first; the reload also
        // checks every new config in a child process, so a parser crash cannot stop the daemon).
        try "[model]\n[#\n".write(toFile: d.configPath, atomically: true, encoding: .utf8)
        guard case .reloaded(let r2) = try probe2.request(#"{"type":"reload"}"#, timeout: 60) else { return XCTFail("no reloaded reply") }
        XCTAssertFalse(r2.ok, r2.message)
        let after = try sub.readPrediction()
        XCTAssertEqual(after.camera, "a")

        let end = d.terminate()
        XCTAssertEqual(end.status, 0, d.stderr)
        XCTAssertLessThan(end.seconds, 2, "SIGTERM → exit within 2 s")
        XCTAssertTrue(d.notify.collect(timeout: 1).contains { $0.contains("STOPPING=1") }, "STOPPING=1 before exit")
        XCTAssertFalse(FileManager.default.fileExists(atPath: d.socketPath), "the socket file is removed on exit")
        while try sub.readLine(timeout: 2) != nil {}
        XCTAssertTrue(sub.closedByPeer, "subscribers see the connection closed")
    }

    /// The shipped unit allows only AF_UNIX sockets (RestrictAddressFamilies=AF_UNIX). A reload
    /// must work under that restriction: it once ran its config check through Foundation's
    /// Process, which needs an AF_INET socket on Linux, and the reload never finished.
    func testReloadWorksWithOnlyUnixSocketsAllowed() throws {
        let launcher = FileManager.default.temporaryDirectory.appendingPathComponent("af-unix-only-\(getpid())").path
        let cc = try runCommand("/usr/bin/cc", ["-O2", "-o", launcher, repoRoot.appendingPathComponent("Tests/tools/af-unix-only.c").path])
        XCTAssertEqual(cc.status, 0, cc.stderr)
        defer { unlink(launcher) }
        let d = try DaemonProcess(cameras: cameras((10, 10)), launcher: [launcher])
        try d.waitReady()
        let probe = try LineClient(path: d.socketPath)
        _ = try hello(probe)

        try d.rewriteConfig(cameras: cameras((10, 10)), extra: "top_k = 3")
        guard case .reloaded(let good) = try probe.request(#"{"type":"reload"}"#, timeout: 60) else { return XCTFail("no reloaded reply: \(d.stderr)") }
        XCTAssertTrue(good.ok, good.message)
        try "[model]\npth = \"x\"\n".write(toFile: d.configPath, atomically: true, encoding: .utf8)
        guard case .reloaded(let bad) = try probe.request(#"{"type":"reload"}"#, timeout: 60) else { return XCTFail("no reloaded reply: \(d.stderr)") }
        XCTAssertFalse(bad.ok)
        XCTAssertTrue(bad.message.contains("pth"), "the child's check names the key: \(bad.message)")
        guard case .status(let st) = try probe.request(#"{"type":"status"}"#) else { return XCTFail("no status") }
        XCTAssertEqual(st.reloads, 1)
        XCTAssertEqual(st.reloads_rejected, 1)
        XCTAssertEqual(d.terminate().status, 0, d.stderr)
    }

    /// WATCHDOG=1 is sent while pipelines make progress and withheld while one is stuck
    /// (the daemon's fault injection hangs camera "stuck"'s inference thread for 5 s).
    func testWatchdogStopsWhileAPipelineIsStuck() throws {
        let d = try DaemonProcess(cameras: """
            [[camera]]
            name = "stuck"
            images = "\(samples)"
            fps = 20
            [[camera]]
            name = "fine"
            images = "\(samples)"
            fps = 5
            """, environment: ["WATCHDOG_USEC": "2000000", "EFFNETD_TEST_HANG": "stuck:5"])
        try d.waitReady()
        // The hang starts right after the first prediction; pings stop once it passes 2 s.
        let early = d.notify.collect(timeout: 4.5)
        let late = d.notify.collect(timeout: 0.5)
        XCTAssertEqual(late.filter { $0.contains("WATCHDOG=1") }.count, 0, "no ping while stuck: \(late)")
        XCTAssertTrue((early + late).contains { $0.contains("STATUS=stuck: stuck") }, "\(early + late)")
        XCTAssertTrue(d.stderrShows("withholding the watchdog"), d.stderr)
        // After the hang the pipeline moves again, and so do the pings.
        let resumed = d.notify.collect(timeout: 4) { $0.contains("WATCHDOG=1") }
        XCTAssertTrue(resumed.contains { $0.contains("WATCHDOG=1") }, "pings resume once the pipeline moves: \(resumed)")
        XCTAssertTrue(d.stderrShows("progress again"), d.stderr)
        XCTAssertEqual(d.terminate().status, 0, d.stderr)
    }

    /// effctl's daemon commands against the real daemon.
    func testEffctlStatusWatchAndReload() throws {
        let d = try DaemonProcess(cameras: cameras((10, 5)))
        try d.waitReady()
        let watch = try runEffctl(["watch", "--socket", d.socketPath, "--count", "6", "--json", "--camera", "b"])
        XCTAssertEqual(watch.status, 0, watch.stderr)
        let lines = watch.stdout.split(separator: "\n")
        XCTAssertEqual(lines.count, 6, watch.stdout)
        var seqs: [UInt64] = []
        for l in lines {
            guard case .prediction(let p) = try ServerMessage.parse(Array(l.utf8)) else { return XCTFail("not a prediction: \(l)") }
            XCTAssertEqual(p.camera, "b")
            seqs.append(p.seq)
        }
        XCTAssertEqual(seqs, Array(seqs[0]..<(seqs[0] + 6)))
        let human = try runEffctl(["watch", "--socket", d.socketPath, "--count", "2"])
        XCTAssertEqual(human.status, 0, human.stderr)
        XCTAssertEqual(human.stdout.components(separatedBy: "#").count - 1, 2, human.stdout)

        let status = try runEffctl(["status", "--socket", d.socketPath, "--json"])
        XCTAssertEqual(status.status, 0, status.stderr)
        guard case .status(let st) = try ServerMessage.parse(Array(status.stdout.trimmingCharacters(in: .whitespacesAndNewlines).utf8)) else {
            return XCTFail(status.stdout)
        }
        XCTAssertEqual(st.cameras.map(\.name), ["a", "b"])
        XCTAssertEqual(st.pid, Int(d.process.processIdentifier))
        let table = try runEffctl(["status", "--socket", d.socketPath])
        XCTAssertEqual(table.status, 0, table.stderr)
        for word in ["efficientnet-lite0-int8.tflite", "streaming", "RGB3"] { XCTAssertTrue(table.stdout.contains(word), table.stdout) }

        let reload = try runEffctl(["reload", "--socket", d.socketPath], timeout: 90)
        XCTAssertEqual(reload.status, 0, reload.stderr)
        XCTAssertTrue(reload.stdout.contains("reloaded"), reload.stdout)
        try "[inference]\ntop_k = 0\n".write(toFile: d.configPath, atomically: true, encoding: .utf8)
        let rejected = try runEffctl(["reload", "--socket", d.socketPath], timeout: 90)
        XCTAssertEqual(rejected.status, 1)
        XCTAssertTrue(rejected.stderr.contains("top_k"), rejected.stderr)

        let missing = try runEffctl(["status", "--socket", d.dir.appendingPathComponent("none.sock").path])
        XCTAssertEqual(missing.status, 1)
        XCTAssertTrue(missing.stderr.contains("none.sock"), missing.stderr)
        XCTAssertEqual(d.terminate().status, 0, d.stderr)
    }

    /// Reload over the socket is refused to a user who is neither root nor the daemon's
    /// user (checked with SO_PEERCRED), even when the socket lets them connect.
    func testReloadRefusedToOtherUsers() throws {
        guard getuid() == 0 else { throw XCTSkip("needs root to run a client as another user") }
        let d = try DaemonProcess(cameras: cameras((5, 5)), extra: "[socket]\nmode = \"0666\"")
        try d.waitReady()
        chmod(d.dir.path, 0o755)
        let asNobody = try runCommand("/usr/bin/setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups",
                                                          productsDir.appendingPathComponent("effctl").path,
                                                          "reload", "--socket", d.socketPath])
        XCTAssertEqual(asNobody.status, 1, asNobody.stdout + asNobody.stderr)
        XCTAssertTrue(asNobody.stderr.contains("allowed only to root"), asNobody.stderr)
        let status = try runCommand("/usr/bin/setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups",
                                                        productsDir.appendingPathComponent("effctl").path,
                                                        "status", "--socket", d.socketPath, "--json"])
        XCTAssertEqual(status.status, 0, "status is for everyone who can connect: \(status.stderr)")
        XCTAssertTrue(d.stderrShows("reload refused"), d.stderr)
        XCTAssertEqual(d.terminate().status, 0, d.stderr)
    }

    /// What the daemon publishes for a picture is what `effctl classify` computes for the
    /// same file: same classes, same scores to the last bit (the file preprocessor against
    /// the camera-frame converter, the image source, the pipeline and the socket).
    func testPredictionsMatchEffctlClassify() throws {
        for image in ["chelsea.jpg", "coffee.jpg", "astronaut.png"] {
            let d = try DaemonProcess(cameras: "[[camera]]\nname = \"one\"\nimages = \"\(samples)/\(image)\"\nfps = 10")
            try d.waitReady()
            let c = try LineClient(path: d.socketPath)
            _ = try hello(c)
            _ = try subscribe(c, #"{"type":"subscribe","top_k":10}"#)
            let p = try c.readPrediction()
            XCTAssertEqual(d.terminate().status, 0, d.stderr)
            let out = try runEffctl(["classify", "--json", "--top", "10", "--model", "\(repoRoot.path)/models/efficientnet-lite0-int8.tflite",
                                     "--labels", "\(repoRoot.path)/models/imagenet-labels.txt", "\(samples)/\(image)"])
            XCTAssertEqual(out.status, 0, out.stderr)
            struct Classified: Decodable { var top: [TopClass] }
            let classified = try JSONDecoder().decode(Classified.self, from: Data(out.stdout.utf8))
            XCTAssertEqual(p.top, classified.top, image)
        }
    }

    /// Each camera's inference thread runs on the CPU the pool leaves to callers, and the
    /// pool's worker on the other: read back from the kernel (/proc/PID/task/*/status).
    func testInferenceThreadIsPinnedOffTheWorkersCPUs() throws {
        let allowed = cpuList(ownStatus: try String(contentsOfFile: "/proc/self/status", encoding: .utf8))
        guard allowed.count >= 2 else { throw XCTSkip("needs 2 CPUs, this process may use \(allowed)") }
        let d = try DaemonProcess(cameras: "[[camera]]\nname = \"pin\"\nimages = \"\(samples)/chelsea.jpg\"\nfps = 10")
        try d.waitReady()
        let c = try LineClient(path: d.socketPath)
        _ = try hello(c)
        _ = try subscribe(c, #"{"type":"subscribe"}"#)
        _ = try c.readPrediction() // the inference thread is running
        var byName: [String: [Int]] = [:]
        let tasks = "/proc/\(d.process.processIdentifier)/task"
        for tid in try FileManager.default.contentsOfDirectory(atPath: tasks) {
            guard let comm = try? String(contentsOfFile: "\(tasks)/\(tid)/comm", encoding: .utf8),
                  let status = try? String(contentsOfFile: "\(tasks)/\(tid)/status", encoding: .utf8) else { continue }
            byName[comm.trimmingCharacters(in: .whitespacesAndNewlines)] = cpuList(ownStatus: status)
        }
        XCTAssertEqual(d.terminate().status, 0, d.stderr)
        XCTAssertEqual(byName["infer pin"], [allowed[0]], "\(byName)")
        XCTAssertEqual(byName["effsched-0"], [allowed[1]], "\(byName)")
    }

    /// CPUs of a /proc status file's Cpus_allowed_list ("0-3,6").
    private func cpuList(ownStatus status: String) -> [Int] {
        guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix("Cpus_allowed_list:") }) else { return [] }
        return line.dropFirst("Cpus_allowed_list:".count).trimmingCharacters(in: .whitespaces).split(separator: ",").flatMap { part -> [Int] in
            let ends = part.split(separator: "-").compactMap { Int($0) }
            return ends.count == 2 ? Array(ends[0]...ends[1]) : ends
        }
    }

    func testBadConfigAtStartupExitsNonZeroNamingTheKey() throws {
        let d = try DaemonProcess(cameras: "[[camera]]\nname = \"x\"\nimages = \"/nonexistent/folder\"")
        d.process.waitUntilExit()
        XCTAssertEqual(d.process.terminationStatus, 1)
        XCTAssertTrue(d.stderrShows("/nonexistent/folder"), d.stderr)
        XCTAssertTrue(d.stderrShows(d.configPath), d.stderr)
    }

    func testSecondDaemonOnTheSameSocketIsRefused() throws {
        let d = try DaemonProcess(cameras: cameras((5, 5)))
        try d.waitReady()
        let p = Process()
        p.executableURL = productsDir.appendingPathComponent("effnetd")
        p.arguments = ["--config", d.configPath, "--socket", d.socketPath]
        let err = Pipe()
        p.standardError = err
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 1)
        let text = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        XCTAssertTrue(text.contains("already serving"), text)
        let c = try LineClient(path: d.socketPath)
        XCTAssertEqual(try hello(c).cameras, ["a", "b"], "the first daemon is undisturbed")
        XCTAssertEqual(d.terminate().status, 0, d.stderr)
    }
}
