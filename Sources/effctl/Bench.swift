import ArgumentParser
import EffEngine
import EffScheduler
import Foundation

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Time inference on a model: latency percentiles and throughput.",
        discussion: """
            Runs the model on a fixed pseudo-random input after warm-up runs and prints the ISA, \
            threads, median and 90th-percentile latency and inferences per second. With --streams S, \
            S independent frames are in flight at once (one engine each, run as jobs on the one \
            pool of --threads lanes) and the figure is the total throughput.
            """)

    @OptionGroup var options: EngineOptions
    @Option(help: "Timed inferences (per stream).") var iterations: Int = 50
    @Option(help: "Untimed warm-up inferences (per stream).") var warmup: Int = 5
    @Option(help: "Independent frames in flight at once, sharing the pool.") var streams: Int = 1
    @Option(help: ArgumentHelp("Pause between inferences, in ms, as frames from a camera would (idle workers then park and must be woken).",
                               valueName: "ms")) var gapMs: Double = 0
    @Flag(help: "One JSON object.") var json = false
    @Flag(help: "Also print the time per operator kind and per layer (from a separate set of runs).") var profile = false

    func validate() throws {
        guard iterations >= 1, warmup >= 0, streams >= 1, streams <= 64 else {
            throw ValidationError("--iterations ≥ 1, --warmup ≥ 0 and --streams between 1 and 64")
        }
        guard gapMs >= 0, gapMs <= 10_000 else { throw ValidationError("--gap-ms between 0 and 10000") }
    }

    static func input(bytes: Int) -> [UInt8] {
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        return (0..<bytes).map { _ in
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return UInt8(truncatingIfNeeded: state >> 56)
        }
    }

    /// Latencies in ms of `warmup + runs` inferences, the warm-up ones dropped.
    func timeRuns(_ engine: Engine, _ input: [UInt8]) throws -> [Double] {
        var output = [UInt8](repeating: 0, count: engine.plan.output.byteCount)
        var times: [Double] = []
        try input.withUnsafeBytes { i in
            try output.withUnsafeMutableBytes { o in
                for r in 0..<(warmup + iterations) {
                    if gapMs > 0 { usleep(UInt32(gapMs * 1000)) }
                    let start = DispatchTime.now().uptimeNanoseconds
                    try engine.run(input: i, output: o)
                    if r >= warmup { times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6) }
                }
            }
        }
        return times
    }

    func run() throws {
        try reportingErrors {
            let modelPath = options.modelPath
            let first = try options.engine()
            let plan = first.plan
            let threads = first.pool?.threadCount ?? 1
            let engines = [first] + (1..<streams).map { _ in Engine(plan: plan, pool: first.pool) }
            let input = Self.input(bytes: plan.input.byteCount)

            // Streams are whole-frame jobs on the same pool (its lanes run frames and steal
            // each other's tiles when idle), so --threads bounds the threads used in all.
            var perStream = [[Double]](repeating: [], count: streams)
            var failure: Error?
            let lock = NSLock()
            let wall = DispatchTime.now().uptimeNanoseconds
            let stream = { (s: Int) in
                do {
                    let t = try timeRuns(engines[s], input)
                    lock.withLock { perStream[s] = t }
                } catch { lock.withLock { failure = error } }
            }
            if let pool = first.pool, streams > 1 {
                let jobs = (0..<streams).map { s in pool.submit { stream(s) } }
                jobs.forEach { $0.wait() }
            } else {
                (0..<streams).forEach(stream)
            }
            if let failure { throw failure }
            let wallMs = Double(DispatchTime.now().uptimeNanoseconds - wall) / 1e6
            let times = perStream.flatMap { $0 }.sorted()
            let median = times[times.count / 2], p90 = times[min(times.count - 1, times.count * 9 / 10)]
            // One stream: 1 / median latency. Several: all timed frames over the wall time
            // (warm-up included in the wall time, so slightly pessimistic).
            let perSecond = streams == 1 ? 1000 / median : Double(streams * (iterations + warmup)) / wallMs * 1000
            if profile { try printProfile(first, input) }
            if json {
                let obj: [String: Any] = ["model": modelPath, "isa": plan.isa, "threads": threads, "streams": streams, "gap_ms": gapMs,
                                          "iterations": times.count, "p50_ms": median, "p90_ms": p90, "min_ms": times[0],
                                          "inferences_per_s": perSecond, "gmacs": Double(plan.macs) * perSecond / 1e9,
                                          "macs": plan.macs, "arena_bytes": plan.arenaSize, "worker_parks": first.pool?.workerParks ?? 0]
                print(String(decoding: try JSONSerialization.data(withJSONObject: obj, options: [.sortedKeys, .withoutEscapingSlashes]), as: UTF8.self))
            } else {
                print("model \(modelPath)\nisa \(plan.isa), threads \(threads), streams \(streams)\(gapMs > 0 ? ", gap \(gapMs) ms" : ""), \(plan.summary)")
                print(String(format: "iterations %d  p50 %.2f ms  p90 %.2f ms  min %.2f ms  %.1f inferences/s  %.1f GMAC/s",
                             times.count, median, p90, times[0], perSecond, Double(plan.macs) * perSecond / 1e9))
                if let pool = first.pool { print("worker parks \(pool.workerParks) (times an idle worker went to sleep, warm-up included)") }
            }
        }
    }

    /// Median time per operator (from the observer's timestamps), summed by operator kind.
    func printProfile(_ engine: Engine, _ input: [UInt8]) throws {
        let ops = engine.plan.graph.operators
        var perOp = [[Double]](repeating: [], count: ops.count)
        var output = [UInt8](repeating: 0, count: engine.plan.output.byteCount)
        try input.withUnsafeBytes { i in
            try output.withUnsafeMutableBytes { o in
                for _ in 0..<iterations {
                    var last = DispatchTime.now().uptimeNanoseconds
                    try engine.run(input: i, output: o) { op, _, _ in
                        let now = DispatchTime.now().uptimeNanoseconds
                        perOp[op].append(Double(now - last) / 1e6)
                        last = now
                    }
                }
            }
        }
        var byKind: [String: (ms: Double, count: Int, macs: Int)] = [:]
        var layers: [String] = []
        for (i, samples) in perOp.enumerated() where !samples.isEmpty {
            let median = samples.sorted()[samples.count / 2]
            // A fused step is named after its first operator (the convolution), plus the rest.
            let fused = engine.plan.fusedOps[i] ?? []
            let op = ops[fused.first ?? i]
            var name = op.kind.name
            let out = engine.plan.graph.tensors[ops[i].outputs[0]].shape
            var macs = 0
            if case let .conv2D(o) = op.kind {
                let w = engine.plan.graph.tensors[op.inputs[1]].shape
                name += w[1] == 1 && w[2] == 1 ? " 1x1" : " \(w[1])x\(w[2]) s\(o.strideH)"
                macs = out.reduce(1, *) * w[1] * w[2] * w[3]
            }
            if case let .depthwiseConv2D(o) = op.kind {
                let w = engine.plan.graph.tensors[op.inputs[1]].shape
                name += " \(w[1])x\(w[2]) s\(o.strideH)"
                macs = out.reduce(1, *) * w[1] * w[2]
            }
            if case .fullyConnected = op.kind {
                macs = engine.plan.graph.tensors[op.inputs[1]].elementCount * (out.reduce(1, *) / (engine.plan.graph.tensors[op.inputs[1]].shape.first ?? 1))
            }
            if !fused.isEmpty {
                let rest = (fused.dropFirst() + [i]).map { ops[$0].kind.name }
                name += rest == ["LOGISTIC", "MUL"] ? " +swish" : " +" + rest.joined(separator: "+")
            }
            byKind[name, default: (0, 0, 0)].ms += median
            byKind[name, default: (0, 0, 0)].count += 1
            byKind[name, default: (0, 0, 0)].macs += macs
            let gmacs = macs > 0 ? String(format: "%7.1f GMAC/s", Double(macs) / median / 1e6) : ""
            layers.append(String(format: "  %3d  ", i) + name.padding(toLength: 30, withPad: " ", startingAt: 0)
                          + "\(out)".padding(toLength: 20, withPad: " ", startingAt: 0) + String(format: "%7.3f ms ", median) + gmacs)
        }
        print("per operator kind (median of \(iterations) runs):")
        for (name, v) in byKind.sorted(by: { $0.value.ms > $1.value.ms }) {
            let gmacs = v.macs > 0 ? String(format: "  %6.1f GMAC/s", Double(v.macs) / v.ms / 1e6) : ""
            print("  " + name.padding(toLength: 30, withPad: " ", startingAt: 0) + String(format: "%3d ops  %7.3f ms", v.count, v.ms) + gmacs)
        }
        print("per layer:")
        layers.forEach { print($0) }
    }
}
