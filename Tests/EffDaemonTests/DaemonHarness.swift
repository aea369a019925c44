import EffWire
import Foundation
import XCTest

/// The repository (for models/ and samples/).
let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

/// The folder the test binary was built into, which also holds `effnetd` and `effctl`.
let productsDir: URL = {
    let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    var url = URL(fileURLWithPath: exe)
    while url.path != "/" && !FileManager.default.fileExists(atPath: url.appendingPathComponent("effnetd").path) {
        url.deleteLastPathComponent()
    }
    return url
}()

struct HarnessError: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

/// A blocking client on a real Unix socket (what any subscriber does), with timeouts.
final class LineClient {
    let fd: Int32
    private var buffer: [UInt8] = []
    private(set) var closedByPeer = false

    init(path: String, receiveBuffer: Int? = nil) throws {
        fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw HarnessError("socket: \(errno)") }
        if let size = receiveBuffer {
            var v = Int32(size)
            setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &v, socklen_t(MemoryLayout<Int32>.size))
        }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &addr.sun_path) { $0.copyBytes(from: Array(path.utf8)) }
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard rc == 0 else {
            let e = errno
            close(fd)
            throw HarnessError("connect \(path): \(String(cString: strerror(e)))")
        }
    }

    deinit { close(fd) }

    func send(_ text: String) throws {
        let bytes = Array(text.utf8)
        var off = 0
        while off < bytes.count {
            let n = bytes[off...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n < 0 { throw HarnessError("send: \(String(cString: strerror(errno)))") }
            off += n
        }
    }

    /// The next line, or nil when the peer closed the connection. Throws on timeout.
    func readLine(timeout: Double = 10) throws -> String? {
        let deadline = Date(timeIntervalSinceNow: timeout)
        while true {
            if let nl = buffer.firstIndex(of: UInt8(ascii: "\n")) {
                let line = String(decoding: buffer[..<nl], as: UTF8.self)
                buffer.removeSubrange(...nl)
                return line
            }
            if closedByPeer { return nil }
            let left = deadline.timeIntervalSinceNow
            if left <= 0 { throw HarnessError("no line within \(timeout) s") }
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            if poll(&p, 1, Int32(left * 1000) + 1) <= 0 { continue }
            var chunk = [UInt8](repeating: 0, count: 65536)
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { closedByPeer = true } else { buffer += chunk[..<n] }
        }
    }

    func readMessage(timeout: Double = 10) throws -> ServerMessage? {
        guard let line = try readLine(timeout: timeout) else { return nil }
        return try ServerMessage.parse(Array(line.utf8))
    }

    /// Reads until a prediction arrives (skipping other messages).
    func readPrediction(timeout: Double = 10) throws -> Prediction {
        let deadline = Date(timeIntervalSinceNow: timeout)
        while true {
            guard let m = try readMessage(timeout: max(0.01, deadline.timeIntervalSinceNow)) else {
                throw HarnessError("connection closed while waiting for a prediction")
            }
            if case .prediction(let p) = m { return p }
            if case .error(let e) = m { throw HarnessError("server error: \(e.message)") }
        }
    }

    func request(_ line: String, timeout: Double = 10) throws -> ServerMessage {
        try send(line + "\n")
        while true {
            guard let m = try readMessage(timeout: timeout) else { throw HarnessError("closed before the reply") }
            if case .prediction = m { continue }
            return m
        }
    }
}

/// A datagram socket standing in for systemd's NOTIFY_SOCKET.
final class NotifyListener {
    let path: String
    let fd: Int32

    init(path: String) throws {
        self.path = path
        unlink(path)
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &addr.sun_path) { $0.copyBytes(from: Array(path.utf8)) }
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard rc == 0 else { throw HarnessError("bind \(path): \(String(cString: strerror(errno)))") }
    }

    deinit { close(fd); unlink(path) }

    /// Every message received until `until` returns true for one (that one included), or the timeout.
    func collect(timeout: Double, until: (String) -> Bool = { _ in false }) -> [String] {
        var out: [String] = []
        let deadline = Date(timeIntervalSinceNow: timeout)
        while deadline.timeIntervalSinceNow > 0 {
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&p, 1, Int32(deadline.timeIntervalSinceNow * 1000) + 1) > 0 else { continue }
            var buf = [UInt8](repeating: 0, count: 4096)
            let n = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            guard n > 0 else { continue }
            let msg = String(decoding: buf[..<n], as: UTF8.self)
            out.append(msg)
            if until(msg) { break }
        }
        return out
    }
}

/// The real `effnetd` binary, started on a config written to a temp folder.
final class DaemonProcess {
    let dir: URL
    let socketPath: String
    let configPath: String
    let process = Process()
    let notify: NotifyListener
    private let errPipe = Pipe()
    private let errLock = NSLock()
    private var errText = ""

    /// `cameras`: TOML for the [[camera]] tables; `extra`: more top-level tables; `launcher`:
    /// a program that sets something up and then execs effnetd (same pid), with its arguments.
    init(cameras: String, extra: String = "", environment: [String: String] = [:], launcher: [String] = []) throws {
        _ = Glibc.signal(SIGPIPE, SIG_IGN)  // a daemon that closes a connection must not kill the test run
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("effnetd-e2e-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        socketPath = dir.appendingPathComponent("d.sock").path
        configPath = dir.appendingPathComponent("effnetd.toml").path
        notify = try NotifyListener(path: dir.appendingPathComponent("notify").path)
        try Self.config(cameras: cameras, extra: extra).write(toFile: configPath, atomically: true, encoding: .utf8)
        let effnetd = productsDir.appendingPathComponent("effnetd")
        let arguments = ["--config", configPath, "--socket", socketPath]
        if let program = launcher.first {
            process.executableURL = URL(fileURLWithPath: program)
            process.arguments = launcher.dropFirst() + [effnetd.path] + arguments
        } else {
            process.executableURL = effnetd
            process.arguments = arguments
        }
        var env = ProcessInfo.processInfo.environment
        env["NOTIFY_SOCKET"] = notify.path
        env.removeValue(forKey: "JOURNAL_STREAM")
        env.removeValue(forKey: "WATCHDOG_USEC")
        for (k, v) in environment { env[k] = v }
        process.environment = env
        process.standardError = errPipe
        process.standardOutput = FileHandle.nullDevice
        errPipe.fileHandleForReading.readabilityHandler = { [weak self] h in
            let d = h.availableData
            guard let self, !d.isEmpty else { return }
            self.errLock.withLock { self.errText += String(decoding: d, as: UTF8.self) }
        }
        try process.run()
    }

    static func config(cameras: String, extra: String) -> String {
        """
        [model]
        path = "\(repoRoot.path)/models/efficientnet-lite0-int8.tflite"
        labels = "\(repoRoot.path)/models/imagenet-labels.txt"
        [inference]
        threads = 2
        \(extra)
        \(cameras)
        """
    }

    var stderr: String { errLock.withLock { errText } }

    /// Whether the daemon's stderr shows `text` within `timeout` seconds (log lines
    /// arrive through a pipe, a moment after the event they describe).
    func stderrShows(_ text: String, within timeout: Double = 3) -> Bool {
        let deadline = Date(timeIntervalSinceNow: timeout)
        while !stderr.contains(text) {
            if Date() > deadline { return false }
            usleep(20_000)
        }
        return true
    }

    /// Waits for READY=1 on the notify socket; returns every notify message seen.
    @discardableResult
    func waitReady(timeout: Double = 60) throws -> [String] {
        let msgs = notify.collect(timeout: timeout) { $0.contains("READY=1") }
        guard msgs.contains(where: { $0.contains("READY=1") }) else {
            throw HarnessError("effnetd did not report READY=1 within \(timeout) s; stderr:\n\(stderr)")
        }
        return msgs
    }

    func rewriteConfig(cameras: String, extra: String = "") throws {
        try Self.config(cameras: cameras, extra: extra).write(toFile: configPath, atomically: true, encoding: .utf8)
    }

    func signal(_ s: Int32) { kill(process.processIdentifier, s) }

    /// Resident memory in KiB (VmRSS).
    func residentKiB() -> Int {
        let text = (try? String(contentsOfFile: "/proc/\(process.processIdentifier)/status", encoding: .utf8)) ?? ""
        for line in text.split(separator: "\n") where line.hasPrefix("VmRSS:") {
            return Int(line.split(separator: " ").dropFirst().first ?? "0") ?? 0
        }
        return 0
    }

    /// SIGTERM, then waits up to `timeout`; returns the exit status and the seconds it took.
    func terminate(timeout: Double = 5) -> (status: Int32?, seconds: Double) {
        let start = Date()
        signal(SIGTERM)
        while process.isRunning && Date().timeIntervalSince(start) < timeout { usleep(10_000) }
        let took = Date().timeIntervalSince(start)
        if process.isRunning {
            signal(SIGKILL)
            process.waitUntilExit()
            return (nil, took)
        }
        return (process.terminationStatus, took)
    }

    deinit {
        if process.isRunning { signal(SIGKILL); process.waitUntilExit() }
        errPipe.fileHandleForReading.readabilityHandler = nil
        try? FileManager.default.removeItem(at: dir)
    }
}

/// Runs `effctl` with arguments; returns exit status and output.
func runEffctl(_ args: [String], timeout: Double = 30) throws -> (status: Int32, stdout: String, stderr: String) {
    try runCommand(productsDir.appendingPathComponent("effctl").path, args, timeout: timeout)
}

func runCommand(_ path: String, _ args: [String], timeout: Double = 30) throws -> (status: Int32, stdout: String, stderr: String) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: path)
    p.arguments = args
    let out = Pipe(), err = Pipe()
    p.standardOutput = out
    p.standardError = err
    try p.run()
    let deadline = Date(timeIntervalSinceNow: timeout)
    final class Box: @unchecked Sendable { var data = Data() }
    let outData = Box(), errData = Box()
    let group = DispatchGroup()
    group.enter()
    DispatchQueue.global().async { outData.data = out.fileHandleForReading.readDataToEndOfFile(); group.leave() }
    group.enter()
    DispatchQueue.global().async { errData.data = err.fileHandleForReading.readDataToEndOfFile(); group.leave() }
    while p.isRunning && Date() < deadline { usleep(10_000) }
    if p.isRunning { p.terminate() }
    p.waitUntilExit()
    group.wait()
    return (p.terminationStatus, String(decoding: outData.data, as: UTF8.self), String(decoding: errData.data, as: UTF8.self))
}
