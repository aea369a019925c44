import EffWire
import Foundation
import NIOCore
import NIOPosix

/// A blocking client for effnetd's socket (docs/PROTOCOL.md), for synchronous commands.
///
/// One event-loop thread owns the connection; its handler splits the bytes into lines and
/// appends them to an `Inbox`, a queue guarded by a condition variable. The command's thread
/// sends with `EventLoopFuture.wait()` and takes lines with `next(timeout:)`. When the inbox
/// holds `Inbox.highWater` lines the handler stops asking the socket for more, so a reader
/// that falls behind (`effctl watch | slow-consumer`) leaves the backlog with the daemon,
/// which drops the oldest predictions and says so, instead of growing this process.
final class DaemonClient {
    let path: String
    /// The daemon's greeting, the first line of the connection.
    private(set) var hello: Hello
    private let group: MultiThreadedEventLoopGroup
    private let channel: Channel
    private let inbox: Inbox
    private var writeError: Error?

    /// Connects and waits up to `timeout` seconds for the daemon's `hello`.
    static func connect(path: String, timeout: Double) throws -> DaemonClient {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let inbox = Inbox()
        let channel: Channel
        do {
            channel = try ClientBootstrap(group: group)
                .connectTimeout(.nanoseconds(Int64(timeout * 1e9)))
                .channelInitializer { ch in
                    ch.eventLoop.makeCompletedFuture {
                        try ch.pipeline.syncOperations.addHandler(LineHandler(inbox: inbox))
                    }
                }
                .connect(unixDomainSocketPath: path).wait()
        } catch {
            try? group.syncShutdownGracefully()
            throw ClientError.connect(path: path, reason: Self.explainConnect(error))
        }
        let client = DaemonClient(path: path, group: group, channel: channel, inbox: inbox)
        do {
            client.hello = try client.reply(timeout: timeout, waitingFor: "greeting") {
                if case .hello(let h) = $0 { return h } else { return nil }
            }.0
            guard client.hello.protocol <= Wire.protocolVersion else {
                throw ClientError.protocolVersion(path: path, server: client.hello.protocol)
            }
        } catch {
            client.close()
            throw error
        }
        return client
    }

    private init(path: String, group: MultiThreadedEventLoopGroup, channel: Channel, inbox: Inbox) {
        self.path = path; self.group = group; self.channel = channel; self.inbox = inbox
        hello = Hello(version: "", model: "", cameras: [])
        inbox.onResume = { [channel] in channel.read() }
    }

    deinit { close() }

    /// Sends one message. A failed write is not thrown here: the daemon may have answered
    /// with an error line and closed, and that line, still to be read, says more.
    func send(_ message: ClientMessage) {
        var buffer = channel.allocator.buffer(capacity: 64)
        buffer.writeString(message.line())
        buffer.writeInteger(UInt8(ascii: "\n"))
        do { try channel.writeAndFlush(buffer).wait() } catch { writeError = writeError ?? error }
    }

    /// The next message and the exact line it came in. `timeout` nil waits for ever.
    /// Throws when the connection ends, breaks, or a line is not a message.
    func next(timeout: Double?) throws -> (ServerMessage, [UInt8]) {
        let deadline = timeout.map { Date(timeIntervalSinceNow: $0) }
        switch inbox.pop(until: deadline) {
        case nil:
            throw ClientError.timeout(path: path, seconds: timeout ?? 0)
        case .line(let bytes)?:
            do { return (try ServerMessage.parse(bytes), bytes) } catch {
                let text = String(decoding: bytes.prefix(200), as: UTF8.self)
                throw ClientError.protocolError(path: path, "unreadable line from effnetd (\(error)): \(text)")
            }
        case .closed?:
            throw ClientError.closed(path: path, writeError: writeError)
        case .failed(let reason)?:
            throw ClientError.protocolError(path: path, reason)
        }
    }

    /// Waits for the first message `match` accepts, skipping others (a newer daemon's types).
    /// An `error` line from the daemon is thrown as `ClientError.server`.
    func reply<T>(timeout: Double?, waitingFor what: String, _ match: (ServerMessage) -> T?) throws -> (T, [UInt8]) {
        let deadline = timeout.map { Date(timeIntervalSinceNow: $0) }
        while true {
            let left = deadline.map { max(0, $0.timeIntervalSinceNow) }
            let message: ServerMessage, bytes: [UInt8]
            do { (message, bytes) = try next(timeout: left) } catch ClientError.timeout {
                throw ClientError.timeout(path: path, seconds: timeout ?? 0, waitingFor: what)
            } catch ClientError.closed(let p, let w, _) {
                throw ClientError.closed(path: p, writeError: w, waitingFor: what)
            }
            if case .error(let e) = message { throw ClientError.server(e.message) }
            if let value = match(message) { return (value, bytes) }
        }
    }

    /// Closes the connection and stops the event-loop thread. Safe to call more than once.
    func close() {
        guard !closed else { return }
        closed = true
        inbox.onResume = nil  // it holds the channel
        try? channel.close().wait()
        try? group.syncShutdownGracefully()
    }
    private var closed = false

    static func explainConnect(_ error: Error) -> String {
        switch error {
        case let e as IOError:
            let reason = String(cString: strerror(e.errnoCode))
            switch e.errnoCode {
            case ENOENT, ECONNREFUSED: return "\(reason) — is effnetd running?"
            case EACCES, EPERM: return "permission denied — are you in the socket's group?"
            case EAGAIN: return "\(reason) — the daemon's connection backlog is full; try again"
            default: return reason
            }
        case SocketAddressError.unixDomainSocketPathTooLong:
            return "the path is too long for a Unix socket"
        case ChannelError.connectTimeout:
            return "timed out"
        default:
            return "\(error)"
        }
    }
}

enum ClientError: Error, CustomStringConvertible {
    case connect(path: String, reason: String)
    case timeout(path: String, seconds: Double, waitingFor: String = "reply")
    case closed(path: String, writeError: Error?, waitingFor: String? = nil)
    case protocolError(path: String, String)
    case protocolVersion(path: String, server: Int)
    /// An `error` line from the daemon.
    case server(String)

    var description: String {
        switch self {
        case .connect(let path, let reason):
            return "cannot connect to \(path): \(reason)"
        case .timeout(let path, let seconds, let what):
            return "no \(what) from effnetd at \(path) within \(String(format: "%g", seconds)) s (--timeout)"
        case .closed(let path, let writeError, let what):
            var s = "effnetd at \(path) closed the connection"
            if let what { s += " before its \(what)" }
            if let writeError { s += " (sending failed: \(writeError))" }
            return s
        case .protocolError(let path, let message):
            return "\(path): \(message)"
        case .protocolVersion(let path, let server):
            return "effnetd at \(path) speaks protocol \(server); this effctl knows protocol \(Wire.protocolVersion) — update effctl"
        case .server(let message):
            return "effnetd: \(message)"
        }
    }
}

/// Lines from the event loop to the command's thread.
final class Inbox: @unchecked Sendable {
    enum Event {
        case line([UInt8])
        case closed
        /// The connection broke; what is wrong.
        case failed(String)
    }

    /// At this many queued lines the handler stops reading the socket; below `lowWater` it resumes.
    static let highWater = 1024
    static let lowWater = 256

    private let condition = NSCondition()
    private var events: [Event] = []
    private var head = 0
    private var paused = false
    /// Runs (on the caller's thread) when reading should resume; schedules a read on the channel.
    var onResume: (@Sendable () -> Void)?

    private var queued: Int { events.count - head }

    func push(_ event: Event) {
        condition.lock()
        events.append(event)
        condition.signal()
        condition.unlock()
    }

    /// True (and remembers it) when the queue is full and the handler should hold its read.
    func shouldPause() -> Bool {
        condition.lock()
        defer { condition.unlock() }
        if queued >= Self.highWater { paused = true }
        return paused
    }

    /// The next event, or nil when `deadline` passed first (nil deadline: wait for ever).
    func pop(until deadline: Date?) -> Event? {
        condition.lock()
        while queued == 0 {
            if let deadline {
                if !condition.wait(until: deadline) && queued == 0 { condition.unlock(); return nil }
            } else {
                condition.wait()
            }
        }
        let event = events[head]
        head += 1
        if head >= 4096 && head * 2 >= events.count { events.removeFirst(head); head = 0 }
        var resume = false
        if paused && queued <= Self.lowWater { paused = false; resume = true }
        condition.unlock()
        if resume { onResume?() }
        return event
    }
}

/// Splits the daemon's bytes into lines for the inbox, and holds reads while it is full.
private final class LineHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// Server lines have no protocol limit (a prediction with top_k 1000 is large); this only
    /// bounds memory against a runaway peer.
    private var splitter = LineSplitter(maxLineBytes: 16 << 20)
    private let inbox: Inbox
    private var failed = false

    init(inbox: Inbox) { self.inbox = inbox }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !failed else { return }
        let buffer = unwrapInboundIn(data)
        let items = buffer.withUnsafeReadableBytes { splitter.feed($0) }
        for item in items {
            switch item {
            case .line(let bytes):
                inbox.push(.line(bytes))
            case .tooLong(let n):
                failed = true
                inbox.push(.failed("a line from effnetd is over \(n - 1) bytes"))
                context.close(promise: nil)
                return
            }
        }
    }

    func read(context: ChannelHandlerContext) {
        // Held while the inbox is full; the inbox's onResume calls channel.read() again.
        if !inbox.shouldPause() { context.read() }
    }

    func channelInactive(context: ChannelHandlerContext) {
        if !failed {
            if splitter.pendingCount > 0 {
                inbox.push(.failed("effnetd closed the connection in the middle of a line"))
            } else {
                inbox.push(.closed)
            }
        }
        failed = true
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        // Reset by the peer and the like: what was read is delivered, then the end.
        if !failed {
            failed = true
            if let e = error as? IOError, e.errnoCode == ECONNRESET || e.errnoCode == EPIPE {
                inbox.push(.closed)
            } else {
                inbox.push(.failed("connection to effnetd failed: \(error)"))
            }
        }
        context.close(promise: nil)
    }
}
