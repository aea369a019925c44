import CSystemd
@testable import EffDaemon
import Foundation
import Logging
import XCTest

#if canImport(Glibc)
import Glibc
#endif

final class SystemdTests: XCTestCase {
    // MARK: sd_notify

    func testNotifyDatagramsOnPathSocket() throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/notify.sock"
        let fd = try bindDatagram(path: path)
        defer { close(fd) }

        try withEnvironment(["NOTIFY_SOCKET": path, "WATCHDOG_USEC": nil, "WATCHDOG_PID": nil]) {
            let n = SystemdNotifier()
            XCTAssertTrue(n.isEnabled)
            XCTAssertEqual(n.socketPath, path)
            XCTAssertNil(n.watchdogInterval)

            XCTAssertTrue(n.ready(status: "serving 2 cameras"))
            XCTAssertEqual(try receiveString(fd), "READY=1\nSTATUS=serving 2 cameras")
            XCTAssertTrue(n.ready())
            XCTAssertEqual(try receiveString(fd), "READY=1")
            XCTAssertTrue(n.status("camera front: no frames\nfor 5 s"))
            XCTAssertEqual(try receiveString(fd), "STATUS=camera front: no frames for 5 s")
            XCTAssertTrue(n.watchdog())
            XCTAssertEqual(try receiveString(fd), "WATCHDOG=1")

            let before = SystemdNotifier.monotonicMicroseconds()
            XCTAssertTrue(n.reloading())
            let reload = try receiveString(fd)
            let after = SystemdNotifier.monotonicMicroseconds()
            let prefix = "RELOADING=1\nMONOTONIC_USEC="
            XCTAssertTrue(reload.hasPrefix(prefix), reload)
            let usec = UInt64(reload.dropFirst(prefix.count))
            XCTAssertNotNil(usec, reload)
            if let usec { XCTAssertTrue(before <= usec && usec <= after, "\(before) \(usec) \(after)") }

            XCTAssertTrue(n.readyAfterReload(status: "reloaded"))
            XCTAssertEqual(try receiveString(fd), "READY=1\nSTATUS=reloaded")
            XCTAssertTrue(n.stopping())
            XCTAssertEqual(try receiveString(fd), "STOPPING=1")
        }
    }

    func testNotifyAbstractSocket() throws {
        let name = "effnetd-test-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let fd = try bindDatagram(abstractName: name)
        defer { close(fd) }
        try withEnvironment(["NOTIFY_SOCKET": "@" + name]) {
            let n = SystemdNotifier()
            XCTAssertTrue(n.ready(status: "abstract"))
            XCTAssertEqual(try receiveString(fd), "READY=1\nSTATUS=abstract")
            XCTAssertTrue(n.watchdog())
            XCTAssertEqual(try receiveString(fd), "WATCHDOG=1")
        }
    }

    func testNotifyWithoutSocketDoesNothing() throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // A socket path nobody listens on: every call returns false, none crashes.
        try withEnvironment(["NOTIFY_SOCKET": dir + "/missing.sock"]) {
            let n = SystemdNotifier()
            XCTAssertTrue(n.isEnabled)
            XCTAssertFalse(n.ready(status: "x"))
            XCTAssertFalse(n.status("x"))
            XCTAssertFalse(n.reloading())
            XCTAssertFalse(n.readyAfterReload())
            XCTAssertFalse(n.watchdog())
            XCTAssertFalse(n.stopping())
        }
        // No NOTIFY_SOCKET at all.
        try withEnvironment(["NOTIFY_SOCKET": nil]) {
            let n = SystemdNotifier()
            XCTAssertFalse(n.isEnabled)
            XCTAssertFalse(n.ready())
            XCTAssertFalse(n.watchdog())
            XCTAssertNil(n.watchdogInterval)
        }
        let off = SystemdNotifier(environment: [:])
        XCTAssertFalse(off.isEnabled)
        XCTAssertFalse(off.stopping())
    }

    func testWatchdogInterval() throws {
        let notify: [String: String?] = ["NOTIFY_SOCKET": "/run/effnetd-test-none/notify"]
        try withEnvironment(notify.merging(["WATCHDOG_USEC": "30000000", "WATCHDOG_PID": String(getpid())]) { $1 }) {
            XCTAssertEqual(SystemdNotifier().watchdogInterval, 30)
        }
        try withEnvironment(notify.merging(["WATCHDOG_USEC": "2500000", "WATCHDOG_PID": nil]) { $1 }) {
            XCTAssertEqual(SystemdNotifier().watchdogInterval, 2.5)
        }
        // Meant for another process (a parent that passed its environment on).
        try withEnvironment(notify.merging(["WATCHDOG_USEC": "30000000", "WATCHDOG_PID": String(getpid() + 1)]) { $1 }) {
            XCTAssertNil(SystemdNotifier().watchdogInterval)
        }
        try withEnvironment(notify.merging(["WATCHDOG_USEC": "soon", "WATCHDOG_PID": String(getpid())]) { $1 }) {
            XCTAssertNil(SystemdNotifier().watchdogInterval)
        }
        try withEnvironment(notify.merging(["WATCHDOG_USEC": nil, "WATCHDOG_PID": String(getpid())]) { $1 }) {
            XCTAssertNil(SystemdNotifier().watchdogInterval)
        }
        // No notification socket: nobody to ping.
        try withEnvironment(["NOTIFY_SOCKET": nil, "WATCHDOG_USEC": "30000000", "WATCHDOG_PID": String(getpid())]) {
            XCTAssertNil(SystemdNotifier().watchdogInterval)
        }
    }

    // MARK: journald

    func testJournalFieldNames() {
        XCTAssertEqual(JournalLogHandler.fieldName(forMetadataKey: "camera"), "EFFNETD_CAMERA")
        XCTAssertEqual(JournalLogHandler.fieldName(forMetadataKey: "model"), "EFFNETD_MODEL")
        XCTAssertEqual(JournalLogHandler.fieldName(forMetadataKey: "error.message"), "EFFNETD_ERROR_MESSAGE")
        XCTAssertEqual(JournalLogHandler.fieldName(forMetadataKey: "fps-In_2"), "EFFNETD_FPS_IN_2")
        XCTAssertEqual(JournalLogHandler.fieldName(forMetadataKey: "kamera·ü"), "EFFNETD_KAMERA__")
        XCTAssertEqual(JournalLogHandler.fieldName(forMetadataKey: String(repeating: "k", count: 100)).utf8.count, 64)
        let levels: [(Logger.Level, Int)] = [(.trace, 7), (.debug, 7), (.info, 6), (.notice, 5), (.warning, 4), (.error, 3), (.critical, 2)]
        for (level, prio) in levels { XCTAssertEqual(JournalLogHandler.priority(level), prio, "\(level)") }
    }

    /// The iovecs handed to sd_journal_sendv, without a socket.
    func testJournalEntryFields() {
        let fields: [String] = JournalLogHandler.withEntry(
            level: .warning, message: "two\nlines", metadata: ["camera": "front", "model": "lite0", "fps": .stringConvertible(15)],
            identifier: "effnetd", file: "EffDaemon/Pipeline.swift", function: "run()", line: 42
        ) { iov in
            iov.map { String(decoding: UnsafeRawBufferPointer(start: $0.iov_base, count: $0.iov_len), as: UTF8.self) }
        }
        XCTAssertEqual(Array(fields.prefix(6)), [
            "MESSAGE=two\nlines", "PRIORITY=4", "CODE_FILE=EffDaemon/Pipeline.swift", "CODE_LINE=42",
            "CODE_FUNC=run()", "SYSLOG_IDENTIFIER=effnetd",
        ])
        XCTAssertEqual(Set(fields.dropFirst(6)), ["EFFNETD_CAMERA=front", "EFFNETD_MODEL=lite0", "EFFNETD_FPS=15"])
    }

    /// A real round trip through libsystemd: a datagram socket bound where journald listens,
    /// and systemd's native protocol parsed from what arrives.
    func testJournalDatagram() throws {
        let journalDir = "/run/systemd/journal"
        let socketPath = journalDir + "/socket"
        if FileManager.default.fileExists(atPath: socketPath) {
            throw XCTSkip("\(socketPath) exists (a running journald, or another test run): not replacing it")
        }
        // Create what is missing of /run/systemd/journal, and remove exactly that afterwards.
        var created: [String] = []
        defer {
            for dir in created.reversed() { rmdir(dir) }
        }
        for dir in ["/run/systemd", journalDir] where !FileManager.default.fileExists(atPath: dir) {
            guard mkdir(dir, 0o755) == 0 else {
                throw XCTSkip("cannot create \(dir) (errno \(errno)): needs root when journald is not running")
            }
            created.append(dir)
        }

        // libsystemd keeps one unconnected socket per process and sendmsg()s to the path, so a
        // send before the socket exists is dropped (libsystemd returns 0 for ENOENT: "journal not
        // available") and one after binding, through the same cached fd, reaches it.
        let early = JournalLogHandler.withEntry(
            level: .info, message: "nobody listens", metadata: [:], identifier: "effnetd-test",
            file: #fileID, function: #function, line: #line
        ) { sd_journal_sendv($0.baseAddress, Int32($0.count)) }
        XCTAssertEqual(early, 0)

        let fd: Int32
        do {
            fd = try bindDatagram(path: socketPath)
        } catch {
            throw XCTSkip("cannot bind \(socketPath): \(error)")
        }
        defer {
            close(fd)
            unlink(socketPath)
        }
        // Other processes on this machine may log while the socket exists; find ours by a marker.
        let marker = UUID().uuidString
        var logger = Logger(label: "effnetd.test") { JournalLogHandler(label: $0, level: SharedLogLevel(.info)) }
        logger[metadataKey: "camera"] = "front"
        let line: UInt = #line + 1
        logger.warning("frame late\nby 40 ms", metadata: ["model": "lite0", "test-marker": .string(marker)])

        var entry: (raw: [UInt8], fields: [String: [UInt8]])?
        let deadline = Date().addingTimeInterval(5)
        while entry == nil, Date() < deadline {
            let datagram = try receive(fd)
            let fields = try parseNativeJournal(datagram)
            if fields["EFFNETD_TEST_MARKER"].map({ String(decoding: $0, as: UTF8.self) }) == marker { entry = (datagram, fields) }
        }
        let (raw, fields) = try XCTUnwrap(entry, "no datagram with our marker arrived")
        // The message holds a newline, so it travels in the binary-safe form.
        XCTAssertTrue(raw.starts(with: Array("MESSAGE\n".utf8)), String(decoding: raw.prefix(40), as: UTF8.self))
        func text(_ key: String) -> String? { fields[key].map { String(decoding: $0, as: UTF8.self) } }
        XCTAssertEqual(text("MESSAGE"), "frame late\nby 40 ms")
        XCTAssertEqual(text("PRIORITY"), "4")
        XCTAssertEqual(text("CODE_FILE"), #fileID)
        XCTAssertEqual(text("CODE_LINE"), String(line))
        XCTAssertEqual(text("CODE_FUNC"), #function)
        XCTAssertEqual(text("SYSLOG_IDENTIFIER"), "effnetd")
        XCTAssertEqual(text("EFFNETD_CAMERA"), "front")
        XCTAssertEqual(text("EFFNETD_MODEL"), "lite0")
    }

    // MARK: DaemonLogging

    func testJournalStreamRule() throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let fd = open(dir + "/stream", O_CREAT | O_RDWR, 0o600)
        XCTAssertGreaterThanOrEqual(fd, 0)
        defer { close(fd) }
        var st = stat()
        XCTAssertEqual(fstat(fd, &st), 0)
        let devIno = "\(st.st_dev):\(st.st_ino)"
        XCTAssertTrue(DaemonLogging.journalStreamMatches(devIno, fileDescriptor: fd))
        XCTAssertFalse(DaemonLogging.journalStreamMatches(nil, fileDescriptor: fd))
        XCTAssertFalse(DaemonLogging.journalStreamMatches("\(st.st_dev):\(st.st_ino + 1)", fileDescriptor: fd))
        XCTAssertFalse(DaemonLogging.journalStreamMatches("\(st.st_dev + 1):\(st.st_ino)", fileDescriptor: fd))
        XCTAssertFalse(DaemonLogging.journalStreamMatches("\(st.st_ino)", fileDescriptor: fd))
        XCTAssertFalse(DaemonLogging.journalStreamMatches("x:y", fileDescriptor: fd))
        XCTAssertFalse(DaemonLogging.journalStreamMatches(devIno + ":1", fileDescriptor: fd))
        XCTAssertFalse(DaemonLogging.journalStreamMatches(devIno, fileDescriptor: -1))

        // The process's own stderr, through the environment.
        var err = stat()
        XCTAssertEqual(fstat(STDERR_FILENO, &err), 0)
        try withEnvironment(["JOURNAL_STREAM": "\(err.st_dev):\(err.st_ino)"]) {
            XCTAssertTrue(DaemonLogging.usesJournal)
        }
        try withEnvironment(["JOURNAL_STREAM": nil]) {
            XCTAssertFalse(DaemonLogging.usesJournal)
        }
        try withEnvironment(["JOURNAL_STREAM": "\(err.st_dev):\(err.st_ino &+ 1)"]) {
            XCTAssertFalse(DaemonLogging.usesJournal)
        }
        try withEnvironment(["JOURNAL_STREAM": ""]) {
            XCTAssertFalse(DaemonLogging.usesJournal)
        }
    }

    func testSharedLevelAndStderrFormat() {
        let shared = SharedLogLevel(.info)
        var journal = JournalLogHandler(label: "t", level: shared)
        let stderr = StderrLogHandler(label: "t", level: shared)
        XCTAssertEqual(journal.logLevel, .info)
        shared.level = .debug // a config reload
        XCTAssertEqual(journal.logLevel, .debug)
        XCTAssertEqual(stderr.logLevel, .debug)
        journal.logLevel = .error // one logger's own choice wins over the shared level
        shared.level = .trace
        XCTAssertEqual(journal.logLevel, .error)
        XCTAssertEqual(stderr.logLevel, .trace)

        XCTAssertEqual(
            StderrLogHandler.format(level: .warning, message: "late", metadata: ["model": "lite0", "camera": "front"]),
            "warning [camera=front model=lite0] late\n"
        )
        XCTAssertEqual(StderrLogHandler.format(level: .info, message: "up", metadata: [:]), "info up\n")
    }

    // MARK: helpers

    private func makeTempDir() throws -> String {
        var template = Array((NSTemporaryDirectory() + "/effnetd-systemd-XXXXXX").utf8CString)
        guard let p = mkdtemp(&template) else { throw POSIXError(.init(rawValue: errno) ?? .EIO) }
        return String(cString: p)
    }

    /// Sets (or, for nil, unsets) variables in the process environment for `body`, then restores them.
    private func withEnvironment(_ vars: [String: String?], _ body: () throws -> Void) throws {
        var saved: [String: String?] = [:]
        for (k, v) in vars {
            saved[k] = getenv(k).map { String(cString: $0) }
            if let v { setenv(k, v, 1) } else { unsetenv(k) }
        }
        defer {
            for (k, v) in saved {
                if let v { setenv(k, v, 1) } else { unsetenv(k) }
            }
        }
        try body()
    }

    private func bindDatagram(path: String) throws -> Int32 {
        var bytes = Array(path.utf8)
        bytes.append(0)
        return try bindDatagram(sunPath: bytes, length: 2 + bytes.count)
    }

    /// Abstract namespace: sun_path starts with NUL and the name runs to the address length.
    private func bindDatagram(abstractName: String) throws -> Int32 {
        let bytes = [0] + Array(abstractName.utf8)
        return try bindDatagram(sunPath: bytes, length: 2 + bytes.count)
    }

    private func bindDatagram(sunPath: [UInt8], length: Int) throws -> Int32 {
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        guard sunPath.count <= MemoryLayout.size(ofValue: addr.sun_path) else { throw POSIXError(.ENAMETOOLONG) }
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            raw.copyBytes(from: sunPath)
        }
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw POSIXError(.init(rawValue: errno) ?? .EIO) }
        let r = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(length)) }
        }
        guard r == 0 else {
            let e = errno
            close(fd)
            throw POSIXError(.init(rawValue: e) ?? .EIO)
        }
        var tv = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        return fd
    }

    private func receive(_ fd: Int32) throws -> [UInt8] {
        var buf = [UInt8](repeating: 0, count: 256 * 1024)
        let n = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        guard n >= 0 else { throw POSIXError(.init(rawValue: errno) ?? .EIO) }
        return Array(buf[0..<n])
    }

    private func receiveString(_ fd: Int32) throws -> String {
        String(decoding: try receive(fd), as: UTF8.self)
    }

    struct ProtocolError: Error, CustomStringConvertible { var description: String }

    /// systemd's native journal protocol: `FIELD=value\n`, or for values that hold a newline
    /// `FIELD\n` + little-endian 64-bit length + the bytes + `\n`.
    private func parseNativeJournal(_ d: [UInt8]) throws -> [String: [UInt8]] {
        var fields: [String: [UInt8]] = [:]
        var i = 0
        while i < d.count {
            guard let end = d[i...].firstIndex(where: { $0 == UInt8(ascii: "=") || $0 == UInt8(ascii: "\n") }) else {
                throw ProtocolError(description: "field without end at \(i)")
            }
            let name = String(decoding: d[i..<end], as: UTF8.self)
            if d[end] == UInt8(ascii: "=") {
                guard let nl = d[(end + 1)...].firstIndex(of: UInt8(ascii: "\n")) else {
                    throw ProtocolError(description: "\(name): no newline")
                }
                fields[name] = Array(d[(end + 1)..<nl])
                i = nl + 1
            } else {
                guard end + 9 <= d.count else { throw ProtocolError(description: "\(name): short length") }
                var len: UInt64 = 0
                for k in 0..<8 { len |= UInt64(d[end + 1 + k]) << (8 * UInt64(k)) }
                let start = end + 9
                guard len <= UInt64(d.count - start - 1), d[start + Int(len)] == UInt8(ascii: "\n") else {
                    throw ProtocolError(description: "\(name): bad binary field")
                }
                fields[name] = Array(d[start..<(start + Int(len))])
                i = start + Int(len) + 1
            }
        }
        return fields
    }
}
