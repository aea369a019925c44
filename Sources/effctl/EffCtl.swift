import ArgumentParser
import EffCapture
import EffEngine
import EffModel
import Foundation

@main
struct EffCtl: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "effctl",
        abstract: "effnetd's command-line tool: classify images, run raw tensors through a model.",
        subcommands: [Classify.self, Infer.self, Bench.self])
}

/// Where the bundled model and labels are looked for when no path is given.
enum Defaults {
    static let modelName = "efficientnet-lite0-int8.tflite"
    static let labelsName = "imagenet-labels.txt"

    static func find(_ name: String) -> String {
        let exe = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        var dirs: [String] = []
        if let env = ProcessInfo.processInfo.environment["EFFNETD_MODEL_DIR"] { dirs.append(env) }
        dirs += ["models", exe.appendingPathComponent("../share/effnetd/models").path,
                 exe.appendingPathComponent("../../../models").path, "/usr/share/effnetd/models"]
        for d in dirs {
            let p = (d as NSString).appendingPathComponent(name)
            if FileManager.default.fileExists(atPath: p) { return p }
        }
        return "models/\(name)"
    }
}

struct Failure: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

/// Runs `body`, turning any error into a one-line message on stderr and exit status 1.
func reportingErrors<T>(_ body: () throws -> T) throws -> T {
    do { return try body() } catch let exit as ExitCode {
        throw exit
    } catch {
        FileHandle.standardError.write(Data("effctl: \(error)\n".utf8))
        throw ExitCode.failure
    }
}

func loadPlan(_ path: String) throws -> Plan {
    do { return try Plan(modelPath: path) } catch let e as ModelError {
        if case .io = e { throw Failure("\(e)") }
        throw Failure("\(path): \(e)")
    } catch { throw Failure("\(path): \(error)") }
}

struct Classify: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Classify images (JPEG, PNG, PPM) and print the top classes.")

    @Argument(help: "Image files.") var images: [String]
    @Option(help: "Model (.tflite, int8).") var model: String?
    @Option(help: "Labels file, one class name a line.") var labels: String?
    @Option(help: "How many classes to print.") var top: Int = 5
    @Flag(help: "One JSON object a line.") var json = false

    func run() throws {
        try reportingErrors {
            let modelPath = model ?? Defaults.find(Defaults.modelName)
            let plan = try loadPlan(modelPath)
            let names = try Classification.loadLabels(path: labels ?? Defaults.find(Defaults.labelsName))
            let spec = plan.input
            guard spec.type == .int8, spec.shape.count == 4, spec.shape[0] == 1, spec.shape[3] == 3 else {
                throw Failure("\(modelPath): classify needs an int8 input of shape [1, H, W, 3]; this model's is \(spec.type) \(spec.shape)")
            }
            let engine = Engine(plan: plan)
            let pre = Preprocessor(width: spec.shape[2], height: spec.shape[1], scale: spec.scale, zeroPoint: spec.zeroPoint)
            var input = [Int8](repeating: 0, count: spec.byteCount)
            var output = [Int8](repeating: 0, count: plan.output.byteCount)
            var failed = false
            for path in images {
                do {
                    let image = try ImageDecoder.decode(path: path)
                    input.withUnsafeMutableBufferPointer { pre.run(image, into: $0) }
                    let start = DispatchTime.now().uptimeNanoseconds
                    try input.withUnsafeBytes { i in try output.withUnsafeMutableBytes { o in try engine.run(input: i, output: o) } }
                    let ms = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6
                    let best = output.withUnsafeBufferPointer {
                        Classification.topK(logits: $0, scale: plan.output.scale, zeroPoint: plan.output.zeroPoint, k: top, labels: names)
                    }
                    print(json ? jsonLine(path, best, ms) : table(path, best, ms))
                } catch {
                    FileHandle.standardError.write(Data("effctl: \(error)\n".utf8))
                    failed = true
                }
            }
            if failed { throw ExitCode.failure }
        }
    }

    func table(_ path: String, _ best: [ClassScore], _ ms: Double) -> String {
        var s = "\(path)  (inference \(String(format: "%.1f", ms)) ms)\n"
        for c in best { s += String(format: "  %6.2f%%  %4d  %@\n", c.score * 100, c.index, c.label) }
        return String(s.dropLast())
    }

    func jsonLine(_ path: String, _ best: [ClassScore], _ ms: Double) -> String {
        let top = best.map { ["class": $0.index, "label": $0.label, "score": $0.score] as [String: Any] }
        let obj: [String: Any] = ["image": path, "latency_ms": ms, "top": top]
        let data = try! JSONSerialization.data(withJSONObject: obj, options: [.sortedKeys, .withoutEscapingSlashes])
        return String(decoding: data, as: UTF8.self)
    }
}

struct Infer: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run one raw input tensor through a model and write the raw output tensor.",
        discussion: "The input file holds exactly the model's input tensor (NHWC, its own type); the output file receives the model's output tensor bytes.")

    @Option(help: "Model (.tflite).") var model: String?
    @Option(help: "Raw input tensor file.") var input: String
    @Option(help: "Raw output tensor file.") var output: String
    @Option(help: "Also write every operator's output as DIR/opNNN_tTTT.bin.") var dump: String?

    func run() throws {
        try reportingErrors {
            let modelPath = model ?? Defaults.find(Defaults.modelName)
            let plan = try loadPlan(modelPath)
            guard let data = FileManager.default.contents(atPath: input) else { throw Failure("\(input): cannot read the file") }
            guard data.count == plan.input.byteCount else {
                throw Failure("\(input): \(data.count) bytes, but the model's input \(plan.input.shape) \(plan.input.type) is \(plan.input.byteCount) bytes")
            }
            if let dump { try FileManager.default.createDirectory(atPath: dump, withIntermediateDirectories: true) }
            let engine = Engine(plan: plan)
            var out = Data(count: plan.output.byteCount)
            try data.withUnsafeBytes { i in
                try out.withUnsafeMutableBytes { o in
                    try engine.run(input: i, output: o, observe: dump.map { dir in
                        { op, tensor, bytes in
                            let name = String(format: "%@/op%03d_t%d.bin", dir, op, tensor)
                            FileManager.default.createFile(atPath: name, contents: Data(bytes))
                        }
                    })
                }
            }
            guard FileManager.default.createFile(atPath: output, contents: out) else { throw Failure("\(output): cannot write the file") }
        }
    }
}

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Time inference on a model: latency percentiles and throughput.",
        discussion: "Runs the model on a fixed pseudo-random input after warm-up runs and prints the ISA, the median and 90th-percentile latency and inferences per second.")

    @Option(help: "Model (.tflite).") var model: String?
    @Option(help: "Timed runs.") var runs: Int = 50
    @Option(help: "Untimed warm-up runs.") var warmup: Int = 5
    @Flag(help: "One JSON object.") var json = false

    func run() throws {
        try reportingErrors {
            let modelPath = model ?? Defaults.find(Defaults.modelName)
            let plan = try loadPlan(modelPath)
            let engine = Engine(plan: plan)
            var state: UInt64 = 0x9E37_79B9_7F4A_7C15
            var input = [UInt8](repeating: 0, count: plan.input.byteCount)
            for i in input.indices {
                state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                input[i] = UInt8(truncatingIfNeeded: state >> 56)
            }
            var output = [UInt8](repeating: 0, count: plan.output.byteCount)
            var times: [Double] = []
            try input.withUnsafeBytes { i in
                try output.withUnsafeMutableBytes { o in
                    for r in 0..<(warmup + max(runs, 1)) {
                        let start = DispatchTime.now().uptimeNanoseconds
                        try engine.run(input: i, output: o)
                        if r >= warmup { times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6) }
                    }
                }
            }
            times.sort()
            let median = times[times.count / 2], p90 = times[min(times.count - 1, times.count * 9 / 10)]
            let perSecond = 1000 / median
            if json {
                let obj: [String: Any] = ["model": modelPath, "isa": plan.isa, "runs": times.count, "median_ms": median,
                                          "p90_ms": p90, "min_ms": times[0], "inferences_per_s": perSecond,
                                          "macs": plan.macs, "arena_bytes": plan.arenaSize]
                print(String(decoding: try JSONSerialization.data(withJSONObject: obj, options: [.sortedKeys, .withoutEscapingSlashes]), as: UTF8.self))
            } else {
                print("model \(modelPath)\nisa \(plan.isa), \(plan.summary)")
                print(String(format: "runs %d  median %.2f ms  p90 %.2f ms  min %.2f ms  %.1f inferences/s  %.1f GMAC/s",
                             times.count, median, p90, times[0], perSecond, Double(plan.macs) / median / 1e6))
            }
        }
    }
}
