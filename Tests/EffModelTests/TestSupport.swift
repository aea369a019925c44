import Foundation
import XCTest
@testable import EffModel

/// The package root: Tests/EffModelTests/TestSupport.swift → ../../
let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()

let lite0Path = repoRoot.appendingPathComponent("models/efficientnet-lite0-int8.tflite").path
let b0Path = repoRoot.appendingPathComponent("Tests/Fixtures/efficientnet-b0-int8-random1.tflite").path

func loadBytes(_ path: String) throws -> Data { try Data(contentsOf: URL(fileURLWithPath: path)) }

/// SplitMix64: a tiny deterministic PRNG, so every run mutates the same bytes.
struct SplitMix64 {
    private var state: UInt64
    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform-enough in 0..<n (n > 0; the modulo bias is irrelevant here).
    mutating func below(_ n: Int) -> Int { Int(next() % UInt64(n)) }

    mutating func pick<T>(_ values: [T]) -> T { values[below(values.count)] }
}

extension Graph {
    /// Number of operators per TFLite op name.
    var opCounts: [String: Int] {
        operators.reduce(into: [:]) { $0[$1.kind.name, default: 0] += 1 }
    }
}

extension ModelError {
    /// True when the message points somewhere: a byte offset, or a tensor/operator index.
    var locates: Bool {
        switch self {
        case .io: return true
        case .malformed(let offset, let what): return offset >= 0 && !what.isEmpty
        case .invalidTensor(let index, _), .invalidOperator(let index, _, _): return index >= 0
        case .unsupported(let what): return what.range(of: #"(operator|tensor|subgraph|version|model)"#,
                                                       options: .regularExpression) != nil
        }
    }
}

/// The invariants the engine relies on. Returns a description of the first violation, or nil.
func invariantViolation(_ g: Graph) -> String? {
    let n = g.tensors.count
    guard g.buffer.startIndex == 0 else { return "buffer is not 0-based" }
    guard !g.inputs.isEmpty, !g.outputs.isEmpty else { return "no inputs or outputs" }
    for i in g.inputs + g.outputs where !(0..<n).contains(i) { return "graph tensor \(i) out of range" }

    for (i, t) in g.tensors.enumerated() {
        guard t.shape.count <= 6, t.shape.allSatisfy({ $0 >= 1 }) else { return "tensor \(i) shape \(t.shape)" }
        var elements = 1
        for d in t.shape {
            let (p, o) = elements.multipliedReportingOverflow(by: d)
            if o { return "tensor \(i) element count overflows" }
            elements = p
        }
        if elements.multipliedReportingOverflow(by: t.type.size).overflow { return "tensor \(i) byte count overflows" }
        if let r = t.data {
            guard r.lowerBound >= 0, r.upperBound <= g.buffer.count else { return "tensor \(i) data \(r) outside" }
            guard r.count == t.byteCount else { return "tensor \(i) data \(r.count) bytes, needs \(t.byteCount)" }
        }
        if let q = t.quantization {
            guard !q.scales.isEmpty, q.scales.count == q.zeroPoints.count else { return "tensor \(i) quant counts" }
            guard q.scales.allSatisfy({ $0.isFinite && $0 > 0 }) else { return "tensor \(i) scales" }
            if q.scales.count > 1 {
                guard q.axis >= 0, q.axis < t.shape.count, t.shape[q.axis] == q.scales.count else {
                    return "tensor \(i) per-channel axis"
                }
            }
        }
    }

    for (k, op) in g.operators.enumerated() {
        guard !op.outputs.isEmpty else { return "op \(k) has no outputs" }
        for t in op.inputs where !(-1..<n).contains(t) { return "op \(k) input \(t) out of range" }
        for t in op.outputs where !(0..<n).contains(t) { return "op \(k) output \(t) out of range" }
        for t in op.outputs {
            if g.tensors[t].isConstant { return "op \(k) writes constant tensor \(t)" }
            if g.tensors[t].type == .int8, g.tensors[t].quantization?.scales.count != 1 {
                return "op \(k) int8 output \(t) lacks per-tensor quantization"
            }
        }
        switch op.kind {
        case .conv2D, .depthwiseConv2D, .fullyConnected:
            guard op.inputs.count == 3, op.inputs[0] >= 0, op.inputs[1] >= 0 else { return "op \(k) inputs" }
            let f = g.tensors[op.inputs[1]]
            guard f.isConstant, f.type == .int8 else { return "op \(k) filter" }
            if op.inputs[2] >= 0 {
                let b = g.tensors[op.inputs[2]]
                guard b.isConstant, b.type == .int32 else { return "op \(k) bias" }
            }
            if case .depthwiseConv2D(let o) = op.kind {
                let cin = g.tensors[op.inputs[0]].shape[3]
                guard o.depthMultiplier >= 1, cin * o.depthMultiplier == f.shape[3] else {
                    return "op \(k) depth multiplier"
                }
            }
        default:
            break
        }
    }
    return nil
}
