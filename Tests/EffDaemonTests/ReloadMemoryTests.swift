import EffWire
import Foundation
import XCTest

/// A daemon that lives for months must come back to the same memory after any amount of
/// reloading: the real effnetd, reloaded 30 times (good configs, a bad config, a bad model)
/// with 100 client connections in between, against its own state after a warm-up.
final class ReloadMemoryTests: XCTestCase {
    let samples = repoRoot.appendingPathComponent("samples").path

    /// Resident memory may differ by this much from the warm value. One reload replaces about
    /// 10 MB of plan, arenas, frame slots and decoded images (two cameras); before the heap
    /// policy every reload kept 1.5–4 MB of it, so 30 reloads grew by 45 MB and more. 8 MiB
    /// leaves room for allocator noise and is far below what any per-reload leak adds up to.
    static let rssSlackKiB = 8 * 1024

    func testThirtyReloadsAndAHundredClientsGiveTheirMemoryBack() throws {
        try XCTSkipIf(dlsym(nil, "__tsan_init") != nil,
                      "ThreadSanitizer replaces malloc and shadows memory: resident size says nothing here")
        let d = try DaemonProcess(cameras: cameras(first: "b", fps: 15))
        try d.waitReady()
        let truncatedModel = d.dir.appendingPathComponent("truncated.tflite")
        let model = try Data(contentsOf: repoRoot.appendingPathComponent("models/efficientnet-lite0-int8.tflite"))
        try model.prefix(model.count / 3).write(to: truncatedModel)

        // Each round: a good config (alternating camera sets), then every fifth round a bad
        // config and every seventh a bad model, then five clients: four subscribe, read a
        // prediction and go, one asks for the status.
        var clients = 0
        let warmRounds = 6
        func round(_ i: Int) throws {
            try d.rewriteConfig(cameras: cameras(first: i % 2 == 0 ? "b" : "c", fps: i % 2 == 0 ? 15 : 12),
                                extra: i % 2 == 0 ? "" : "top_k = 3")
            try expectReload(d, ok: true)
            if i % 5 == 0 {
                try "[model]\npth = \"x\"\n".write(toFile: d.configPath, atomically: true, encoding: .utf8)
                try expectReload(d, ok: false)
            }
            if i % 7 == 0 {
                let bad = DaemonProcess.config(cameras: cameras(first: "b", fps: 15), extra: "")
                    .replacingOccurrences(of: repoRoot.appendingPathComponent("models/efficientnet-lite0-int8.tflite").path,
                                          with: truncatedModel.path)
                try bad.write(toFile: d.configPath, atomically: true, encoding: .utf8)
                try expectReload(d, ok: false)
            }
            for k in 0..<5 {
                let c = try LineClient(path: d.socketPath)
                guard case .hello = try c.readMessage() else { throw HarnessError("no hello") }
                if k == 4 {
                    guard case .status = try c.request(#"{"type":"status"}"#) else { throw HarnessError("no status") }
                } else {
                    guard case .subscribed = try c.request(#"{"type":"subscribe"}"#) else { throw HarnessError("no subscribed") }
                    _ = try c.readPrediction()
                }
                clients += 1
            }
        }

        for i in 0..<warmRounds { try round(i) }
        let warm = settledSample(d)
        let warmClients = clients
        var reloads = 0
        var i = warmRounds
        while reloads < 30 {
            try round(i)
            reloads += 1 + (i % 5 == 0 ? 1 : 0) + (i % 7 == 0 ? 1 : 0)
            i += 1
        }
        let end = settledSample(d)
        let info = "warm \(warm), after \(reloads) more reloads and \(clients - warmClients) clients \(end)"
        print("reload memory: \(info)")
        XCTAssertGreaterThanOrEqual(clients - warmClients, 100, info)
        XCTAssertLessThan(end.rssKiB - warm.rssKiB, Self.rssSlackKiB, "resident memory grew: \(info)")
        XCTAssertLessThanOrEqual(end.fds, warm.fds, "open files grew: \(info)")
        XCTAssertLessThanOrEqual(end.threads, warm.threads, "threads grew: \(info)")

        // And it still works.
        let sub = try LineClient(path: d.socketPath)
        guard case .hello = try sub.readMessage() else { throw HarnessError("no hello") }
        guard case .subscribed = try sub.request(#"{"type":"subscribe"}"#) else { throw HarnessError("no subscribed") }
        _ = try sub.readPrediction()
        XCTAssertEqual(d.terminate().status, 0, d.stderr)
    }

    func cameras(first: String, fps: Double) -> String {
        """
        [[camera]]
        name = "a"
        images = "\(samples)"
        fps = 15
        [[camera]]
        name = "\(first)"
        images = "\(samples)"
        fps = \(fps)
        """
    }

    /// Reloads over the socket (the reply comes once the reload is done) and checks its outcome.
    func expectReload(_ d: DaemonProcess, ok: Bool) throws {
        // Read what the daemon told "systemd" so far: a full notify socket would block it.
        _ = d.notify.collect(timeout: 0.05)
        let c = try LineClient(path: d.socketPath)
        guard case .hello = try c.readMessage() else { throw HarnessError("no hello") }
        let reply: ServerMessage
        do { reply = try c.request(#"{"type":"reload"}"#, timeout: 120) } catch {
            throw HarnessError("reload: \(error); effnetd's stderr:\n\(d.stderr.suffix(3000))")
        }
        guard case .reloaded(let r) = reply else { throw HarnessError("no reloaded reply: \(reply)") }
        XCTAssertEqual(r.ok, ok, r.message)
    }

    struct Sample: CustomStringConvertible {
        var rssKiB: Int, fds: Int, threads: Int
        var description: String { "RSS \(rssKiB) KiB, \(fds) fds, \(threads) threads of its own" }
    }

    /// The process's resources once a just-finished reload has settled: the lowest of a few
    /// readings over two seconds (a reading can catch a log line or a client mid-flight).
    func settledSample(_ d: DaemonProcess) -> Sample {
        var best = Sample(rssKiB: .max, fds: .max, threads: .max)
        for _ in 0..<8 {
            usleep(250_000)
            best.rssKiB = min(best.rssKiB, d.residentKiB())
            best.fds = min(best.fds, entries("/proc/\(d.process.processIdentifier)/fd"))
            best.threads = min(best.threads, ownThreads(d.process.processIdentifier))
        }
        return best
    }

    func entries(_ dir: String) -> Int { (try? FileManager.default.contentsOfDirectory(atPath: dir).count) ?? 0 }

    /// The daemon's own threads (main, socket loop, capture, inference, pool workers), not
    /// libdispatch's worker pool ("…qos…"), which the runtime grows and reaps with demand.
    func ownThreads(_ pid: Int32) -> Int {
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? []
        return tasks.filter { t in
            guard let comm = try? String(contentsOfFile: "/proc/\(pid)/task/\(t)/comm", encoding: .utf8) else { return false }
            return !comm.contains("qos")
        }.count
    }
}
