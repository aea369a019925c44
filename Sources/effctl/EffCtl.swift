import ArgumentParser
import EffCapture
import EffEngine
import EffModel
import EffScheduler
import EffWire
import Foundation

@main
struct EffCtl: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "effctl",
        abstract: "effnetd's command-line tool: classify images, run raw tensors through a model.",
        subcommands: [Classify.self, Infer.self, Bench.self, Cameras.self, Snapshot.self, CaptureTest.self, StatusCommand.self, WatchCommand.self, ReloadCommand.self])
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

/// Options every command that runs a model takes.
struct EngineOptions: ParsableArguments {
    @Option(help: "Model (.tflite, int8).") var model: String?
    @Option(help: "Worker threads (lanes) for one inference; 0 = one per online core.") var threads: Int = 1
    @Option(help: "Kernel instruction set: scalar, avx2, avx512vnni, neon, neondot (default: the best this CPU has, or $EFFNETD_ISA).")
    var isa: String?
    @Flag(help: "Run every operator as its own step (no swish tables, no table epilogues on convolutions): same bytes, for comparison.")
    var noFusion = false
    @Flag(help: "Do not pin the worker threads or the calling thread to CPUs (better on a host whose CPUs other processes keep busy).")
    var noPin = false

    var modelPath: String { model ?? Defaults.find(Defaults.modelName) }

    func validate() throws {
        guard threads >= 0, threads <= 1024 else { throw ValidationError("--threads must be between 0 and 1024") }
    }

    func engine() throws -> Engine {
        let plan = try loadPlan(modelPath, isa: isa, fusion: !noFusion)
        let pool = threads == 1 ? nil : WorkerPool(threads: threads == 0 ? nil : threads, pin: !noPin)
        pool?.pinCallingThread() // this thread runs the frames: keep it off the workers' CPUs
        return Engine(plan: plan, pool: pool)
    }
}

func loadPlan(_ path: String, isa: String? = nil, fusion: Bool = true) throws -> Plan {
    do { return try Plan(modelPath: path, isa: isa, fusion: fusion) } catch let e as PlanError {
        if case .isa = e { throw Failure("\(e)") }
        throw Failure("\(path): \(e)")
    } catch let e as ModelError {
        if case .io = e { throw Failure("\(e)") }
        throw Failure("\(path): \(e)")
    } catch { throw Failure("\(path): \(error)") }
}

struct Classify: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Classify images (JPEG, PNG, PPM) and print the top classes.")

    @Argument(help: "Image files.") var images: [String]
    @OptionGroup var options: EngineOptions
    @Option(help: "Labels file, one class name a line.") var labels: String?
    @Option(help: "How many classes to print.") var top: Int = 5
    @Flag(help: "One JSON object a line.") var json = false

    func run() throws {
        try reportingErrors {
            let modelPath = options.modelPath
            let engine = try options.engine()
            let plan = engine.plan
            let names = try Classification.loadLabels(path: labels ?? Defaults.find(Defaults.labelsName))
            let spec = plan.input
            guard spec.type == .int8, spec.shape.count == 4, spec.shape[0] == 1, spec.shape[3] == 3 else {
                throw Failure("\(modelPath): classify needs an int8 input of shape [1, H, W, 3]; this model's is \(spec.type) \(spec.shape)")
            }
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

    /// EffWire's writer: scores in Swift's shortest round-trip form (Foundation's
    /// serializer rounds doubles to 15 digits), so they read back bit for bit.
    func jsonLine(_ path: String, _ best: [ClassScore], _ ms: Double) -> String {
        var w = JSONWriter()
        w.object { o in
            o.field("image", path)
            o.field("latency_ms", ms)
            o.array("top") { a in
                for c in best { a.object { TopClass(class: c.index, label: c.label, score: c.score).write(to: &$0) } }
            }
        }
        return w.string
    }
}

struct Infer: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run one raw input tensor through a model and write the raw output tensor.",
        discussion: "The input file holds exactly the model's input tensor (NHWC, its own type); the output file receives the model's output tensor bytes.")

    @OptionGroup var options: EngineOptions
    @Option(help: "Raw input tensor file.") var input: String
    @Option(help: "Raw output tensor file.") var output: String
    @Option(help: "Also write every operator's output as DIR/opNNN_tTTT.bin (runs without fusion, so every operator has one).") var dump: String?

    func run() throws {
        try reportingErrors {
            var options = options
            if dump != nil { options.noFusion = true }
            let engine = try options.engine()
            let plan = engine.plan
            guard let data = FileManager.default.contents(atPath: input) else { throw Failure("\(input): cannot read the file") }
            guard data.count == plan.input.byteCount else {
                throw Failure("\(input): \(data.count) bytes, but the model's input \(plan.input.shape) \(plan.input.type) is \(plan.input.byteCount) bytes")
            }
            if let dump { try FileManager.default.createDirectory(atPath: dump, withIntermediateDirectories: true) }
            var out = Data(count: plan.output.byteCount)
            try data.withUnsafeBytes { i in
                try out.withUnsafeMutableBytes { o in
                    try engine.run(input: i, output: o, observe: dump.map { dir in
                        { op, tensor, bytes in
                            let name = String(format: "%@/op%03d_t%d.bin", dir, op, tensor)
                            if !FileManager.default.createFile(atPath: name, contents: Data(bytes)) {
                                FileHandle.standardError.write(Data("\(name): cannot write the file\n".utf8))
                            }
                        }
                    })
                }
            }
            guard FileManager.default.createFile(atPath: output, contents: out) else { throw Failure("\(output): cannot write the file") }
        }
    }
}
