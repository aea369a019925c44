import CEffKernels
import EffModel
import Foundation

/// Errors found while planning a model that the reader accepted.
public enum PlanError: Error, CustomStringConvertible {
    case unsupported(op: Int, name: String, reason: String)
    case shapeMismatch(op: Int, name: String, tensor: Int, declared: [Int], inferred: [Int])
    case isa(String)

    public var description: String {
        switch self {
        case let .unsupported(op, name, reason):
            return "operator \(op) (\(name)): \(reason)"
        case let .shapeMismatch(op, name, tensor, declared, inferred):
            return "operator \(op) (\(name)): tensor \(tensor) is declared \(declared) but the op produces \(inferred)"
        case let .isa(message):
            return message
        }
    }
}

/// Shape, type and quantization of a graph input or output, as the caller must supply it.
public struct TensorSpec: Sendable, Equatable {
    public var name: String
    public var type: ElementType
    public var shape: [Int]
    public var scale: Float
    public var zeroPoint: Int32
    public var byteCount: Int { shape.reduce(1, *) * type.size }
}

/// A model prepared once for execution: shapes inferred and checked, weights repacked,
/// requantization parameters computed, and every activation placed in a static arena.
/// Immutable after construction; any number of `Engine`s can share one plan.
public final class Plan: @unchecked Sendable {
    public let graph: Graph
    /// Bytes of the activation arena each `Engine` allocates.
    public let arenaSize: Int
    /// Bytes of repacked constants (weights, biases, multipliers) owned by the plan.
    public let constantsSize: Int
    public let input: TensorSpec
    public let output: TensorSpec
    /// Multiply-accumulates of one inference (convolutions and fully connected).
    public let macs: Int
    /// The instruction set whose kernels this plan runs.
    public let isa: String
    let kernels: UnsafePointer<effk_isa_kernels>

    let steps: [Step]
    let inputOffset: Int
    let outputOffset: Int
    /// Arena offset of each tensor (nil for constants).
    let tensorOffsets: [Int?]
    private let constants: UnsafeMutableRawPointer

    /// Whether operators were fused (see `init(graph:isa:fusion:)`).
    public let fusion: Bool
    /// Operators computed inside another operator's step, by the operator whose output that
    /// step writes (and whose index the `Engine.run` observer sees): e.g. a 1×1 CONV_2D and a
    /// LOGISTIC under the MUL of a swish. Their own outputs are never stored. Empty without fusion.
    public let fusedOps: [Int: [Int]]

    public convenience init(modelPath: String, isa: String? = nil, fusion: Bool = true) throws {
        try self.init(graph: Graph.load(path: modelPath), isa: isa, fusion: fusion)
    }

    /// `isa` names a kernel table ("scalar", "avx2", "avx512vnni", "neon", "neondot");
    /// nil picks the best this CPU has, or the one `EFFNETD_ISA` names. With `fusion`,
    /// `MUL(x, LOGISTIC(x))` runs as one 256-entry table and a table op (LOGISTIC, swish,
    /// int8 QUANTIZE) runs in place on each tile of the convolution before it; the bytes are
    /// the same either way.
    public init(graph: Graph, isa: String? = nil, fusion: Bool = true) throws {
        self.fusion = fusion
        self.graph = graph
        kernels = try Self.kernels(named: isa)
        self.isa = String(cString: kernels.pointee.name)
        guard graph.inputs.count == 1, graph.outputs.count == 1 else {
            throw PlanError.unsupported(op: -1, name: "graph",
                                        reason: "effnetd runs models with one input and one output; this one has \(graph.inputs.count) and \(graph.outputs.count)")
        }
        for t in graph.inputs + graph.outputs where graph.tensors[t].isConstant {
            throw PlanError.unsupported(op: -1, name: "graph", reason: "the graph's input or output (tensor \(t)) is a constant")
        }
        var builder = PlanBuilder(graph: graph, kernels: kernels, fusion: fusion)
        try builder.build()
        var fused: [Int: [Int]] = [:]
        for s in builder.steps where !s.covers.isEmpty { fused[s.op] = s.covers }
        fusedOps = fused

        // Arena: one request per storage root, alive from its producer to its last reader.
        let storage = builder.storageRoots()
        var roots: [Int] = []
        var rootIndex: [Int: Int] = [:]
        var requests: [ArenaPlanner.Request] = []
        for (t, first, last) in builder.lifetimes(storage: storage) {
            rootIndex[t] = requests.count
            roots.append(t)
            requests.append(.init(size: graph.tensors[t].byteCount, firstUse: first, lastUse: last))
        }
        let (offsets, size) = ArenaPlanner.plan(requests)
        var tensorOffsets = [Int?](repeating: nil, count: graph.tensors.count)
        for t in graph.tensors.indices where !graph.tensors[t].isConstant {
            if let root = storage[t], let i = rootIndex[root] { tensorOffsets[t] = offsets[i] }
        }
        arenaSize = max(size, ArenaPlanner.alignment)
        self.tensorOffsets = tensorOffsets

        // Constants: one aligned block, filled from the builder's staged bytes.
        constantsSize = builder.constantBytes.count
        let block = UnsafeMutableRawPointer.allocate(byteCount: max(constantsSize, 64), alignment: 64)
        builder.constantBytes.withUnsafeBytes { src in
            if let base = src.baseAddress { block.copyMemory(from: base, byteCount: src.count) }
        }
        constants = block
        steps = builder.steps.map { $0.resolved(constants: block, offsets: tensorOffsets) }
        macs = builder.macs

        let inT = graph.inputs[0], outT = graph.outputs[0]
        input = Self.spec(graph, inT)
        output = Self.spec(graph, outT)
        // Both are activations (checked above), so the arena planner placed them.
        inputOffset = tensorOffsets[inT]!
        outputOffset = tensorOffsets[outT]!
    }

    deinit { constants.deallocate() }

    /// The kernel tables this CPU can run, best last.
    public static var availableISAs: [String] {
        String(cString: effk_kernels_available()).split(separator: ",").map(String.init)
    }

    static func kernels(named name: String?) throws -> UnsafePointer<effk_isa_kernels> {
        if let name {
            guard let k = effk_kernels_named(name) else {
                throw PlanError.isa("instruction set '\(name)' is not available on this CPU (available: \(availableISAs.joined(separator: ", ")))")
            }
            return k
        }
        var error: UnsafePointer<CChar>?
        guard let k = effk_kernels_select(&error) else {
            let forced = ProcessInfo.processInfo.environment["EFFNETD_ISA"] ?? ""
            throw PlanError.isa("EFFNETD_ISA=\(forced): \(error.map { String(cString: $0) } ?? "no kernel table for this CPU") (available: \(availableISAs.joined(separator: ", ")))")
        }
        return k
    }

    private static func spec(_ g: Graph, _ t: Int) -> TensorSpec {
        let tensor = g.tensors[t]
        return TensorSpec(name: tensor.name, type: tensor.type, shape: tensor.shape,
                          scale: tensor.quantization?.scale ?? 1, zeroPoint: tensor.quantization?.zeroPoint ?? 0)
    }

    /// A one-line summary: ops, arena, constants, MACs.
    public var summary: String {
        "\(steps.count) steps\(fusion ? "" : " (no fusion)"), arena \(arenaSize / 1024) KiB, constants \(constantsSize / 1024) KiB, \(macs / 1_000_000) M MACs"
    }
}
