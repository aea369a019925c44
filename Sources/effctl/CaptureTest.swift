import ArgumentParser
import CEffKernels
import EffCapture
import Foundation

/// The capture tests that need a real V4L2 driver: run inside the vivid VM by
/// scripts/test-vm (Tests/vm/). Hidden from help.
struct CaptureTest: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "capture-test", abstract: "V4L2 capture tests against vivid (run by scripts/test-vm).", shouldDisplay: false)

    @Option(help: "Capture devices (vivid with n_devs=2 node_types=0x1,0x1).") var devices: [String] = ["/dev/video0", "/dev/video1"]
    @Option(help: "Sizes to capture.") var sizes: String = "640x480,1280x720"
    @Option(help: "Formats to capture.") var formats: String = "YUYV,NV12,YU12,RGB3,GREY"
    @Option(help: "Groups to run: formats, errors, disconnect, fatal, two.") var groups: String = "formats,errors,disconnect,fatal,two"

    final class Results {
        var passed = 0, failed = 0
        func check(_ name: String, _ ok: Bool, _ detail: @autoclosure () -> String = "") {
            if ok { passed += 1; print("ok \(name)") } else { failed += 1; print("FAIL \(name): \(detail())") }
            fflush(stdout)
        }
    }

    func run() throws {
        let r = Results()
        let g = Set(groups.split(separator: ",").map(String.init))
        if g.contains("formats") { testFormats(r) }
        if g.contains("errors") { testBufferErrors(r) }
        if g.contains("disconnect") { testLoss(r, control: "Disconnect", name: "disconnect") }
        if g.contains("fatal") { testLoss(r, control: "Inject Fatal Streaming Error", name: "fatal-error") }
        if g.contains("two") { testTwoCameras(r) }
        print("\(r.passed) passed, \(r.failed) failed")
        if r.failed > 0 { throw ExitCode.failure }
    }

    static func videoFds() -> Int {
        let fds = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
        return fds.filter { ((try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/\($0)")) ?? "").hasPrefix("/dev/video") }.count
    }

    static func videoMaps() -> Int {
        let maps = (try? String(contentsOfFile: "/proc/self/maps", encoding: .utf8)) ?? ""
        return maps.split(separator: "\n").filter { $0.contains("/dev/video") }.count
    }

    /// Waits for `n` frames (or `seconds`), handing each to `body`.
    @discardableResult
    static func frames(_ cam: V4L2Camera, _ n: Int, seconds: Double, _ body: (Frame) -> Void = { _ in }) -> Int {
        var got = 0
        let end = Date().addingTimeInterval(seconds)
        while got < n, Date() < end {
            if cam.next(timeout: 0.5, { f in got += 1; body(f) }) { continue }
        }
        return got
    }

    // MARK: formats: converter == scalar twin, and within ±1 of an independent float reference

    func testFormats(_ r: Results) {
        let conv = FrameConverter(width: 224, height: 224, scale: 0.0078125, zeroPoint: -1)
        let pre = Preprocessor(width: 224, height: 224, scale: 0.0078125, zeroPoint: -1)
        for s in sizes.split(separator: ",") {
            guard let (w, h) = try? parseSize(String(s)) else { r.check("size \(s)", false, "bad size"); continue }
            for fname in formats.split(separator: ",") {
                let name = "format \(fname) \(w)x\(h)"
                guard let pf = PixelFormat(name: String(fname)) else { r.check(name, false, "unknown format"); continue }
                var cfg = V4L2Camera.Config(device: devices[0], request: CaptureRequest(width: w, height: h, fps: w > 640 ? 10 : 25, format: pf))
                cfg.frameTimeout = 5
                let cam = V4L2Camera(cfg)
                var checked = 0, problems: [String] = []
                var sequences: [UInt64] = []
                let start = Date()
                let n = CaptureTest.frames(cam, 3, seconds: 20) { frame in
                    sequences.append(frame.sequence)
                    if frame.format != pf || frame.width != w || frame.height != h {
                        problems.append("got \(frame.format.fourccName) \(frame.width)x\(frame.height)")
                        return
                    }
                    guard let fast = try? conv.convert(frame) else { problems.append("convert failed"); return }
                    // The scalar twin, called directly.
                    var twin = [Int8](repeating: 0, count: fast.count)
                    if var f = FrameConverter.describe(frame) {
                        let c = conv.crop(width: w, height: h)
                        var table = [Int8](repeating: 0, count: 256)
                        effk_qs8_input_table(127, 128, 0.0078125, -1, &table)
                        var scratch = [UInt8](repeating: 0, count: effk_frame_to_qs8_scratch_size(Int32(c.w), Int32(c.h), 224, 224))
                        effk_frame_to_qs8__scalar(&f, Int32(c.x), Int32(c.y), Int32(c.w), Int32(c.h), table, &twin, nil, 224, 224, &scratch)
                    }
                    if twin != fast { problems.append("differs from the scalar twin") }
                    // Independent float conversion of the whole frame, then the Pillow-exact resize.
                    let ref = pre.run(CaptureTest.referenceRGB(frame))
                    let worst = zip(ref, fast).map { abs(Int($0) - Int($1)) }.max() ?? 99
                    if worst > 1 { problems.append("max |diff| vs float reference = \(worst)") }
                    // A test pattern, not a blank frame.
                    if Set(fast).count < 8 { problems.append("tensor nearly constant (\(Set(fast).count) values)") }
                    checked += 1
                }
                let secs = Date().timeIntervalSince(start)
                let fps = cam.choice?.interval?.fps ?? 0
                cam.close()
                let increasing = zip(sequences, sequences.dropFirst()).allSatisfy { $0 < $1 }
                r.check(name, n == 3 && checked == 3 && problems.isEmpty && increasing,
                        "frames \(n), checked \(checked), sequences \(sequences), state \(cam.state): \(problems.joined(separator: "; "))")
                print(String(format: "   %@: %d frames in %.1f s, negotiated %.3g fps, errors %d", name, n, secs, fps, cam.counters.errors))
            }
        }
    }

    /// Y'CbCr → RGB in double precision with the textbook coefficients, reading the frame's
    /// layout independently of effk_frame.
    static func referenceRGB(_ f: Frame) -> RGBImage {
        let w = f.width, h = f.height, bpl = f.bytesPerLine
        let b = f.bytes.bindMemory(to: UInt8.self)
        var px = [UInt8](repeating: 0, count: w * h * 3)
        let (kr, kb) = f.color.matrix == .bt709 ? (0.2126, 0.0722) : (0.299, 0.114)
        let kg = 1 - kr - kb
        let full = f.color.fullRange
        func rgb(_ y: Int, _ u: Int, _ v: Int) -> (UInt8, UInt8, UInt8) {
            let yy = full ? Double(y) : (Double(y) - 16) * 255 / 219
            let cb = (Double(u) - 128) * (full ? 1 : 255.0 / 224), cr = (Double(v) - 128) * (full ? 1 : 255.0 / 224)
            let R = yy + 2 * (1 - kr) * cr
            let B = yy + 2 * (1 - kb) * cb
            let G = (yy - kr * R - kb * B) / kg
            func c(_ x: Double) -> UInt8 { UInt8(max(0, min(255, x.rounded()))) }
            return (c(R), c(G), c(B))
        }
        for y in 0..<h {
            for x in 0..<w {
                let o = (y * w + x) * 3
                var p: (UInt8, UInt8, UInt8)
                switch f.format {
                case .rgb24: p = (b[y * bpl + 3 * x], b[y * bpl + 3 * x + 1], b[y * bpl + 3 * x + 2])
                case .bgr24: p = (b[y * bpl + 3 * x + 2], b[y * bpl + 3 * x + 1], b[y * bpl + 3 * x])
                case .grey: let g = b[y * bpl + x]; p = (g, g, g)
                case .yuyv, .uyvy:
                    let pair = y * bpl + (x / 2) * 4
                    let yo = f.format == .yuyv ? 0 : 1
                    let yv = Int(b[pair + (x % 2) * 2 + yo])
                    let (u, v) = f.format == .yuyv ? (Int(b[pair + 1]), Int(b[pair + 3])) : (Int(b[pair]), Int(b[pair + 2]))
                    p = rgb(yv, u, v)
                case .nv12, .nv21:
                    let uv = bpl * h + (y / 2) * bpl + (x / 2) * 2
                    let (u, v) = f.format == .nv12 ? (Int(b[uv]), Int(b[uv + 1])) : (Int(b[uv + 1]), Int(b[uv]))
                    p = rgb(Int(b[y * bpl + x]), u, v)
                case .yu12, .yv12:
                    let cs = bpl / 2, first = bpl * h, second = first + cs * ((h + 1) / 2)
                    let i = (y / 2) * cs + x / 2
                    let (u, v) = f.format == .yu12 ? (Int(b[first + i]), Int(b[second + i])) : (Int(b[second + i]), Int(b[first + i]))
                    p = rgb(Int(b[y * bpl + x]), u, v)
                case .mjpeg: p = (0, 0, 0)
                }
                px[o] = p.0; px[o + 1] = p.1; px[o + 2] = p.2
            }
        }
        return RGBImage(width: w, height: h, pixels: px)
    }

    // MARK: failures

    func testBufferErrors(_ r: Results) {
        let cam = V4L2Camera(V4L2Camera.Config(device: devices[0], request: CaptureRequest(width: 640, height: 480, fps: 25, format: .yuyv)))
        defer { cam.close() }
        let before = CaptureTest.frames(cam, 3, seconds: 10)
        var setOK = true
        for _ in 0..<3 {
            do { try V4L2Camera.setControl(device: devices[0], name: "Inject V4L2_BUF_FLAG_ERROR", value: 1) } catch { setOK = false; print("   \(error)") }
            CaptureTest.frames(cam, 2, seconds: 5)
        }
        let after = CaptureTest.frames(cam, 3, seconds: 10)
        r.check("buffer flag error skipped and counted", setOK && before == 3 && after == 3 && cam.counters.errors >= 1 && cam.state == .streaming,
                "frames before \(before) after \(after), counters \(cam.counters), state \(cam.state)")
    }

    func testLoss(_ r: Results, control: String, name: String) {
        let fd0 = CaptureTest.videoFds(), maps0 = CaptureTest.videoMaps()
        var cfg = V4L2Camera.Config(device: devices[0], request: CaptureRequest(width: 640, height: 480, fps: 25, format: .yuyv))
        cfg.maxBackoff = 0.5
        let cam = V4L2Camera(cfg)
        var log: [String] = []
        cam.log = { log.append($0) }
        let first = CaptureTest.frames(cam, 3, seconds: 10)
        let fdOpen = CaptureTest.videoFds(), mapsOpen = CaptureTest.videoMaps()
        var setError = ""
        do { try V4L2Camera.setControl(device: devices[0], name: control, value: 1) } catch { setError = "\(error)" }
        // Until the source reports the loss.
        let end = Date().addingTimeInterval(10)
        var lostSeen = false, fdLost = -1, mapsLost = -1
        while Date() < end {
            _ = cam.next(timeout: 0.2) { _ in }
            if case .waitingForDevice = cam.state { lostSeen = true; fdLost = CaptureTest.videoFds(); mapsLost = CaptureTest.videoMaps(); break }
        }
        let again = CaptureTest.frames(cam, 5, seconds: 20)
        let counters = cam.counters
        cam.close()
        let fdEnd = CaptureTest.videoFds(), mapsEnd = CaptureTest.videoMaps()
        let detail = "set \(setError.isEmpty ? "ok" : setError); frames \(first) then \(again); fds \(fd0)/\(fdOpen)/\(fdLost)/\(fdEnd), maps \(maps0)/\(mapsOpen)/\(mapsLost)/\(mapsEnd); counters \(counters); log \(log)"
        r.check("\(name): loss reported", setError.isEmpty && first == 3 && lostSeen && counters.disconnects >= 1, detail)
        r.check("\(name): nothing held while lost", fdOpen == fd0 + 1 && mapsOpen >= 4 && fdLost == fd0 && mapsLost == maps0, detail)
        r.check("\(name): frames flow again", again == 5 && counters.restarts >= 1, detail)
        r.check("\(name): no fd or mapping leaked", fdEnd == fd0 && mapsEnd == maps0, detail)
        print("   \(name): \(detail)")
    }

    func testTwoCameras(_ r: Results) {
        guard devices.count >= 2 else { r.check("two cameras", false, "needs two devices"); return }
        final class Count: @unchecked Sendable { let lock = NSLock(); var n = 0 }
        var threads: [CaptureThread] = []
        var counts: [Count] = []
        for (i, d) in devices.prefix(2).enumerated() {
            let c = Count()
            counts.append(c)
            let cam = V4L2Camera(V4L2Camera.Config(device: d, request: CaptureRequest(width: 640, height: 360, fps: 30, format: i == 0 ? .yuyv : .nv12)))
            let conv = FrameConverter(width: 224, height: 224, scale: 0.0078125, zeroPoint: -1)
            let t = CaptureThread(source: cam) { frame in
                _ = try? conv.convert(frame)
                c.lock.withLock { c.n += 1 }
            }
            threads.append(t)
        }
        threads.forEach { $0.start() }
        Thread.sleep(forTimeInterval: 4)
        threads.forEach { $0.stop() }
        let n = counts.map { c in c.lock.withLock { c.n } }
        r.check("two cameras stream concurrently", n.allSatisfy { $0 >= 10 } && CaptureTest.videoFds() == 0 && CaptureTest.videoMaps() == 0,
                "frames \(n), fds \(CaptureTest.videoFds()), maps \(CaptureTest.videoMaps())")
        print("   two cameras: frames in 4 s: \(n)")
    }
}
