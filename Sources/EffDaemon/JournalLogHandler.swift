import CSystemd
import Foundation
import Logging

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A log level shared by every handler `DaemonLogging` makes, so that a config reload can
/// change the daemon's level at run time. A handler whose own `logLevel` was set (on one
/// `Logger`) keeps that value instead, as swift-log's value semantics ask.
public final class SharedLogLevel: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Logger.Level

    public init(_ level: Logger.Level) { value = level }

    public var level: Logger.Level {
        get { lock.lock(); defer { lock.unlock() }; return value }
        set { lock.lock(); value = newValue; lock.unlock() }
    }
}

/// Sends each log entry to journald as a structured entry (systemd's native protocol, through
/// `sd_journal_sendv`): MESSAGE, PRIORITY, CODE_FILE, CODE_LINE, CODE_FUNC, SYSLOG_IDENTIFIER,
/// and one `EFFNETD_<KEY>` field per metadata key (`journalctl -u effnetd EFFNETD_CAMERA=front`).
/// When sd_journal_sendv fails the entry goes to stderr in `StderrLogHandler`'s format
/// (libsystemd drops an entry silently, returning 0, when journald's socket does not exist;
/// `DaemonLogging` picks this handler only when systemd connected stderr to the journal).
public struct JournalLogHandler: LogHandler {
    public let label: String
    public let identifier: String
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    private let sharedLevel: SharedLogLevel
    private var ownLevel: Logger.Level?

    /// - Parameters:
    ///   - identifier: SYSLOG_IDENTIFIER of every entry.
    ///   - level: the level this handler follows until its own `logLevel` is set.
    public init(
        label: String, identifier: String = "effnetd", level: SharedLogLevel = DaemonLogging.level,
        metadataProvider: Logger.MetadataProvider? = LoggingSystem.metadataProvider
    ) {
        self.label = label
        self.identifier = identifier
        self.sharedLevel = level
        self.metadataProvider = metadataProvider
    }

    public var logLevel: Logger.Level {
        get { ownLevel ?? sharedLevel.level }
        set { ownLevel = newValue }
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        let merged = mergedMetadata(base: metadata, provider: metadataProvider, event: event)
        let message = event.message.description
        let r = Self.withEntry(
            level: event.level, message: message, metadata: merged, identifier: identifier,
            file: event.file, function: event.function, line: event.line
        ) { iov in
            sd_journal_sendv(iov.baseAddress, Int32(iov.count))
        }
        if r < 0 {
            StderrLogHandler.emit(level: event.level, message: message, metadata: merged)
        }
    }

    /// The syslog priority journald stores for a level.
    public static func priority(_ level: Logger.Level) -> Int {
        switch level {
        case .trace, .debug: return 7
        case .info: return 6
        case .notice: return 5
        case .warning: return 4
        case .error: return 3
        case .critical: return 2
        }
    }

    /// The journal field that carries metadata `key`: `EFFNETD_` and the key in upper case,
    /// every character outside [A-Z0-9_] replaced by `_`, cut to journald's 64-byte limit.
    public static func fieldName(forMetadataKey key: String) -> String {
        var bytes: [UInt8] = Array("EFFNETD_".utf8)
        bytes.reserveCapacity(8 + key.utf8.count)
        for scalar in key.unicodeScalars {
            guard bytes.count < 64 else { break }
            switch scalar.value {
            case 0x41...0x5A, 0x30...0x39, 0x5F: bytes.append(UInt8(scalar.value))
            case 0x61...0x7A: bytes.append(UInt8(scalar.value) - 0x20)
            default: bytes.append(UInt8(ascii: "_"))
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Builds the entry's `FIELD=value` iovecs and passes them to `body`. All fields share one
    /// byte buffer; the bounds and the iovecs live in stack-allocated scratch space.
    static func withEntry<R>(
        level: Logger.Level, message: String, metadata: Logger.Metadata, identifier: String,
        file: String, function: String, line: UInt, _ body: (UnsafeBufferPointer<iovec>) -> R
    ) -> R {
        let fieldCount = 6 + metadata.count
        var bytes: [UInt8] = []
        bytes.reserveCapacity(160 + message.utf8.count + file.utf8.count + function.utf8.count + 48 * metadata.count)
        return withUnsafeTemporaryAllocation(of: Int.self, capacity: fieldCount + 1) { starts in
            var n = 0
            func field(_ name: String, _ value: String) {
                starts[n] = bytes.count
                n += 1
                bytes.append(contentsOf: name.utf8)
                bytes.append(UInt8(ascii: "="))
                bytes.append(contentsOf: value.utf8)
            }
            field("MESSAGE", message)
            field("PRIORITY", String(priority(level)))
            field("CODE_FILE", file)
            field("CODE_LINE", String(line))
            field("CODE_FUNC", function)
            field("SYSLOG_IDENTIFIER", identifier)
            for (key, value) in metadata {
                field(fieldName(forMetadataKey: key), value.description)
            }
            starts[n] = bytes.count
            return bytes.withUnsafeMutableBytes { raw in
                withUnsafeTemporaryAllocation(of: iovec.self, capacity: n) { iov in
                    for i in 0..<n {
                        iov[i] = iovec(iov_base: raw.baseAddress! + starts[i], iov_len: starts[i + 1] - starts[i])
                    }
                    return body(UnsafeBufferPointer(iov))
                }
            }
        }
    }
}

/// One line per entry on stderr, for when the daemon is not run by systemd (a terminal, a
/// container): `<level> [key=value …] message`, metadata keys sorted.
public struct StderrLogHandler: LogHandler {
    public let label: String
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    private let sharedLevel: SharedLogLevel
    private var ownLevel: Logger.Level?

    public init(
        label: String, level: SharedLogLevel = DaemonLogging.level,
        metadataProvider: Logger.MetadataProvider? = LoggingSystem.metadataProvider
    ) {
        self.label = label
        self.sharedLevel = level
        self.metadataProvider = metadataProvider
    }

    public var logLevel: Logger.Level {
        get { ownLevel ?? sharedLevel.level }
        set { ownLevel = newValue }
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        let merged = mergedMetadata(base: metadata, provider: metadataProvider, event: event)
        Self.emit(level: event.level, message: event.message.description, metadata: merged)
    }

    /// The line for one entry, newline included.
    public static func format(level: Logger.Level, message: String, metadata: Logger.Metadata) -> String {
        var line = level.rawValue
        if !metadata.isEmpty {
            line += " ["
            line += metadata.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
            line += "]"
        }
        line += " "
        line += message
        line += "\n"
        return line
    }

    /// Writes the line with one write(2), so lines from several threads do not interleave.
    static func emit(level: Logger.Level, message: String, metadata: Logger.Metadata) {
        var line = format(level: level, message: message, metadata: metadata)
        line.withUTF8 { buf in
            var off = 0
            while off < buf.count {
                let r = write(STDERR_FILENO, buf.baseAddress! + off, buf.count - off)
                if r > 0 { off += r } else if r < 0 && errno == EINTR { continue } else { break }
            }
        }
    }
}

/// The handler's metadata, then the provider's, then the call's (later wins); an error attached
/// to the call becomes `error.message` and `error.type`, as swift-log's own handlers do.
private func mergedMetadata(base: Logger.Metadata, provider: Logger.MetadataProvider?, event: LogEvent) -> Logger.Metadata {
    var merged = base
    if let provided = provider?.get(), !provided.isEmpty {
        merged.merge(provided) { _, new in new }
    }
    if let explicit = event.metadata, !explicit.isEmpty {
        merged.merge(explicit) { _, new in new }
    }
    if let error = event.error {
        merged["error.message"] = "\(error)"
        merged["error.type"] = "\(String(reflecting: type(of: error)))"
    }
    return merged
}

/// How the daemon logs: to journald when systemd connected its stderr to the journal, else to stderr.
public enum DaemonLogging {
    /// The level every handler made here follows; `bootstrap` and `setLevel` change it.
    public static let level = SharedLogLevel(.info)

    private static let bootstrapLock = NSLock()
    nonisolated(unsafe) private static var bootstrapped = false

    /// Sets the level and, the first time, installs the handler factory in swift-log
    /// (journal or stderr, decided once here by `usesJournal`). Later calls only set the level.
    public static func bootstrap(level: Logger.Level) {
        self.level.level = level
        bootstrapLock.lock()
        defer { bootstrapLock.unlock() }
        guard !bootstrapped else { return }
        bootstrapped = true
        let journal = usesJournal
        LoggingSystem.bootstrap { label -> any LogHandler in
            journal ? JournalLogHandler(label: label) : StderrLogHandler(label: label)
        }
    }

    /// Changes the level of every logger that has not set its own (config reload).
    public static func setLevel(_ level: Logger.Level) { self.level.level = level }

    /// True when `JOURNAL_STREAM` is set and names stderr's device and inode: systemd's rule for
    /// "stderr is connected to the journal", which also holds for a child that inherited the
    /// variable but not the stream.
    public static var usesJournal: Bool {
        let value = getenv("JOURNAL_STREAM").map { String(cString: $0) }
        return journalStreamMatches(value, fileDescriptor: STDERR_FILENO)
    }

    /// Whether a `JOURNAL_STREAM` value ("<st_dev>:<st_ino>", decimal) names the open file `fd`.
    public static func journalStreamMatches(_ value: String?, fileDescriptor fd: Int32) -> Bool {
        guard let value else { return false }
        let parts = value.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, let dev = UInt64(parts[0]), let ino = UInt64(parts[1]) else { return false }
        var st = stat()
        guard fstat(fd, &st) == 0 else { return false }
        return UInt64(st.st_dev) == dev && UInt64(st.st_ino) == ino
    }
}
