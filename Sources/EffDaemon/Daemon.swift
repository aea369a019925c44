import EffCapture
import EffWire
import Foundation
import Logging
import ServiceLifecycle
import UnixSignals

/// The daemon: config → model runtime → one pipeline per camera → the socket server and,
/// with [mqtt], the MQTT publisher; systemd readiness, watchdog and status; SIGHUP reload;
/// graceful stop.
public final class Daemon: DaemonControl, Service, @unchecked Sendable {
    public let configPath: String
    private let socketOverride: String?
    private let logger: Logger
    private let notifier: SystemdNotifier
    public let server: SocketServer
    /// What pipelines publish to: the server, and the MQTT publisher when configured.
    private let sink: PredictionFanOut
    private let startedAt = MonotonicClock.nanoseconds()

    // Swapped by reload; read by status and the watchdog.
    private let lock = NSLock()
    private var config: DaemonConfig
    private var runtime: ModelRuntime
    private var pipelines: [Pipeline]
    private var reloads = 0
    private var reloadsRejected = 0
    private var stopped = false
    /// One reload at a time, off the event loop (planning a model takes a while).
    private let reloadQueue = DispatchQueue(label: "effnetd.reload")

    /// Reads the config, plans the model and prepares every pipeline; nothing runs yet.
    /// Throws a message naming the file and key at fault.
    public init(configPath: String, socketOverride: String? = nil, logger: Logger,
                notifier: SystemdNotifier = SystemdNotifier()) throws {
        self.configPath = configPath
        self.socketOverride = socketOverride
        self.logger = logger
        self.notifier = notifier
        HeapPolicy.configure()
        let config = try Self.loadConfig(configPath, socketOverride: socketOverride)
        DaemonLogging.setLevel(config.logLevel)
        let runtime = try ModelRuntime(config: config)
        let server = SocketServer(settings: ServerSettings(config, model: runtime.modelName), path: config.socketPath, logger: logger)
        self.config = config
        self.runtime = runtime
        self.server = server
        sink = PredictionFanOut(server: server)
        pipelines = try Self.makePipelines(config, runtime, sink, logger)
        server.control = self
        if let m = config.mqtt { sink.setPublisher(makePublisher(m, config, runtime)) }
    }

    private func makePublisher(_ m: MQTTConfig, _ c: DaemonConfig, _ rt: ModelRuntime) -> MQTTPublisher {
        MQTTPublisher(config: m, context: Self.mqttContext(c, rt), logger: logger) { [weak self] in
            guard let self else { return [] }
            return lock.withLock { self.pipelines }.map { $0.status(subscribers: 0) }
        }
    }

    static func mqttContext(_ c: DaemonConfig, _ rt: ModelRuntime) -> MQTTContext {
        MQTTContext(cameras: c.cameras.map(\.name), model: rt.modelName, topK: c.topK, minScore: c.minScore)
    }

    /// Stops an MQTT publisher (offline published, disconnected) within 2 s, or says why not.
    private func stopPublisher(_ p: MQTTPublisher) {
        if !p.stop(timeout: 2) {
            logger.warning("MQTT: the publisher did not stop within 2 s (a connect to \(p.config.broker) in progress); leaving it")
        }
    }

    static func loadConfig(_ path: String, socketOverride: String?) throws -> DaemonConfig {
        var c = try DaemonConfig.load(path: path)
        if let socketOverride { c.socketPath = socketOverride }
        return c
    }

    static func makePipelines(_ c: DaemonConfig, _ rt: ModelRuntime, _ sink: PredictionSink, _ logger: Logger) throws -> [Pipeline] {
        try c.cameras.map { cam in
            do { return try Pipeline(config: cam, runtime: rt, sink: sink, logger: logger) } catch var e as ConfigError {
                e.file = c.file
                throw e
            }
        }
    }

    /// Reads the new config and model in a child process (`effnetd --check-config`) first:
    /// a parser that aborts on some malformed input (toml++ asserts on a few) must not take
    /// the running daemon down with it.
    static func checkInChildProcess(_ path: String) throws {
        let result: (ending: ChildProcess.Ending, stderr: String)
        do { result = try ChildProcess.run("/proc/self/exe", ["--check-config", "--config", path]) } catch {
            throw ConfigError(file: path, message: "cannot start the config check: \(error)")
        }
        switch result.ending {
        case .signaled(let signal):
            throw ConfigError(file: path, message: "the config check crashed (signal \(signal)); the file is probably not valid TOML")
        case .exited(0):
            return
        case .exited(let status):
            let line = result.stderr.split(separator: "\n").first.map(String.init) ?? "exit status \(status)"
            throw CheckFailure(description: line.hasPrefix("effnetd: ") ? String(line.dropFirst(9)) : line)
        }
    }

    struct CheckFailure: Error, CustomStringConvertible { var description: String }

    // MARK: Service

    public func run() async throws {
        let c = lock.withLock { config }
        try server.start(mode: c.socketMode, group: c.socketGroup)
        for p in lock.withLock({ pipelines }) { p.start() }
        sink.publisher?.start()
        let summary = describe()
        logger.notice("serving on \(server.path): \(summary)", metadata: ["model": .string(runtime.modelPath)])
        notifier.ready(status: summary)

        // No child task throws: a plain task group (Swift 6.2 warns about `try` on a throwing
        // group whose body throws nothing; 6.3 does not).
        await withTaskGroup(of: Void.self) { tasks in
            tasks.addTask { [self] in await watchdogLoop() }
            tasks.addTask { [self] in
                for await _ in await UnixSignalsSequence(trapping: .sighup) {
                    await withCheckedContinuation { (k: CheckedContinuation<Void, Never>) in
                        reload(requestedBy: "SIGHUP") { _ in k.resume() }
                    }
                }
            }
            // Returns on SIGTERM/SIGINT (the service group's graceful shutdown).
            try? await gracefulShutdown()
            tasks.cancelAll()
        }
        stop()
    }

    /// Stops capture, lets in-flight inferences finish, sends subscribers what they can take,
    /// closes the socket. Bounded: a pipeline stuck in a driver call is left behind.
    public func stop() {
        let pipes: [Pipeline] = lock.withLock {
            if stopped { return [] }
            stopped = true
            return pipelines
        }
        notifier.stopping()
        logger.notice("stopping")
        stopAll(pipes)
        if let p = sink.publisher {
            sink.setPublisher(nil)
            stopPublisher(p)
        }
        server.shutdown()
        lock.withLock { runtime }.shutdown()
    }

    /// Stops pipelines, each within 1 s; one stuck in a driver call is left behind, logged.
    private func stopAll(_ pipes: [Pipeline]) {
        for p in pipes where !p.stop(timeout: 1) {
            logger.error("camera did not stop within 1 s; leaving it", metadata: ["camera": .string(p.name)])
        }
    }

    private func describe() -> String {
        let (c, rt) = lock.withLock { (config, runtime) }
        let cams = c.cameras.isEmpty ? "no cameras" : c.cameras.count == 1 ? "1 camera" : "\(c.cameras.count) cameras"
        let mqtt = c.mqtt.map { ", MQTT to \($0.broker)" } ?? ""
        return "\(rt.modelName) on \(rt.plan.isa), \(rt.threads) thread\(rt.threads == 1 ? "" : "s"), \(cams)\(mqtt)"
    }

    // MARK: Watchdog

    /// Sends WATCHDOG=1 only while every pipeline thread and the socket loop show life
    /// within the watchdog interval: a stuck pipeline makes systemd restart the service.
    private func watchdogLoop() async {
        let interval = notifier.watchdogInterval
        let period = min(interval.map { $0 / 3 } ?? 5, 5)
        var withheld = false
        var lastStatus = ""
        while !Task.isCancelled {
            try? await Task.sleep(nanoseconds: UInt64(period * 1e9))
            if Task.isCancelled { break }
            let pipes = lock.withLock { pipelines }
            let limit = interval ?? 30
            var stuck: [String] = pipes.filter { $0.stalledFor() > limit }.map(\.name)
            if server.loopStalledFor() > limit { stuck.append("socket server") }
            if stuck.isEmpty {
                if interval != nil { notifier.watchdog() }
                if withheld { logger.notice("all pipelines make progress again") }
                withheld = false
            } else if !withheld {
                logger.critical("no progress for over \(Int(limit)) s: \(stuck.joined(separator: ", ")); withholding the watchdog ping")
                withheld = true
            }
            let rate = pipes.map { $0.stats.snapshot().inferencesPerS }.reduce(0, +)
            let line = stuck.isEmpty ? "\(describe()); \(String(format: "%.1f", rate)) inferences/s" : "stuck: \(stuck.joined(separator: ", "))"
            if line != lastStatus { notifier.status(line); lastStatus = line }
        }
    }

    // MARK: DaemonControl

    public func status(clients: Int, subscribers: [String: Int]) -> Status {
        let (rt, pipes, r, rr) = lock.withLock { (runtime, pipelines, reloads, reloadsRejected) }
        return Status(version: EffnetdVersion.string, pid: Int(getpid()), uptimeS: Double(MonotonicClock.nanoseconds() - startedAt) / 1e9,
                      model: rt.modelName, isa: rt.plan.isa, threads: rt.threads, clients: clients, reloads: r,
                      reloadsRejected: rr, cameras: pipes.map { $0.status(subscribers: subscribers[$0.name] ?? 0) },
                      mqtt: sink.publisher?.status())
    }

    /// Reads the config file again and, if it and its model are good, swaps in new
    /// pipelines; subscribers stay connected and `seq` continues per camera name. A bad
    /// config is rejected and the running one kept.
    public func reload(requestedBy who: String, done: @escaping @Sendable (Reloaded) -> Void) {
        reloadQueue.async { [self] in
            let result = swapIn(requestedBy: who)
            // The old model, or the rejected new one, is gone by now.
            HeapPolicy.releaseFreeMemory()
            done(result)
        }
    }

    /// Builds the new config, model and pipelines, then stops the old pipelines and starts
    /// the new ones; any error before the swap leaves the running ones untouched.
    private func swapIn(requestedBy who: String) -> Reloaded {
        if lock.withLock({ stopped }) { return Reloaded(ok: false, message: "the daemon is stopping") }
        notifier.reloading()
        let old = lock.withLock { config }
        do {
            try Self.checkInChildProcess(configPath)
            let new = try Self.loadConfig(configPath, socketOverride: socketOverride)
            let rt = try ModelRuntime(config: new)
            let pipes = try Self.makePipelines(new, rt, sink, logger)
            var notes: [String] = []
            if new.socketPath != old.socketPath || new.socketMode != old.socketMode || new.socketGroup != old.socketGroup {
                notes.append("socket path, mode and group take effect at restart")
            }
            let (oldPipes, oldRuntime) = lock.withLock { (pipelines, runtime) }
            stopAll(oldPipes)
            var applied = new
            applied.socketPath = old.socketPath; applied.socketMode = old.socketMode; applied.socketGroup = old.socketGroup
            lock.withLock {
                config = applied
                runtime = rt
                pipelines = pipes
                reloads += 1
            }
            oldRuntime.shutdown()
            server.update(ServerSettings(applied, model: rt.modelName))
            DaemonLogging.setLevel(applied.logLevel)
            for p in pipes { p.start() }
            // [mqtt] changed: the old publisher says offline and goes, then the new one
            // connects (in that order, so the retained status ends "online"). Unchanged: the
            // publisher stays connected and learns the new cameras and model.
            if applied.mqtt != old.mqtt {
                if let p = sink.publisher {
                    sink.setPublisher(nil)
                    stopPublisher(p)
                }
                if let m = applied.mqtt {
                    let p = makePublisher(m, applied, rt)
                    sink.setPublisher(p)
                    p.start()
                }
                notes.append(applied.mqtt.map { "MQTT now to \($0.broker)" } ?? "MQTT off")
            } else {
                sink.publisher?.update(Self.mqttContext(applied, rt))
            }
            let message = "reloaded \(configPath): \(describe())" + (notes.isEmpty ? "" : " (\(notes.joined(separator: "; ")))")
            logger.notice("\(message)", metadata: ["requested_by": .string(who)])
            notifier.readyAfterReload()
            return Reloaded(ok: true, message: message)
        } catch {
            lock.withLock { reloadsRejected += 1 }
            logger.error("reload rejected, the running config is kept: \(error)", metadata: ["requested_by": .string(who)])
            notifier.readyAfterReload()
            return Reloaded(ok: false, message: "rejected, the running config is kept: \(error)")
        }
    }
}
