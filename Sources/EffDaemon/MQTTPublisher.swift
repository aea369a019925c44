import CMosquitto
import EffCapture
import EffScheduler
import EffWire
import Foundation
import Logging
import NIOCore

/// What the publisher needs beyond `[mqtt]`; replaced on reload.
public struct MQTTContext: Sendable, Equatable {
    public var cameras: [String]
    public var model: String
    /// Classes per prediction and the lowest score published ([inference] top_k, min_score).
    public var topK: Int
    public var minScore: Double
    public init(cameras: [String], model: String, topK: Int, minScore: Double) {
        self.cameras = cameras; self.model = model; self.topK = topK; self.minScore = minScore
    }
}

/// Publishes predictions and the daemon's health to an MQTT broker (docs/PROTOCOL.md, "MQTT").
///
/// Threads: pipelines call `offer`, which only appends to a bounded queue under a lock (the
/// oldest entry dropped and counted when it is full) and wakes the publisher's own thread
/// through an eventfd. That one thread owns the libmosquitto client: it connects
/// (`mosquitto_connect`, blocking, so a slow DNS or TCP connect stalls only this thread),
/// publishes, and drives the protocol with `mosquitto_loop(…, 0, …)` after waiting in poll(2)
/// on the client's socket and the eventfd. libmosquitto's own network thread
/// (`mosquitto_loop_start`) is not used, so no libmosquitto call ever runs on two threads and
/// its callbacks run on this thread, inside `mosquitto_loop`.
///
/// At most `maxHandedOff` predictions are with libmosquitto at a time (published, not yet
/// acknowledged or written); the rest wait in the queue, so a slow broker fills the bounded
/// queue, never libmosquitto's unbounded one. Reconnects back off from 1 s, doubling to 60 s;
/// one log line per change of state or of the reason, not per attempt.
public final class MQTTPublisher: @unchecked Sendable {
    public let config: MQTTConfig
    private let logger: Logger
    /// Per-camera health for the status topic; called on the publisher thread.
    private let cameraStatus: @Sendable () -> [CameraStatus]

    static let maxHandedOff = 100
    static let connackTimeout: UInt64 = 10_000_000_000
    static let maxBackoff = 60.0

    var statusTopic: String { config.topicPrefix + "/status" }
    func predictionTopic(_ camera: String) -> String { config.topicPrefix + "/" + camera + "/prediction" }
    /// Home Assistant's node and object ids allow [a-zA-Z0-9_-] only.
    var nodeID: String {
        String(config.clientID.unicodeScalars.map { s -> Character in
            s.isASCII && (s.properties.isAlphabetic || ("0"..."9").contains(s) || s == "_" || s == "-") ? Character(s) : "_"
        })
    }
    func discoveryTopic(_ camera: String) -> String {
        config.discoveryPrefix + "/sensor/" + nodeID + "_" + discoveryObject(camera) + "/config"
    }
    private func discoveryObject(_ camera: String) -> String {
        String(camera.map { $0 == "." ? "_" : $0 })
    }

    // Shared with pipeline threads and status requests, under `lock`.
    private let lock = NSLock()
    private var queue = CircularBuffer<PredictionEvent>()
    private var dropped: UInt64 = 0
    /// Per camera: predictions dropped since its last one published (the next one says so).
    private var droppedSince: [String: UInt64] = [:]
    /// Change mode: the top-1 class and time of each camera's last prediction queued.
    private var lastQueued: [String: (top: Int, at: UInt64)] = [:]
    private var context: MQTTContext
    private var contextChanged = false
    private var stopping = false
    private var state = "connecting"
    private var lastError: String? = nil
    private var published: UInt64 = 0
    private var connects = 0

    private let wakeFD: Int32
    private let finished = DispatchSemaphore(value: 0)
    private var started = false

    // The publisher thread only.
    private var mosq: OpaquePointer?
    private enum Phase { case idle, connecting, connected }
    private var phase = Phase.idle
    /// Message ids of predictions with libmosquitto, and when they were handed to it.
    private var handedOff: [Int32: UInt64] = [:]
    private var connectedAt: UInt64 = 0
    private var offlineMid: Int32? = nil
    private var offlineAcked = false
    private var backoff = 1.0
    private var nextAttempt: UInt64 = 0
    private var nextHeartbeat: UInt64 = 0
    private var connectingSince: UInt64 = 0
    private var announced = false
    private var discovered = Set<String>()
    /// The last error libmosquitto logged during this attempt (OpenSSL's reason for a failed handshake).
    private var libraryError: String? = nil
    /// The broker's reason for refusing the connection (CONNACK), if it did.
    private var refusal: String? = nil
    private var loggedError: String? = nil

    public init(config: MQTTConfig, context: MQTTContext, logger: Logger,
                cameraStatus: @escaping @Sendable () -> [CameraStatus]) {
        self.config = config
        self.context = context
        self.cameraStatus = cameraStatus
        var log = logger
        log[metadataKey: "mqtt"] = .string(config.broker)
        self.logger = log
        wakeFD = eventfd(0, Int32(EFD_CLOEXEC | EFD_NONBLOCK))
        queue.reserveCapacity(min(config.queue, 1024))
    }

    deinit { if wakeFD >= 0 { close(wakeFD) } }

    /// Starts the publisher thread (once).
    public func start() {
        let go: Bool = lock.withLock {
            defer { started = true }
            return !started
        }
        guard go else { return }
        let t = Thread { [self] in
            WorkerPool.nameCurrentThread("mqtt")
            run()
            finished.signal()
        }
        t.start()
    }

    /// Publishes `{"state":"offline"}` (retained) and disconnects, within `timeout` seconds.
    /// False when the thread did not finish in time (stuck in a connect to an unreachable
    /// host): it is left to end on its own, and the broker's Last Will says offline.
    @discardableResult
    public func stop(timeout: Double = 2) -> Bool {
        let wasStarted: Bool = lock.withLock {
            stopping = true
            return started
        }
        guard wasStarted else { return true }
        wake()
        return finished.wait(timeout: .now() + timeout) == .success
    }

    /// New cameras, model or ranking after a reload with the same `[mqtt]`.
    public func update(_ c: MQTTContext) {
        lock.withLock {
            guard c != context else { return }
            context = c
            contextChanged = true
        }
        wake()
    }

    public func status() -> MQTTStatus {
        lock.withLock {
            MQTTStatus(state: state, broker: config.broker, tls: config.tlsCAFile != nil, error: lastError,
                       queued: queue.count, dropped: dropped, published: published, connects: connects)
        }
    }

    // MARK: Pipeline side

    /// Queues a prediction (in change mode only a new top-1 class, or the first after
    /// `heartbeat` seconds). Never blocks beyond a short lock.
    public func offer(_ event: PredictionEvent) {
        let now = MonotonicClock.nanoseconds()
        let queued: Bool = lock.withLock {
            if stopping { return false }
            if config.publish == .change {
                let top = event.top.first?.class ?? -1
                if let last = lastQueued[event.camera], last.top == top,
                   Double(now &- last.at) / 1e9 < config.heartbeat {
                    return false
                }
                lastQueued[event.camera] = (top, now)
            }
            if queue.count >= config.queue {
                let old = queue.removeFirst()
                dropped += 1
                droppedSince[old.camera, default: 0] += 1
            }
            queue.append(event)
            return true
        }
        if queued { wake() }
    }

    private func wake() { _ = eventfd_write(wakeFD, 1) }

    // MARK: The publisher thread

    private static let libraryReady: Bool = {
        mosquitto_lib_init()
        return true
    }()

    private var isStopping: Bool { lock.withLock { stopping } }

    private func run() {
        _ = Self.libraryReady
        guard let m = mosquitto_new(config.clientID, true, Unmanaged.passUnretained(self).toOpaque()) else {
            fail("cannot create the MQTT client: \(String(cString: strerror(errno)))", permanent: true)
            return waitForStop()
        }
        mosq = m
        defer {
            mosquitto_destroy(m)
            mosq = nil
        }
        if let problem = configure(m) {
            fail(problem, permanent: true)
            return waitForStop()
        }
        while !isStopping {
            let now = MonotonicClock.nanoseconds()
            if phase == .idle, now >= nextAttempt { connect(m, now) }
            if phase != .idle { service(m, MonotonicClock.nanoseconds()) }
            waitForWork(m)
        }
        finish(m)
    }

    /// Options, callbacks, Last Will, credentials and TLS; an error text if any is refused.
    private func configure(_ m: OpaquePointer) -> String? {
        _ = mosquitto_int_option(m, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V311)
        mosquitto_connect_callback_set(m) { _, obj, rc in
            guard let obj else { return }
            Unmanaged<MQTTPublisher>.fromOpaque(obj).takeUnretainedValue().connected(rc)
        }
        mosquitto_publish_callback_set(m) { _, obj, mid in
            guard let obj else { return }
            Unmanaged<MQTTPublisher>.fromOpaque(obj).takeUnretainedValue().acknowledged(mid)
        }
        mosquitto_log_callback_set(m) { _, obj, level, text in
            guard let obj, let text, level & Int32(MOSQ_LOG_ERR) != 0 else { return }
            Unmanaged<MQTTPublisher>.fromOpaque(obj).takeUnretainedValue().libraryError = String(cString: text)
        }
        let offline = Array(#"{"state":"offline"}"#.utf8)
        var rc = offline.withUnsafeBytes {
            mosquitto_will_set(m, statusTopic, Int32($0.count), $0.baseAddress, Int32(config.qos), true)
        }
        if rc != 0 { return "the Last Will on \(statusTopic) was refused: \(Self.text(rc))" }
        if let user = config.username {
            rc = mosquitto_username_pw_set(m, user, config.password)
            if rc != 0 { return "the user name or password was refused: \(Self.text(rc))" }
        }
        if let ca = config.tlsCAFile {
            rc = mosquitto_tls_set(m, ca, nil, config.tlsCertFile, config.tlsKeyFile, nil)
            if rc != 0 { return "TLS setup with \(ca) failed: \(Self.text(rc))" }
        }
        return nil
    }

    private func connect(_ m: OpaquePointer, _ now: UInt64) {
        libraryError = nil
        refusal = nil
        announced = false
        setState("connecting")
        let rc = mosquitto_connect(m, config.host, Int32(config.port), Int32(config.keepalive))
        let err = errno
        if rc == 0 {
            phase = .connecting
            connectingSince = MonotonicClock.nanoseconds()
        } else {
            fail(describe(rc, errno: err))
        }
    }

    /// One round while a socket is open: announce, heartbeat, queued predictions, then the
    /// protocol (reads, acknowledgements, pings) with `mosquitto_loop`.
    private func service(_ m: OpaquePointer, _ now: UInt64) {
        if phase == .connected {
            if !announced {
                announced = true
                publishStatus(m)
                nextHeartbeat = now &+ UInt64(config.heartbeat * 1e9)
                publishDiscovery(m)
            } else if now >= nextHeartbeat {
                publishStatus(m)
                nextHeartbeat = now &+ UInt64(config.heartbeat * 1e9)
                forgetStaleHandOffs(now)
            }
            if lock.withLock({ contextChanged }) { publishDiscovery(m) }
            publishQueued(m)
        } else if phase == .connecting, now &- connectingSince > Self.connackTimeout {
            mosquitto_disconnect(m)
            return fail("the broker did not answer the connection within \(Self.connackTimeout / 1_000_000_000) s")
        }
        let rc = mosquitto_loop(m, 0, 1)
        let err = errno
        if rc != 0 {
            if mosquitto_socket(m) >= 0 { mosquitto_disconnect(m) }
            fail(refusal ?? describe(rc, errno: err))
        }
    }

    /// Waits for a prediction, the socket, a retry or heartbeat time, or stop.
    private func waitForWork(_ m: OpaquePointer) {
        let now = MonotonicClock.nanoseconds()
        let sock = mosquitto_socket(m)
        var timeoutMs: Int64
        switch phase {
        case .idle:
            timeoutMs = nextAttempt > now ? Int64((nextAttempt - now) / 1_000_000) + 1 : 0
        case .connecting:
            timeoutMs = 100
        case .connected:
            let pending = lock.withLock { (!queue.isEmpty && handedOff.count < Self.maxHandedOff) || contextChanged }
            if !announced || pending {
                timeoutMs = 0
            } else {
                timeoutMs = nextHeartbeat > now ? Int64((nextHeartbeat - now) / 1_000_000) + 1 : 0
            }
        }
        // At least once a second: libmosquitto's keepalive pings, and data OpenSSL has
        // already read from the socket (poll cannot see it).
        timeoutMs = min(timeoutMs, 1000)
        var fds = [pollfd(fd: wakeFD, events: Int16(POLLIN), revents: 0)]
        if sock >= 0 {
            var events = Int16(POLLIN)
            if mosquitto_want_write(m) { events |= Int16(POLLOUT) }
            fds.append(pollfd(fd: sock, events: events, revents: 0))
        }
        _ = poll(&fds, nfds_t(fds.count), Int32(timeoutMs))
        if fds[0].revents & Int16(POLLIN) != 0 {
            var v: eventfd_t = 0
            _ = eventfd_read(wakeFD, &v)
        }
    }

    private func publishQueued(_ m: OpaquePointer) {
        while handedOff.count < Self.maxHandedOff {
            let room = Self.maxHandedOff - handedOff.count
            let (batch, ctx): ([(PredictionEvent, UInt64)], MQTTContext) = lock.withLock {
                var out: [(PredictionEvent, UInt64)] = []
                while out.count < room, let e = queue.popFirst() {
                    out.append((e, droppedSince.removeValue(forKey: e.camera) ?? 0))
                }
                return (out, context)
            }
            if batch.isEmpty { return }
            var sent: UInt64 = 0, lost: UInt64 = 0
            for (e, gap) in batch {
                let top = e.top.prefix(ctx.topK).filter { $0.score >= ctx.minScore }
                let p = Prediction(camera: e.camera, seq: e.seq, capturedAt: e.capturedAt,
                                   latencyMs: Double(MonotonicClock.nanoseconds() &- e.stamp.monotonic) / 1e6,
                                   inferenceMs: e.inferenceMs, top: Array(top), dropped: gap > 0 ? gap : nil)
                if let mid = publish(m, predictionTopic(e.camera), p.lineBytes, retain: false) {
                    handedOff[mid] = MonotonicClock.nanoseconds()
                    sent += 1
                } else {
                    lost += 1
                }
            }
            lock.withLock {
                published += sent
                dropped += lost
            }
        }
    }

    /// A safety valve for the hand-off limit: libmosquitto acknowledges every QoS 1 message
    /// (sending it again after a reconnect), but should one ever go unanswered, publishing
    /// must not stop at the limit. Ids older than `staleHandOff` after a minute of steady
    /// connection are forgotten.
    static let staleHandOff: UInt64 = 120_000_000_000
    private func forgetStaleHandOffs(_ now: UInt64) {
        guard !handedOff.isEmpty, now &- connectedAt > 60_000_000_000 else { return }
        handedOff = handedOff.filter { now &- $0.value < Self.staleHandOff }
    }

    private func publishStatus(_ m: OpaquePointer) {
        let cams = cameraStatus()
        let (ctx, queued, drops) = lock.withLock { (context, queue.count, dropped) }
        var w = JSONWriter()
        w.object { w in
            w.field("state", "online")
            w.field("version", EffnetdVersion.string)
            w.field("model", ctx.model)
            w.array("cameras") { a in
                for c in cams {
                    a.object { o in
                        o.field("name", c.name); o.field("state", c.state); o.field("frames_per_s", c.frames_per_s)
                        o.field("inferences_per_s", c.inferences_per_s); o.field("latency_p50_ms", c.latency_p50_ms)
                        o.field("latency_p99_ms", c.latency_p99_ms); o.field("dropped", c.dropped); o.field("errors", c.errors)
                    }
                }
            }
            w.object("mqtt") { o in o.field("queued", queued); o.field("dropped", drops) }
        }
        _ = publish(m, statusTopic, w.bytes, retain: true)
    }

    /// Home Assistant discovery: one retained sensor config per camera; an empty retained
    /// message removes the config of a camera that is gone.
    private func publishDiscovery(_ m: OpaquePointer) {
        let ctx: MQTTContext = lock.withLock {
            contextChanged = false
            return context
        }
        guard config.homeAssistant else { return }
        for camera in ctx.cameras {
            var w = JSONWriter()
            w.object { w in
                w.field("name", camera)
                w.field("unique_id", nodeID + "_" + discoveryObject(camera))
                w.field("object_id", nodeID + "_" + discoveryObject(camera))
                w.field("state_topic", predictionTopic(camera))
                w.field("value_template", "{{ value_json.top[0].label if value_json.top else '' }}")
                w.field("json_attributes_topic", predictionTopic(camera))
                w.field("json_attributes_template",
                        "{{ {'score': (value_json.top[0].score if value_json.top else 0), 'class': (value_json.top[0]['class'] if value_json.top else -1), 'seq': value_json.seq, 'captured_at': value_json.captured_at} | tojson }}")
                w.field("availability_topic", statusTopic)
                w.field("availability_template", "{{ value_json.state }}")
                w.field("payload_available", "online")
                w.field("payload_not_available", "offline")
                w.field("icon", "mdi:cctv")
                w.object("device") { d in
                    d.field("identifiers", [nodeID])
                    d.field("name", config.clientID)
                    d.field("manufacturer", "effnetd")
                    d.field("model", ctx.model)
                    d.field("sw_version", EffnetdVersion.string)
                }
            }
            _ = publish(m, discoveryTopic(camera), w.bytes, retain: true)
            discovered.insert(camera)
        }
        for gone in discovered.subtracting(ctx.cameras) {
            _ = publish(m, discoveryTopic(gone), [], retain: true)
            discovered.remove(gone)
        }
    }

    private func publish(_ m: OpaquePointer, _ topic: String, _ payload: [UInt8], retain: Bool) -> Int32? {
        var mid: Int32 = 0
        let rc = payload.withUnsafeBytes {
            mosquitto_publish(m, &mid, topic, Int32($0.count), $0.baseAddress, Int32(config.qos), retain)
        }
        return rc == 0 ? mid : nil
    }

    /// Clean stop: `{"state":"offline"}` retained, acknowledged (QoS 1) or written (QoS 0)
    /// within a second, then DISCONNECT, which tells the broker to drop the Last Will.
    private func finish(_ m: OpaquePointer) {
        guard phase == .connected else {
            if mosquitto_socket(m) >= 0 { mosquitto_disconnect(m) }
            return
        }
        offlineMid = publish(m, statusTopic, Array(#"{"state":"offline"}"#.utf8), retain: true)
        let deadline = MonotonicClock.nanoseconds() &+ 1_000_000_000
        while offlineMid != nil, !offlineAcked, MonotonicClock.nanoseconds() < deadline {
            if config.qos == 0 && !mosquitto_want_write(m) { break }
            if mosquitto_loop(m, 50, 1) != 0 { break }
        }
        mosquitto_disconnect(m)
        _ = mosquitto_loop(m, 0, 1)
        let gone = lock.withLock { queue.count }
        let unsent = gone > 0 ? " (\(gone) queued predictions not sent)" : ""
        logger.notice("MQTT: published offline and disconnected from \(config.broker)\(unsent)")
        setState("disconnected")
    }

    private func waitForStop() {
        while !isStopping {
            var fds = [pollfd(fd: wakeFD, events: Int16(POLLIN), revents: 0)]
            _ = poll(&fds, 1, 1000)
            var v: eventfd_t = 0
            _ = eventfd_read(wakeFD, &v)
        }
    }

    // MARK: Callbacks (inside mosquitto_loop, on the publisher thread)

    private func connected(_ rc: Int32) {
        guard rc == 0 else {
            var why = String(cString: mosquitto_connack_string(rc))
            if why.hasPrefix("Connection Refused: ") { why.removeFirst("Connection Refused: ".count) }
            if why.hasSuffix(".") { why.removeLast() }
            refusal = "the broker refused the connection: \(why)"
            return
        }
        phase = .connected
        connectedAt = MonotonicClock.nanoseconds()
        backoff = 1
        loggedError = nil
        lock.withLock {
            state = "connected"
            lastError = nil
            connects += 1
        }
        logger.notice("MQTT: connected to \(config.broker)\(config.tlsCAFile != nil ? " (TLS)" : ""), publishing under \(config.topicPrefix)/")
    }

    private func acknowledged(_ mid: Int32) {
        if mid == offlineMid { offlineAcked = true }
        handedOff[mid] = nil
    }

    // MARK: State

    /// The connection failed or was lost: wait, doubling the wait up to a minute. Logged
    /// once per reason, not per attempt.
    private func fail(_ reason: String, permanent: Bool = false) {
        let wasConnected = phase == .connected
        phase = .idle
        announced = false
        // QoS 0 messages libmosquitto had not written are gone with the socket; QoS 1 ones
        // it sends again after the reconnect (and acknowledges then).
        if config.qos == 0 { handedOff.removeAll() }
        let wait = backoff
        nextAttempt = MonotonicClock.nanoseconds() &+ UInt64(wait * 1e9)
        backoff = min(backoff * 2, Self.maxBackoff)
        lock.withLock {
            state = "disconnected"
            lastError = reason
        }
        if permanent {
            logger.error("MQTT: \(reason); not publishing")
        } else if wasConnected {
            logger.warning("MQTT: lost the connection to \(config.broker): \(reason); reconnecting in \(Int(wait)) s, backing off to \(Int(Self.maxBackoff)) s")
            loggedError = reason
        } else if reason != loggedError {
            logger.error("MQTT: cannot connect to \(config.broker): \(reason); retrying, backing off from \(Int(wait)) s to \(Int(Self.maxBackoff)) s")
            loggedError = reason
        }
    }

    private func setState(_ s: String) { lock.withLock { state = s } }

    private func describe(_ rc: Int32, errno err: Int32) -> String {
        if rc == Int32(MOSQ_ERR_ERRNO.rawValue) { return String(cString: strerror(err)) }
        if rc == Int32(MOSQ_ERR_TLS.rawValue) || rc == Int32(MOSQ_ERR_TLS_HANDSHAKE.rawValue), let e = libraryError {
            return "TLS: \(Self.openSSLReason(e))"
        }
        if rc == Int32(MOSQ_ERR_EAI.rawValue) { return "cannot resolve \(config.host)" + (libraryError.map { ": \($0)" } ?? "") }
        if rc == Int32(MOSQ_ERR_CONN_LOST.rawValue), let e = libraryError, e.contains("OpenSSL") {
            return "TLS: \(Self.openSSLReason(e))"
        }
        return Self.text(rc)
    }

    /// "OpenSSL Error[0]: error:0A000086:SSL routines::certificate verify failed" → "certificate verify failed".
    static func openSSLReason(_ s: String) -> String {
        guard let r = s.range(of: ":", options: .backwards) else { return s }
        let tail = s[r.upperBound...].trimmingCharacters(in: .whitespaces)
        return tail.isEmpty ? s : tail
    }

    static func text(_ rc: Int32) -> String {
        var s = String(cString: mosquitto_strerror(rc))
        if s.hasSuffix(".") { s.removeLast() }
        return s.prefix(1).lowercased() + s.dropFirst()
    }
}
