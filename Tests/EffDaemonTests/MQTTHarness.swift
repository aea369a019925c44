import EffWire
import Foundation
import XCTest

/// Debian's mosquitto broker and clients (scripts/setup-debian --tests installs them).
enum MosquittoTools {
    static func find(_ name: String) throws -> String {
        for dir in ["/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin"] {
            let path = dir + "/" + name
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        throw HarnessError("\(name) not found: install mosquitto and mosquitto-clients (scripts/setup-debian --tests)")
    }
}

/// A TCP port on 127.0.0.1 that was free a moment ago.
func freeLoopbackPort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw HarnessError("socket: \(String(cString: strerror(errno)))") }
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    addr.sin_port = 0
    var len = socklen_t(MemoryLayout<sockaddr_in>.size)
    let ok = withUnsafeMutablePointer(to: &addr) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            bind(fd, $0, len) == 0 && getsockname(fd, $0, &len) == 0
        }
    }
    guard ok else { throw HarnessError("bind 127.0.0.1:0: \(String(cString: strerror(errno)))") }
    return Int(UInt16(bigEndian: addr.sin_port))
}

/// Whether something accepts TCP connections on 127.0.0.1:port.
func loopbackAccepts(_ port: Int) -> Bool {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return false }
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    addr.sin_port = UInt16(port).bigEndian
    return withUnsafePointer(to: &addr) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
    }
}

/// A CA and a server certificate for localhost / 127.0.0.1, made with openssl.
struct TestCertificates {
    let caCert: String
    let serverCert: String
    let serverKey: String

    /// `name` keeps two CAs in one folder apart.
    static func make(in dir: URL, name: String = "ca") throws -> TestCertificates {
        let openssl = try MosquittoTools.find("openssl")
        func path(_ f: String) -> String { dir.appendingPathComponent("\(name)-\(f)").path }
        func run(_ args: [String]) throws {
            let r = try runCommand(openssl, args, timeout: 60)
            guard r.status == 0 else { throw HarnessError("openssl \(args.joined(separator: " ")): \(r.stderr)") }
        }
        let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        try run(["req", "-x509"] + ec + ["-keyout", path("ca.key"), "-out", path("ca.crt"), "-days", "2",
                                          "-subj", "/CN=effnetd test CA \(name)"])
        try run(["req"] + ec + ["-keyout", path("server.key"), "-out", path("server.csr"), "-subj", "/CN=localhost"])
        try "subjectAltName=DNS:localhost,IP:127.0.0.1\n".write(toFile: path("ext"), atomically: true, encoding: .utf8)
        try run(["x509", "-req", "-in", path("server.csr"), "-CA", path("ca.crt"), "-CAkey", path("ca.key"),
                 "-CAcreateserial", "-out", path("server.crt"), "-days", "2", "-extfile", path("ext")])
        return TestCertificates(caCert: path("ca.crt"), serverCert: path("server.crt"), serverKey: path("server.key"))
    }
}

/// A mosquitto broker of the test's own on loopback: a free port, its own config, password
/// file and persistence folder. `tlsPort` (with `certificates`) adds a TLS listener; the
/// plain port stays open, anonymous, for the test's own subscribers.
final class MosquittoBroker {
    let dir: URL
    let port: Int
    let tlsPort: Int?
    private var process: Process?
    private let configPath: String

    /// `users`: name → password; with any, the plain listener of the daemon requires them
    /// (a second anonymous listener, `subscriberPort`, serves the test's subscribers).
    let subscriberPort: Int

    init(certificates: TestCertificates? = nil, users: [String: String] = [:]) throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("effnetd-mqtt-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        port = try freeLoopbackPort()
        tlsPort = certificates != nil ? try freeLoopbackPort() : nil
        subscriberPort = users.isEmpty ? port : try freeLoopbackPort()
        configPath = dir.appendingPathComponent("mosquitto.conf").path
        let me = String(cString: getpwuid(getuid())!.pointee.pw_name)
        var conf = """
            # Written by the effnetd tests.
            per_listener_settings true
            persistence true
            persistence_location \(dir.path)/
            log_dest file \(dir.path)/mosquitto.log
            log_type all
            # Run as the test's user (as root: stay root, so the files here stay readable).
            user \(me)

            """
        if users.isEmpty {
            conf += "listener \(port) 127.0.0.1\nallow_anonymous true\n"
        } else {
            let passwd = dir.appendingPathComponent("passwd").path
            _ = FileManager.default.createFile(atPath: passwd, contents: nil)
            let tool = try MosquittoTools.find("mosquitto_passwd")
            for (user, password) in users {
                let r = try runCommand(tool, ["-b", passwd, user, password])
                guard r.status == 0 else { throw HarnessError("mosquitto_passwd: \(r.stderr)") }
            }
            conf += "listener \(port) 127.0.0.1\nallow_anonymous false\npassword_file \(passwd)\n"
            conf += "listener \(subscriberPort) 127.0.0.1\nallow_anonymous true\n"
        }
        if let certificates, let tlsPort {
            conf += """
                listener \(tlsPort) 127.0.0.1
                allow_anonymous true
                cafile \(certificates.caCert)
                certfile \(certificates.serverCert)
                keyfile \(certificates.serverKey)

                """
        }
        try conf.write(toFile: configPath, atomically: true, encoding: .utf8)
        try start()
    }

    /// Starts mosquitto and waits until its listeners accept connections.
    func start() throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: try MosquittoTools.find("mosquitto"))
        p.arguments = ["-c", configPath]
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        process = p
        let deadline = Date(timeIntervalSinceNow: 15)
        let ports = [port, subscriberPort] + (tlsPort.map { [$0] } ?? [])
        while !ports.allSatisfy(loopbackAccepts) {
            guard p.isRunning, Date() < deadline else {
                throw HarnessError("mosquitto did not listen on \(ports) within 15 s; its log:\n\(log)")
            }
            usleep(20_000)
        }
    }

    /// Stops the broker with `signal` (SIGKILL: a crash, nothing saved) and waits for it.
    func stop(signal: Int32 = SIGTERM) {
        guard let p = process, p.isRunning else { return }
        kill(p.processIdentifier, signal)
        p.waitUntilExit()
        process = nil
    }

    var log: String { (try? String(contentsOfFile: dir.appendingPathComponent("mosquitto.log").path, encoding: .utf8)) ?? "" }

    deinit {
        stop(signal: SIGKILL)
        try? FileManager.default.removeItem(at: dir)
    }
}

/// One message as mosquitto_sub printed it.
struct MQTTMessage {
    var retained: Bool
    var topic: String
    var payload: String
    /// The payload as a socket-protocol message (predictions are the same JSON object).
    var prediction: Prediction? {
        if case .prediction(let p)? = try? ServerMessage.parse(Array(payload.utf8)) { return p }
        return nil
    }
    var json: [String: Any]? { (try? JSONSerialization.jsonObject(with: Data(payload.utf8))) as? [String: Any] }
}

/// `mosquitto_sub` on the broker's subscriber port, collecting every message of `topic`.
final class MQTTSubscriber {
    private let process = Process()
    private let out = Pipe()
    private let lock = NSLock()
    private var buffer = ""
    private var received: [MQTTMessage] = []

    init(port: Int, topic: String) throws {
        process.executableURL = URL(fileURLWithPath: try MosquittoTools.find("mosquitto_sub"))
        // Retain flag, topic, payload; one line per message (payloads here have no newline).
        process.arguments = ["-h", "127.0.0.1", "-p", "\(port)", "-q", "1", "-t", topic, "-F", "%r %t %p"]
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        out.fileHandleForReading.readabilityHandler = { [weak self] h in
            let d = h.availableData
            guard let self, !d.isEmpty else { return }
            self.lock.withLock {
                self.buffer += String(decoding: d, as: UTF8.self)
                while let nl = self.buffer.firstIndex(of: "\n") {
                    let line = String(self.buffer[..<nl])
                    self.buffer.removeSubrange(...nl)
                    let parts = line.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: false)
                    guard parts.count >= 2 else { continue }
                    self.received.append(MQTTMessage(retained: parts[0] == "1", topic: String(parts[1]),
                                                     payload: parts.count > 2 ? String(parts[2]) : ""))
                }
            }
        }
        try process.run()
        // mosquitto_sub has subscribed once the broker lists it; give it a moment.
        usleep(300_000)
    }

    var messages: [MQTTMessage] { lock.withLock { received } }

    /// Waits until `count` messages satisfy `matching`; returns the first `count` of them
    /// (fewer on timeout).
    @discardableResult
    func wait(for count: Int = 1, timeout: Double = 20, _ matching: (MQTTMessage) -> Bool) -> [MQTTMessage] {
        let deadline = Date(timeIntervalSinceNow: timeout)
        while true {
            let found = messages.filter(matching)
            if found.count >= count || Date() > deadline { return Array(found.prefix(count)) }
            usleep(20_000)
        }
    }

    deinit {
        out.fileHandleForReading.readabilityHandler = nil
        if process.isRunning { process.terminate(); process.waitUntilExit() }
    }
}

/// The retained message of `topic` right now, as a new subscriber gets it (nil: none).
func retainedMessage(port: Int, topic: String) throws -> String? {
    let r = try runCommand(try MosquittoTools.find("mosquitto_sub"),
                           ["-h", "127.0.0.1", "-p", "\(port)", "-t", topic, "-C", "1", "-W", "2", "--retained-only", "-F", "%p"],
                           timeout: 10)
    let text = r.stdout.trimmingCharacters(in: .newlines)
    return r.status == 0 && !text.isEmpty ? text : nil
}

/// The daemon's status over its socket.
func daemonStatus(_ d: DaemonProcess) throws -> Status {
    let c = try LineClient(path: d.socketPath)
    guard case .hello? = try c.readMessage() else { throw HarnessError("no hello") }
    guard case .status(let s) = try c.request(#"{"type":"status"}"#) else { throw HarnessError("no status reply") }
    return s
}

/// Polls the daemon's status until `condition` holds; the last status either way.
@discardableResult
func waitForStatus(_ d: DaemonProcess, timeout: Double = 20, _ condition: (Status) -> Bool) throws -> Status {
    let deadline = Date(timeIntervalSinceNow: timeout)
    while true {
        let s = try daemonStatus(d)
        if condition(s) || Date() > deadline { return s }
        usleep(100_000)
    }
}
