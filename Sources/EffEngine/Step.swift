import CEffKernels

/// One kernel call of a plan. Activations are arena byte offsets; constants are pointers
/// into the plan's constant block. While the plan is being built, activation fields hold
/// tensor indices and constant fields hold offsets; `resolved` turns them into the above.
struct Step {
    var op: Int
    var output: Int
    var kind: Kind
    /// A 256-entry table applied in place to each tile of this step's output right after the
    /// kernel writes it (a LOGISTIC, a swish or an int8 QUANTIZE fused into the convolution
    /// before it; see `PlanBuilder.fuseEpilogues`). Only convolution steps carry one.
    var epilogue: Const? = nil
    /// A residual ADD fused into this convolution: each tile of the output, once written (and
    /// looked up), becomes ADD(tile, the same elements of `other`), in place; `convIsFirst`
    /// says which operand of the graph's ADD the convolution's output was.
    var addEpilogue: AddEpilogue? = nil
    struct AddEpilogue {
        var params: effk_add_params
        var other: Int
        var convIsFirst: Bool
    }
    /// The other graph operators this step also computes (fused into it), in graph order;
    /// `op` is the last, whose output the step writes.
    var covers: [Int] = []

    /// A constant: an offset into the constant block, then a pointer.
    struct Const {
        var offset: Int
        var pointer: UnsafeRawPointer? = nil
        func typed<T>(_: T.Type) -> UnsafePointer<T>? { pointer?.assumingMemoryBound(to: T.self) }
    }

    enum Kind {
        /// 1×1 stride-1 CONV_2D through the ISA table, weights packed by the table.
        case conv1x1(effk_conv2d_params, input: Int, packed: Const, multiplier: Const, shift: Const, output: Int)
        /// Any other CONV_2D through the ISA table.
        case conv(effk_conv2d_params, input: Int, packed: Const, multiplier: Const, shift: Const, output: Int)
        /// DEPTHWISE_CONV_2D with depth multiplier 1 through the ISA table.
        case depthwisePacked(effk_conv2d_params, input: Int, packed: Const, multiplier: Const, shift: Const, output: Int)
        /// Other depth multipliers: the scalar reference kernel.
        case depthwise(effk_conv2d_params, input: Int, filter: Const, bias: Const?, multiplier: Const, shift: Const, output: Int)
        case fullyConnected(effk_fc_params, input: Int, packed: Const, scale: Const, output: Int)
        case add(effk_add_params, a: Int, b: Int, output: Int, count: Int)
        case addBroadcast(effk_add_params, effk_broadcast4d, a: Int, b: Int, output: Int)
        case mul(effk_mul_params, a: Int, b: Int, output: Int, count: Int)
        case mulBroadcast(effk_mul_params, effk_broadcast4d, a: Int, b: Int, output: Int)
        /// [pixels][c] × [c]: squeeze-excitation's scaling.
        case mulChannel(effk_mul_params, a: Int, channel: Int, output: Int, channels: Int, pixels: Int)
        case lookup(table: Const, input: Int, output: Int, count: Int)
        case meanHW(effk_mean_params, input: Int, output: Int)
        case averagePool(effk_conv2d_params, input: Int, output: Int)
        case softmax(effk_softmax_params, input: Int, output: Int, rows: Int, depth: Int)
        case quantizeF32(input: Int, output: Int, count: Int, scale: Float, zeroPoint: Int32)
        case dequantize(input: Int, output: Int, count: Int, scale: Float, zeroPoint: Int32)
        case pad(shape: [Int32], before: [Int32], after: [Int32], value: Int8, input: Int, output: Int)
    }

    func resolved(constants: UnsafeMutableRawPointer, offsets: [Int?]) -> Step {
        func t(_ i: Int) -> Int { offsets[i]! }
        func c(_ k: Const) -> Const { Const(offset: k.offset, pointer: UnsafeRawPointer(constants + k.offset)) }
        func c(_ k: Const?) -> Const? { k.map { c($0) } }
        var s = self
        s.epilogue = c(epilogue)
        if var e = addEpilogue {
            e.other = t(e.other)
            s.addEpilogue = e
        }
        switch kind {
        case let .conv1x1(p, i, w, m, sh, o):
            s.kind = .conv1x1(p, input: t(i), packed: c(w), multiplier: c(m), shift: c(sh), output: t(o))
        case let .conv(p, i, w, m, sh, o):
            s.kind = .conv(p, input: t(i), packed: c(w), multiplier: c(m), shift: c(sh), output: t(o))
        case let .depthwisePacked(p, i, w, m, sh, o):
            s.kind = .depthwisePacked(p, input: t(i), packed: c(w), multiplier: c(m), shift: c(sh), output: t(o))
        case let .depthwise(p, i, f, b, m, sh, o):
            s.kind = .depthwise(p, input: t(i), filter: c(f), bias: c(b), multiplier: c(m), shift: c(sh), output: t(o))
        case let .fullyConnected(p, i, w, sc, o):
            s.kind = .fullyConnected(p, input: t(i), packed: c(w), scale: c(sc), output: t(o))
        case let .add(p, a, b, o, n): s.kind = .add(p, a: t(a), b: t(b), output: t(o), count: n)
        case let .addBroadcast(p, bc, a, b, o): s.kind = .addBroadcast(p, bc, a: t(a), b: t(b), output: t(o))
        case let .mul(p, a, b, o, n): s.kind = .mul(p, a: t(a), b: t(b), output: t(o), count: n)
        case let .mulBroadcast(p, bc, a, b, o): s.kind = .mulBroadcast(p, bc, a: t(a), b: t(b), output: t(o))
        case let .mulChannel(p, a, ch, o, c, n): s.kind = .mulChannel(p, a: t(a), channel: t(ch), output: t(o), channels: c, pixels: n)
        case let .lookup(tab, i, o, n): s.kind = .lookup(table: c(tab), input: t(i), output: t(o), count: n)
        case let .meanHW(p, i, o): s.kind = .meanHW(p, input: t(i), output: t(o))
        case let .averagePool(p, i, o): s.kind = .averagePool(p, input: t(i), output: t(o))
        case let .softmax(p, i, o, r, d): s.kind = .softmax(p, input: t(i), output: t(o), rows: r, depth: d)
        case let .quantizeF32(i, o, n, sc, z): s.kind = .quantizeF32(input: t(i), output: t(o), count: n, scale: sc, zeroPoint: z)
        case let .dequantize(i, o, n, sc, z): s.kind = .dequantize(input: t(i), output: t(o), count: n, scale: sc, zeroPoint: z)
        case let .pad(sh, b, a, v, i, o): s.kind = .pad(shape: sh, before: b, after: a, value: v, input: t(i), output: t(o))
        }
        return s
    }

    /// The same convolution writing `y` instead (before resolution); nil for other kinds.
    func writing(_ y: Int) -> Kind? {
        switch kind {
        case let .conv1x1(p, i, w, m, sh, _): return .conv1x1(p, input: i, packed: w, multiplier: m, shift: sh, output: y)
        case let .conv(p, i, w, m, sh, _): return .conv(p, input: i, packed: w, multiplier: m, shift: sh, output: y)
        case let .depthwisePacked(p, i, w, m, sh, _): return .depthwisePacked(p, input: i, packed: w, multiplier: m, shift: sh, output: y)
        case let .depthwise(p, i, f, b, m, sh, _): return .depthwise(p, input: i, filter: f, bias: b, multiplier: m, shift: sh, output: y)
        default: return nil
        }
    }

    /// Tensor indices this step reads (before resolution).
    var reads: [Int] { kindReads + (addEpilogue.map { [$0.other] } ?? []) }

    private var kindReads: [Int] {
        switch kind {
        case let .conv1x1(_, i, _, _, _, _), let .conv(_, i, _, _, _, _), let .depthwisePacked(_, i, _, _, _, _),
             let .depthwise(_, i, _, _, _, _, _), let .fullyConnected(_, i, _, _, _),
             let .lookup(_, i, _, _), let .meanHW(_, i, _), let .averagePool(_, i, _), let .softmax(_, i, _, _, _),
             let .quantizeF32(i, _, _, _, _), let .dequantize(i, _, _, _, _), let .pad(_, _, _, _, i, _):
            return [i]
        case let .add(_, a, b, _, _), let .addBroadcast(_, _, a, b, _), let .mul(_, a, b, _, _), let .mulBroadcast(_, _, a, b, _),
             let .mulChannel(_, a, b, _, _, _):
            return [a, b]
        }
    }
}
