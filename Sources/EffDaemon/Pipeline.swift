import EffCapture
import EffEngine
import EffScheduler
import EffWire
import Foundation
import Logging

/// One finished inference, on its way to subscribers.
public struct PredictionEvent: Sendable {
    public var camera: String
    /// Per camera, +1 for every prediction made (subscribed or not), across reloads.
    public var seq: UInt64
    public var stamp: FrameStamp
    /// `stamp.wall` as RFC 3339, formatted once for every subscriber.
    public var capturedAt: String
    public var inferenceMs: Double
    /// The best classes, best first; as many as the most demanding subscriber wants.
    public var top: [TopClass]
}

/// Where pipelines hand their predictions (the socket server). `publish` must not block.
public protocol PredictionSink: AnyObject, Sendable {
    func publish(_ event: PredictionEvent)
    /// How many classes the pipelines should rank (the largest top_k any subscriber or
    /// the config asks for).
    var wantedTopK: Int { get }
    /// False while nobody subscribes: the pipeline then builds no event at all.
    var hasSubscribers: Bool { get }
    /// The camera's prediction counter; the same object for the same name across reloads.
    func sequence(for camera: String) -> SequenceCounter
}

/// A camera's prediction sequence number.
public final class SequenceCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var value: UInt64 = 0
    public init() {}
    public func next() -> UInt64 { lock.withLock { value += 1; return value } }
}

/// The model shared by every pipeline: one plan (weights packed once), one pool.
public final class ModelRuntime: @unchecked Sendable {
    public let plan: Plan
    public let pool: WorkerPool?
    public let labels: [String]
    public let modelPath: String
    public let labelsPath: String
    public let threads: Int

    public var modelName: String { (modelPath as NSString).lastPathComponent }

    public init(config: DaemonConfig) throws {
        let plan: Plan
        do { plan = try Plan(modelPath: config.modelPath, isa: config.isa) } catch {
            throw ConfigError(file: config.file, key: "model.path", message: "\(config.modelPath): \(error)")
        }
        let spec = plan.input
        guard spec.type == .int8, spec.shape.count == 4, spec.shape[0] == 1, spec.shape[3] == 3 else {
            throw ConfigError(file: config.file, key: "model.path",
                              message: "\(config.modelPath): the daemon needs an int8 input of shape [1, H, W, 3]; this model's is \(spec.type) \(spec.shape)")
        }
        let labels: [String]
        do { labels = try Classification.loadLabels(path: config.labelsPath) } catch {
            throw ConfigError(file: config.file, key: "model.labels", message: "\(config.labelsPath): cannot read the labels: \(error.localizedDescription)")
        }
        let outputs = plan.output.shape.reduce(1, *)
        guard labels.count == outputs else {
            throw ConfigError(file: config.file, key: "model.labels",
                              message: "\(config.labelsPath) has \(labels.count) labels; the model has \(outputs) classes")
        }
        let cpus = config.cpus
        let lanes = config.threads == 0 ? (cpus?.count ?? ProcessInfo.processInfo.activeProcessorCount) : config.threads
        self.plan = plan
        self.labels = labels
        modelPath = config.modelPath
        labelsPath = config.labelsPath
        threads = lanes
        pool = lanes == 1 ? nil : WorkerPool(threads: lanes, cpus: cpus)
    }

    public func shutdown() { pool?.shutdown() }
}

/// One camera: a capture thread that converts each frame into the newest-frame slot, and
/// an inference thread that runs the model on the newest frame and hands the result to
/// the sink. Capture never waits for inference; inference never waits for subscribers.
public final class Pipeline: @unchecked Sendable {
    public let config: CameraConfig
    let source: FrameSource
    let runtime: ModelRuntime
    private let engine: Engine
    private let converter: FrameConverter
    private let slot: FrameSlot
    let stats = PipelineStats()
    private weak var sink: PredictionSink?
    private let logger: Logger
    private let stopLock = NSLock()
    private var stopping = false
    private var threads: [Thread] = []
    private let finished = DispatchSemaphore(value: 0)
    private var output: [Int8]
    private let sequence: SequenceCounter
    // Ranking scratch (softmax probabilities, best indices), so ranking allocates nothing.
    private var probabilities: [Double]
    private var best: [Int]
    // Written by the capture thread only, read under `stats`' lock via `sourceSnapshot`.
    private let sourceLock = NSLock()
    private var sourceState = SourceState.idle
    private var sourceCounters = SourceCounters()

    public init(config: CameraConfig, runtime: ModelRuntime, sink: PredictionSink, logger: Logger) throws {
        self.config = config
        self.runtime = runtime
        self.sink = sink
        var log = logger
        log[metadataKey: "camera"] = .string(config.name)
        self.logger = log
        switch config.source {
        case .images(let path):
            do { source = try ImageFileSource(path: path, fps: config.fps) } catch {
                throw ConfigError(file: "", key: "camera \(config.name).images", message: "\(error)")
            }
        case .device(let path):
            var c = V4L2Camera.Config(device: path, request: CaptureRequest(width: config.width, height: config.height,
                                                                            fps: config.fps, format: config.format))
            c.frameTimeout = max(2, 3 / config.fps)
            let camera = V4L2Camera(c)
            let l = log
            camera.log = { l.notice("\($0)") }
            source = camera
        }
        let spec = runtime.plan.input
        engine = Engine(plan: runtime.plan, pool: runtime.pool)
        converter = FrameConverter(width: spec.shape[2], height: spec.shape[1], scale: spec.scale, zeroPoint: spec.zeroPoint)
        slot = FrameSlot(tensorBytes: spec.byteCount)
        output = [Int8](repeating: 0, count: runtime.plan.output.byteCount)
        sequence = sink.sequence(for: config.name)
        probabilities = [Double](repeating: 0, count: runtime.plan.output.byteCount)
        best = [Int](repeating: 0, count: runtime.plan.output.byteCount)
    }

    public var name: String { config.name }

    private var isStopping: Bool { stopLock.withLock { stopping } }

    public func start() {
        let capture = Thread { [self] in
            WorkerPool.nameCurrentThread("capture \(config.name)")
            captureLoop()
            finished.signal()
        }
        let inference = Thread { [self] in
            WorkerPool.nameCurrentThread("infer \(config.name)")
            // On the CPU the pool leaves to callers: woken after an idle gap on a worker's
            // CPU, it would keep that worker off its own frame.
            engine.pool?.pinCallingThread()
            inferenceLoop()
            finished.signal()
        }
        threads = [capture, inference]
        capture.start()
        inference.start()
    }

    /// Stops both threads: capture first, then inference after its current frame, and
    /// closes the device. False when they did not end within `timeout` seconds (a driver
    /// call that hangs): they are then left to end on their own.
    @discardableResult
    public func stop(timeout: Double = 5) -> Bool {
        stopLock.withLock { stopping = true }
        slot.close()
        let deadline = DispatchTime.now() + timeout
        for _ in threads where finished.wait(timeout: deadline) == .timedOut { return false }
        threads = []
        return true
    }

    private func captureLoop() {
        var lastState = SourceState.idle
        var lastError: UInt64 = 0
        while !isStopping {
            let got = source.next(timeout: 0.25) { frame in
                let now = MonotonicClock.nanoseconds(), wall = wallNanos()
                let mono = frame.timestamp > 0 && frame.timestamp <= now ? frame.timestamp : now
                let stamp = FrameStamp(monotonic: mono, wall: wall &- (now &- mono), sequence: frame.sequence)
                stats.frameArrived(format: frame.format.fourccName, width: frame.width, height: frame.height)
                do {
                    try slot.publish(stamp) { try converter.convert(frame, into: $0) }
                } catch {
                    stats.convertFailed()
                    // One line per 100 bad frames, so a broken stream cannot flood the journal.
                    let n = stats.convertErrorCount
                    if n - lastError >= 100 || lastError == 0 {
                        logger.warning("frame skipped: \(error)", metadata: ["errors": "\(n)"])
                        lastError = n
                    }
                }
            }
            _ = got
            let state = source.state
            sourceLock.withLock { sourceState = state; sourceCounters = source.counters }
            if state != lastState {
                if case .failed = state { logger.error("camera \(state)") } else { logger.info("camera \(state)") }
                lastState = state
            }
            stats.captureAlive()
        }
        source.close()
        sourceLock.withLock { sourceState = source.state }
    }

    /// Fault injection for the watchdog test: EFFNETD_TEST_HANG="camera:seconds" makes that
    /// camera's inference thread hang once, after its first prediction.
    private lazy var testHang: Double? = {
        guard let v = ProcessInfo.processInfo.environment["EFFNETD_TEST_HANG"] else { return nil }
        let parts = v.split(separator: ":")
        guard parts.count == 2, parts[0] == config.name else { return nil }
        return Double(parts[1])
    }()

    private func inferenceLoop() {
        while !isStopping {
            if let hang = testHang, stats.inferenceCount > 0 {
                testHang = nil
                logger.warning("EFFNETD_TEST_HANG: hanging for \(hang) s")
                Thread.sleep(forTimeInterval: hang)
            }
            stats.inferenceAlive()
            guard let (tensor, stamp) = slot.take(timeout: 0.5) else { continue }
            let start = MonotonicClock.nanoseconds()
            do {
                try output.withUnsafeMutableBytes { out in
                    try engine.run(input: UnsafeRawBufferPointer(tensor), output: out)
                }
            } catch {
                // Sizes are fixed by the plan, so this cannot happen; say so loudly if it does.
                logger.critical("inference failed: \(error)")
                continue
            }
            let ready = MonotonicClock.nanoseconds()
            let latency = Double(ready &- stamp.monotonic) / 1e6
            stats.inferred(latencyMs: latency)
            let seq = sequence.next()
            // Nobody listening: nothing more to do, and nothing allocated for this frame.
            guard let sink, sink.hasSubscribers else { continue }
            let spec = runtime.plan.output
            let k = output.withUnsafeBufferPointer { logits in
                probabilities.withUnsafeMutableBufferPointer { p in
                    best.withUnsafeMutableBufferPointer { b in
                        Classification.rank(logits: logits, scale: spec.scale, zeroPoint: spec.zeroPoint, probabilities: p,
                                            best: UnsafeMutableBufferPointer(rebasing: b[0..<min(sink.wantedTopK, b.count)]))
                    }
                }
            }
            var top: [TopClass] = []
            top.reserveCapacity(k)
            for i in best[0..<k] { top.append(TopClass(class: i, label: runtime.labels[i], score: probabilities[i])) }
            sink.publish(PredictionEvent(camera: config.name, seq: seq, stamp: stamp,
                                         capturedAt: RFC3339.format(unixNanoseconds: stamp.wall), inferenceMs: Double(ready - start) / 1e6, top: top))
        }
    }

    /// Seconds since either thread last showed life (the watchdog's test of progress).
    public func stalledFor() -> Double {
        Double(MonotonicClock.nanoseconds() &- stats.oldestBeat) / 1e9
    }

    public func status(subscribers: Int) -> CameraStatus {
        let s = stats.snapshot()
        let (state, counters) = sourceLock.withLock { (sourceState, sourceCounters) }
        return CameraStatus(name: config.name, source: config.sourceDescription, state: state.description, format: s.format,
                            width: s.width, height: s.height, framesPerS: s.framesPerS, inferencesPerS: s.inferencesPerS,
                            frames: s.frames, inferences: s.inferences, dropped: slot.replacedCount + counters.dropped,
                            errors: counters.errors + s.convertErrors, latencyP50Ms: s.p50, latencyP99Ms: s.p99,
                            subscribers: subscribers)
    }
}
