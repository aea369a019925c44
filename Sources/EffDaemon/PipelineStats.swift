import EffCapture
import Foundation


@inline(__always) func wallNanos() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_REALTIME, &ts)
    return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
}

/// A fixed ring of recent samples (no allocation after init).
struct SampleRing {
    private var values: [Double]
    private var next = 0
    private(set) var count = 0
    init(capacity: Int) { values = [Double](repeating: 0, count: capacity) }

    mutating func add(_ v: Double) {
        values[next] = v
        next = (next + 1) % values.count
        count = min(count + 1, values.count)
    }

    /// The samples, oldest first.
    var samples: [Double] {
        count < values.count ? Array(values[0..<count]) : Array(values[next...] + values[..<next])
    }

    func percentile(_ p: Double) -> Double {
        let s = samples.sorted()
        guard !s.isEmpty else { return 0 }
        let i = min(s.count - 1, max(0, Int((p * Double(s.count)).rounded(.up)) - 1))
        return s[i]
    }

    /// Events per second over the samples (times in seconds) of the last `window`
    /// seconds; 0 when fewer than two fall in it.
    func rate(now: Double, window: Double) -> Double {
        let recent = samples.filter { now - $0 <= window }
        guard recent.count >= 2, let first = recent.first, let last = recent.last, last > first else { return 0 }
        return Double(recent.count - 1) / (last - first)
    }
}

/// What a pipeline reports for `status`; updated by its two threads under one lock.
final class PipelineStats: @unchecked Sendable {
    private let lock = NSLock()
    private(set) var frames: UInt64 = 0
    private(set) var inferences: UInt64 = 0
    private(set) var convertErrors: UInt64 = 0
    private(set) var format = ""
    private(set) var width = 0
    private(set) var height = 0
    private var frameTimes = SampleRing(capacity: 128)
    private var inferenceTimes = SampleRing(capacity: 128)
    private var latencies = SampleRing(capacity: 512)
    /// Monotonic nanoseconds of the last sign of life of each thread (the watchdog's input).
    private(set) var captureBeat: UInt64 = MonotonicClock.nanoseconds()
    private(set) var inferenceBeat: UInt64 = MonotonicClock.nanoseconds()

    func frameArrived(format f: String, width w: Int, height h: Int) {
        let now = Double(MonotonicClock.nanoseconds()) / 1e9
        lock.withLock {
            frames += 1
            frameTimes.add(now)
            if format != f || width != w || height != h { format = f; width = w; height = h }
        }
    }

    func convertFailed() { lock.withLock { convertErrors += 1 } }

    func inferred(latencyMs: Double) {
        let now = Double(MonotonicClock.nanoseconds()) / 1e9
        lock.withLock {
            inferences += 1
            inferenceTimes.add(now)
            latencies.add(latencyMs)
        }
    }

    func captureAlive() { let t = MonotonicClock.nanoseconds(); lock.withLock { captureBeat = t } }
    func inferenceAlive() { let t = MonotonicClock.nanoseconds(); lock.withLock { inferenceBeat = t } }

    /// The older of the two threads' heartbeats (cheap: the watchdog reads it each period).
    var oldestBeat: UInt64 { lock.withLock { min(captureBeat, inferenceBeat) } }

    var inferenceCount: UInt64 { lock.withLock { inferences } }
    var convertErrorCount: UInt64 { lock.withLock { convertErrors } }

    struct Snapshot {
        var frames: UInt64, inferences: UInt64, convertErrors: UInt64
        var format: String, width: Int, height: Int
        var framesPerS: Double, inferencesPerS: Double
        var p50: Double, p99: Double
    }

    func snapshot() -> Snapshot {
        let now = Double(MonotonicClock.nanoseconds()) / 1e9
        return lock.withLock {
            Snapshot(frames: frames, inferences: inferences, convertErrors: convertErrors, format: format, width: width,
                     height: height, framesPerS: frameTimes.rate(now: now, window: 5),
                     inferencesPerS: inferenceTimes.rate(now: now, window: 5),
                     p50: latencies.percentile(0.5), p99: latencies.percentile(0.99))
        }
    }
}
