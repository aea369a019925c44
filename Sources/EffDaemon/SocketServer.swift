import EffCapture
import EffWire
import Foundation
import Logging
import NIOCore
import NIOPosix

/// What the server asks of the daemon.
public protocol DaemonControl: AnyObject, Sendable {
    /// Built on the server's event loop; must be quick.
    func status(clients: Int, subscribers: [String: Int]) -> Status
    /// Reloads config and model; calls `done` (on any thread) with the outcome.
    func reload(requestedBy: String, done: @escaping @Sendable (Reloaded) -> Void)
}

/// Limits and defaults the server applies; replaced on reload.
public struct ServerSettings: Sendable, Equatable {
    public var maxClients = 64
    public var clientQueue = 256
    public var stallTimeout = 30.0
    public var topK = 5
    public var minScore = 0.0
    public var model = ""
    public var cameras: [String] = []
    public init() {}
    public init(_ c: DaemonConfig, model: String) {
        maxClients = c.maxClients; clientQueue = c.clientQueue; stallTimeout = c.clientStallTimeout
        topK = c.topK; minScore = c.minScore; self.model = model; cameras = c.cameras.map(\.name)
    }
}

/// The Unix socket: hello, subscriptions, status and reload requests; predictions fanned
/// out to subscribers. All client state lives on one event loop, so it needs no locks;
/// pipelines reach it only through `publish`, which never blocks.
public final class SocketServer: PredictionSink, @unchecked Sendable {
    public let path: String
    private let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    let loop: EventLoop
    private var listener: Channel?
    private let logger: Logger
    weak var control: DaemonControl?

    // Event-loop state.
    private var clients: [ObjectIdentifier: ClientConnection] = [:]
    private(set) var settings: ServerSettings
    private var stallTask: RepeatedTask?
    private var lastLoopBeat = MonotonicClock.nanoseconds()

    // Read by pipeline threads.
    private let topKLock = NSLock()
    private var topKWanted = 5
    private var subscriberCount = 0
    private var sequences: [String: SequenceCounter] = [:]

    public init(settings: ServerSettings, path: String, logger: Logger) {
        self.settings = settings
        self.path = path
        self.logger = logger
        loop = group.next()
        topKWanted = settings.topK
    }

    /// Binds the socket (refusing to take over one a live daemon answers on), sets its
    /// mode and group. Throws a message that names the path.
    public func start(mode: UInt32, group groupName: String?) throws {
        let dir = (path as NSString).deletingLastPathComponent
        var isDir: ObjCBool = false
        if !dir.isEmpty, !FileManager.default.fileExists(atPath: dir, isDirectory: &isDir) || !isDir.boolValue {
            throw ServerError("\(path): the folder \(dir) does not exist")
        }
        guard path.utf8.count < 108 else { throw ServerError("\(path): longer than a Unix socket path may be (107 bytes)") }
        if Self.someoneAnswers(path) { throw ServerError("\(path): another process is already serving on this socket") }
        var gid: gid_t? = nil
        if let groupName {
            guard let g = getgrnam(groupName) else { throw ServerError("\(path): socket group \"\(groupName)\" does not exist") }
            gid = g.pointee.gr_gid
        }
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(ChannelOptions.backlog, value: 64)
            .childChannelInitializer { [unowned self] channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ClientConnection(server: self))
                }
            }
            .childChannelOption(ChannelOptions.writeBufferWaterMark, value: .init(low: 16 * 1024, high: 64 * 1024))
        let old = umask(0o177)  // no window in which the socket is more open than `mode`
        defer { umask(old) }
        do { listener = try bootstrap.bind(unixDomainSocketPath: path, cleanupExistingSocketFile: true).wait() } catch {
            throw ServerError("\(path): cannot listen: \(error)")
        }
        // Only when it changes something: the unit's syscall filter forbids chown, and the
        // socket is already in the daemon's own group there.
        var st = stat()
        if let gid, stat(path, &st) == 0, st.st_gid != gid, chown(path, uid_t.max, gid) != 0 {
            throw ServerError("\(path): cannot give the socket to group \(groupName!): \(String(cString: strerror(errno)))")
        }
        if chmod(path, mode_t(mode)) != 0 {
            throw ServerError("\(path): cannot set mode \(String(mode, radix: 8)): \(String(cString: strerror(errno)))")
        }
        stallTask = loop.scheduleRepeatedTask(initialDelay: .seconds(1), delay: .milliseconds(500)) { [weak self] _ in
            self?.tick()
        }
    }

    static func someoneAnswers(_ path: String) -> Bool {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: addr.sun_path) else { return false }
        withUnsafeMutableBytes(of: &addr.sun_path) { $0.copyBytes(from: bytes) }
        return withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) == 0 }
        }
    }

    /// Applies new limits and defaults (reload); existing subscriptions keep their own.
    public func update(_ s: ServerSettings) {
        loop.execute { [self] in
            settings = s
            refreshTopK()
        }
    }

    /// Stops accepting, sends what each client can take now, closes every connection.
    public func shutdown() {
        let done: EventLoopFuture<Void> = loop.flatSubmit { [self] in
            stallTask?.cancel()
            let closing = listener?.close() ?? loop.makeSucceededVoidFuture()
            let flushes = clients.values.map { $0.finish() }
            return EventLoopFuture.andAllComplete([closing] + flushes, on: loop)
        }
        _ = try? done.wait()
        try? group.syncShutdownGracefully()
        if listener != nil { unlink(path) }  // never another daemon's socket
    }

    /// Seconds since the event loop last ran its periodic task (the watchdog's check of it).
    public func loopStalledFor() -> Double {
        let beat = topKLock.withLock { lastLoopBeat }
        return Double(MonotonicClock.nanoseconds() &- beat) / 1e9
    }

    // MARK: PredictionSink

    public var wantedTopK: Int { topKLock.withLock { topKWanted } }

    public var hasSubscribers: Bool { topKLock.withLock { subscriberCount > 0 } }

    public func sequence(for camera: String) -> SequenceCounter {
        topKLock.withLock {
            if let s = sequences[camera] { return s }
            let s = SequenceCounter()
            sequences[camera] = s
            return s
        }
    }

    public func publish(_ event: PredictionEvent) {
        loop.execute { [self] in
            for c in clients.values { c.offer(event, seq: event.seq) }
        }
    }

    // MARK: event-loop side

    func register(_ c: ClientConnection) -> Bool {
        guard clients.count < settings.maxClients else { return false }
        clients[ObjectIdentifier(c)] = c
        return true
    }

    func unregister(_ c: ClientConnection) {
        clients[ObjectIdentifier(c)] = nil
        refreshTopK()
    }

    func refreshTopK() {
        let k = clients.values.compactMap { $0.subscription?.topK }.reduce(settings.topK, max)
        let n = clients.values.filter { $0.subscription != nil }.count
        topKLock.withLock { topKWanted = k; subscriberCount = n }
    }

    var hello: Hello { Hello(version: EffnetdVersion.string, model: settings.model, cameras: settings.cameras) }

    func statusLine() -> Status? {
        var subs: [String: Int] = [:]
        for c in clients.values {
            guard let s = c.subscription else { continue }
            for name in settings.cameras where s.cameras?.contains(name) ?? true { subs[name, default: 0] += 1 }
        }
        return control?.status(clients: clients.count, subscribers: subs)
    }

    func reload(by who: String, reply: @escaping @Sendable (Reloaded) -> Void) {
        guard let control else { return reply(Reloaded(ok: false, message: "the daemon is shutting down")) }
        logger.notice("reload requested by \(who)")
        control.reload(requestedBy: who, done: reply)
    }

    private func tick() {
        let now = MonotonicClock.nanoseconds()
        topKLock.withLock { lastLoopBeat = now }
        for c in clients.values { c.checkStall(now: now, timeout: settings.stallTimeout) }
    }

    func log(_ level: Logger.Level, _ message: String, client: String) {
        logger.log(level: level, "\(message)", metadata: ["client": .string(client)])
    }
}

public struct ServerError: Error, CustomStringConvertible {
    public var description: String
    init(_ d: String) { description = d }
}

/// What a subscriber asked for.
struct Subscription {
    var cameras: Set<String>?
    var topK: Int
    var minScore: Double
}

/// Peer credentials of a Unix socket (struct ucred's layout).
struct PeerCredentials: Sendable {
    var pid: Int32 = 0
    var uid: UInt32 = UInt32.max
    var gid: UInt32 = UInt32.max
}

/// One client connection. Runs on the server's event loop only.
final class ClientConnection: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private unowned let server: SocketServer
    private var context: ChannelHandlerContext?
    private var splitter = LineSplitter()
    private(set) var subscription: Subscription?
    private var credentials = PeerCredentials()
    private var closing = false
    private var registered = false
    /// Predictions waiting for the socket to take them, oldest first (bounded ring).
    private var queue = CircularBuffer<(PredictionEvent, UInt64)>()
    /// Predictions dropped since the last one this client was sent.
    private var dropped: UInt64 = 0
    private var lastWritable = MonotonicClock.nanoseconds()
    private var name = "client"

    init(server: SocketServer) { self.server = server }

    func channelActive(context: ChannelHandlerContext) {
        self.context = context
        if let provider = context.channel as? SocketOptionProvider {
            let f: EventLoopFuture<PeerCredentials> = provider.unsafeGetSocketOption(
                level: SocketOptionLevel(SOL_SOCKET), name: SocketOptionName(SO_PEERCRED))
            f.whenSuccess { [self] c in
                credentials = c
                name = "pid \(c.pid) uid \(c.uid)"
            }
        }
        guard server.register(self) else {
            server.log(.warning, "connection refused: \(server.settings.maxClients) clients already", client: name)
            fail("too many clients (the limit is \(server.settings.maxClients))")
            return
        }
        registered = true
        send(server.hello.lineBytes)
        context.flush()
        server.log(.debug, "connected", client: name)
    }

    func channelInactive(context: ChannelHandlerContext) {
        if registered { server.unregister(self); registered = false }
        closing = true
        queue.removeAll()
        server.log(.debug, "disconnected", client: name)
        self.context = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !closing else { return }
        let buffer = unwrapInboundIn(data)
        let items = buffer.withUnsafeReadableBytes { splitter.feed($0) }
        for item in items {
            guard !closing else { return }
            switch item {
            case .tooLong:
                fail("line over \(Wire.maxLineBytes) bytes")
            case .line(let bytes):
                if bytes.allSatisfy({ $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") }) { continue }  // blank lines are harmless
                do { handle(try ClientMessage.parse(bytes)) } catch let e as ErrorMessage { fail(e.message) } catch {
                    fail("\(error)")
                }
            }
        }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { drain() }
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        server.log(.debug, "connection error: \(error)", client: name)
        context.close(promise: nil)
    }

    private func handle(_ message: ClientMessage) {
        switch message {
        case .subscribe(let s):
            let known = Set(server.settings.cameras)
            if let asked = s.cameras, let unknown = asked.first(where: { !known.contains($0) }) {
                return fail("unknown camera \"\(unknown)\" (cameras: \(server.settings.cameras.joined(separator: ", ")))")
            }
            let sub = Subscription(cameras: s.cameras.map(Set.init), topK: s.top_k ?? server.settings.topK,
                                   minScore: s.min_score ?? server.settings.minScore)
            subscription = sub
            server.refreshTopK()
            send(Subscribed(cameras: s.cameras ?? server.settings.cameras, topK: sub.topK, minScore: sub.minScore).lineBytes)
            context?.flush()
        case .status:
            guard let status = server.statusLine() else { return fail("the daemon is shutting down") }
            send(status.lineBytes)
            context?.flush()
        case .reload:
            let me = getuid()
            guard credentials.uid == 0 || credentials.uid == me else {
                server.log(.warning, "reload refused", client: name)
                return fail("reload is allowed only to root or the daemon's user (uid \(me))")
            }
            let loop = server.loop
            server.reload(by: name) { [self] result in
                loop.execute {
                    guard !self.closing else { return }
                    self.send(result.lineBytes)
                    self.context?.flush()
                }
            }
        }
    }

    /// Offers a prediction: written now if the socket takes it, else queued; a full queue
    /// drops its oldest entry (counted, and reported to the client with its next message).
    func offer(_ event: PredictionEvent, seq: UInt64) {
        guard !closing, let sub = subscription, sub.cameras?.contains(event.camera) ?? true else { return }
        if queue.isEmpty, let ch = context?.channel, ch.isWritable {
            lastWritable = MonotonicClock.nanoseconds()
            write(event, seq: seq, sub)
            context?.flush()
            return
        }
        if queue.count >= server.settings.clientQueue {
            queue.removeFirst()
            dropped += 1
        }
        queue.append((event, seq))
    }

    private func drain() {
        guard let sub = subscription, let ctx = context else { return }
        lastWritable = MonotonicClock.nanoseconds()
        var wrote = false
        while ctx.channel.isWritable, let (event, seq) = queue.popFirst() {
            write(event, seq: seq, sub)
            wrote = true
        }
        if wrote { ctx.flush() }
    }

    private func write(_ event: PredictionEvent, seq: UInt64, _ sub: Subscription) {
        // Sent even when no class reaches min_score (an empty `top`), so `seq` gaps mean drops only.
        let top = event.top.prefix(sub.topK).filter { $0.score >= sub.minScore }
        let now = MonotonicClock.nanoseconds()
        let p = Prediction(camera: event.camera, seq: seq, capturedAt: event.capturedAt,
                           latencyMs: Double(now &- event.stamp.monotonic) / 1e6, inferenceMs: event.inferenceMs,
                           top: Array(top), dropped: dropped > 0 ? dropped : nil)
        dropped = 0
        send(p.lineBytes)
    }

    func checkStall(now: UInt64, timeout: Double) {
        guard !closing, !queue.isEmpty || context?.channel.isWritable == false else {
            lastWritable = now
            return
        }
        if Double(now &- lastWritable) / 1e9 > timeout {
            server.log(.warning, "disconnected: took no data for \(Int(timeout)) s", client: name)
            closing = true
            queue.removeAll()
            context?.close(promise: nil)
        }
    }

    /// Shutdown: writes what the socket takes now, then closes.
    func finish() -> EventLoopFuture<Void> {
        guard let ctx = context, !closing else { return server.loop.makeSucceededVoidFuture() }
        drain()
        closing = true
        let promise = server.loop.makePromise(of: Void.self)
        ctx.writeAndFlush(wrapOutboundOut(ctx.channel.allocator.buffer(capacity: 0))).whenComplete { _ in
            ctx.close(promise: promise)
        }
        // A client that does not read must not hold up shutdown.
        server.loop.scheduleTask(in: .milliseconds(500)) { ctx.close(promise: nil) }
        return promise.futureResult
    }

    private func send(_ line: [UInt8]) {
        guard let ctx = context else { return }
        var buf = ctx.channel.allocator.buffer(capacity: line.count + 1)
        buf.writeBytes(line)
        buf.writeInteger(UInt8(ascii: "\n"))
        ctx.write(wrapOutboundOut(buf), promise: nil)
    }

    /// The client broke the protocol (or is over a limit): one error line, then close.
    private func fail(_ message: String) {
        guard let ctx = context, !closing else { return }
        closing = true
        queue.removeAll()
        server.log(.info, "protocol error: \(message)", client: name)
        var buf = ctx.channel.allocator.buffer(capacity: 128)
        buf.writeBytes(ErrorMessage(message).lineBytes)
        buf.writeInteger(UInt8(ascii: "\n"))
        ctx.writeAndFlush(wrapOutboundOut(buf)).whenComplete { _ in ctx.close(promise: nil) }
    }
}
