import CEffKernels
import EffModel
import Foundation

/// Turns a validated graph into kernel calls: infers and checks shapes, computes
/// requantization parameters exactly as TFLite's Prepare functions do, and stages the
/// constants (weights, biases, multipliers, tables) into one block.
struct PlanBuilder {
    let graph: Graph
    let kernels: UnsafePointer<effk_isa_kernels>
    var steps: [Step] = []
    var constantBytes: [UInt8] = []
    var macs = 0
    /// RESHAPE outputs share their input's bytes: tensor → tensor it aliases.
    var aliases: [Int: Int] = [:]
    /// Whether to fuse (swish tables, table epilogues on convolutions); off, every operator
    /// runs as its own step, as the graph says.
    let fusion: Bool
    /// Swish pairs: MUL op → the LOGISTIC op that feeds it the sigmoid of its other operand.
    var swish: [Int: Int] = [:]
    /// LOGISTIC tables held back for the MUL that absorbs them.
    var heldLogistic: [Int: [Int8]] = [:]

    init(graph: Graph, kernels: UnsafePointer<effk_isa_kernels>, fusion: Bool = true) {
        self.graph = graph
        self.kernels = kernels
        self.fusion = fusion
    }

    mutating func build() throws {
        if fusion { findSwish() }
        for (index, op) in graph.operators.enumerated() {
            try add(op, index: index)
        }
        if fusion { fuseEpilogues() }
    }

    // MARK: fusion

    /// Finds `MUL(x, LOGISTIC(x))` (either operand order) where the sigmoid goes nowhere else:
    /// swish, which is a function of the int8 x alone, so one 256-entry table computes it.
    mutating func findSwish() {
        let ops = graph.operators
        var producer: [Int: Int] = [:], readers: [Int: Int] = [:]
        for (i, op) in ops.enumerated() {
            for t in op.outputs { producer[t] = i }
            for t in op.inputs where t >= 0 { readers[t, default: 0] += 1 }
        }
        let outputs = Set(graph.outputs)
        for (i, op) in ops.enumerated() {
            guard case .mul = op.kind, op.inputs.count == 2, op.outputs.count == 1 else { continue }
            let (a, b) = (op.inputs[0], op.inputs[1])
            for (x, s) in [(a, b), (b, a)] {
                guard x != s, let l = producer[s], l < i, case .logistic = ops[l].kind, ops[l].inputs.first == x,
                      readers[s] == 1, !outputs.contains(s), tensor(x).shape == tensor(s).shape,
                      tensor(x).type == .int8, tensor(s).type == .int8 else { continue }
                swish[i] = l
                break
            }
        }
    }

    /// The MUL of a swish pair as one table: for each of the 256 int8 inputs, the reference
    /// LOGISTIC table's value, then the reference MUL of the input by it (the scalar kernel
    /// with the MUL's own parameters, operands in the graph's order). Exact by construction.
    static func swishTable(logistic: [Int8], mul p: effk_mul_params, xIsFirst: Bool) -> [Int8] {
        let xs = (-128...127).map { Int8($0) }
        let sig = xs.map { logistic[Int(UInt8(bitPattern: $0))] }
        var out = [Int8](repeating: 0, count: 256)
        var params = p
        if xIsFirst { effk_qs8_mul__scalar(&params, xs, sig, &out, 256) } else { effk_qs8_mul__scalar(&params, sig, xs, &out, 256) }
        var table = [Int8](repeating: 0, count: 256)
        for (k, v) in xs.enumerated() { table[Int(UInt8(bitPattern: v))] = out[k] }
        return table
    }

    /// A table step (LOGISTIC, swish, int8 QUANTIZE) or a same-shape ADD right after the
    /// convolution that produces its input (one of its operands) becomes that convolution's epilogue: each tile is looked up in place while
    /// it is still in cache, and the convolution's own output tensor is never stored. Only
    /// where nothing else reads that tensor (no other step, no RESHAPE alias, not a graph
    /// output).
    mutating func fuseEpilogues() {
        var readCount: [Int: Int] = [:]
        for s in steps { for t in s.reads { readCount[t, default: 0] += 1 } }
        let kept = Set(graph.outputs).union(graph.inputs).union(aliases.values)
        var fused: [Step] = []
        for s in steps {
            if case let .lookup(table, x, y, _) = s.kind, var prev = fused.last, prev.epilogue == nil,
               prev.addEpilogue == nil, prev.output == x, readCount[x] == 1, !kept.contains(x), let k = prev.writing(y) {
                prev.kind = k
                prev.output = y
                prev.epilogue = table
                prev.covers += [prev.op] + s.covers
                prev.op = s.op
                fused[fused.count - 1] = prev
            } else if case let .add(p, a, b, y, _) = s.kind, a != b, var prev = fused.last, prev.addEpilogue == nil,
                      prev.output == a || prev.output == b, readCount[prev.output] == 1, !kept.contains(prev.output),
                      let k = prev.writing(y) {
                // A residual ADD after the convolution that produces one operand (MBConv's
                // projection + skip): the convolution writes the ADD's output tensor and each
                // tile adds the skip's elements in place, while it is in cache.
                let convIsFirst = prev.output == a
                prev.kind = k
                prev.output = y
                prev.addEpilogue = Step.AddEpilogue(params: p, other: convIsFirst ? b : a, convIsFirst: convIsFirst)
                prev.covers += [prev.op] + s.covers
                prev.op = s.op
                fused[fused.count - 1] = prev
            } else {
                fused.append(s)
            }
        }
        steps = fused
    }

    // MARK: constants

    /// Copies `values` into the constant block (64-byte aligned, like every constant).
    mutating func stage<T>(_ values: [T]) -> Step.Const {
        values.withUnsafeBytes { src in
            stagePacked(size: src.count) { if let base = src.baseAddress { $0.copyMemory(from: base, byteCount: src.count) } }
        }
    }

    /// Copies a constant tensor's bytes from the model file into the constant block.
    mutating func stageBytes(of tensor: Int) -> Step.Const {
        let bytes = graph.constantBytes(of: tensor)
        return bytes.withUnsafeBytes { src in
            stagePacked(size: src.count) { if let base = src.baseAddress { $0.copyMemory(from: base, byteCount: src.count) } }
        }
    }

    /// Reserves `size` bytes in the constant block and lets `fill` write them (weight packing).
    mutating func stagePacked(size: Int, _ fill: (UnsafeMutableRawPointer) -> Void) -> Step.Const {
        let pad = (64 - constantBytes.count % 64) % 64
        let offset = constantBytes.count + pad
        constantBytes.append(contentsOf: repeatElement(0, count: pad + max(size, 1)))
        constantBytes.withUnsafeMutableBytes { fill($0.baseAddress! + offset) }
        return Step.Const(offset: offset)
    }

    func int32Values(of tensor: Int) -> [Int32] {
        let bytes = graph.constantBytes(of: tensor)
        return (0..<(bytes.count / 4)).map { i in
            let b = bytes.startIndex + 4 * i
            return Int32(bitPattern: UInt32(bytes[b]) | UInt32(bytes[b + 1]) << 8 | UInt32(bytes[b + 2]) << 16 | UInt32(bytes[b + 3]) << 24)
        }
    }

    // MARK: helpers

    func tensor(_ i: Int) -> Tensor { graph.tensors[i] }

    func fail(_ index: Int, _ op: Operator, _ reason: String) -> PlanError {
        .unsupported(op: index, name: op.kind.name, reason: reason)
    }

    func quant(_ t: Int, _ index: Int, _ op: Operator) throws -> (scale: Float, zp: Int32) {
        guard let q = tensor(t).quantization, !q.scales.isEmpty else {
            throw fail(index, op, "tensor \(t) '\(tensor(t).name)' has no quantization parameters")
        }
        if q.isPerChannel { throw fail(index, op, "tensor \(t) '\(tensor(t).name)' must be quantized per tensor") }
        return (q.scale, q.zeroPoint)
    }

    func requireType(_ t: Int, _ type: ElementType, _ index: Int, _ op: Operator) throws {
        guard tensor(t).type == type else {
            throw fail(index, op, "tensor \(t) '\(tensor(t).name)' is \(tensor(t).type), expected \(type)")
        }
    }

    func requireActivation(_ t: Int, _ index: Int, _ op: Operator) throws {
        guard !tensor(t).isConstant else {
            throw fail(index, op, "tensor \(t) '\(tensor(t).name)' is a constant where an activation is expected")
        }
    }

    func checkShape(_ inferred: [Int], of t: Int, _ index: Int, _ op: Operator) throws {
        guard tensor(t).shape == inferred else {
            throw PlanError.shapeMismatch(op: index, name: op.kind.name, tensor: t, declared: tensor(t).shape, inferred: inferred)
        }
    }

    func activationRange(_ act: FusedActivation, _ out: (scale: Float, zp: Int32)) -> (Int32, Int32) {
        var lo: Int32 = 0, hi: Int32 = 0
        effk_activation_range_qs8(act.rawValue, out.scale, out.zp, &lo, &hi)
        return (lo, hi)
    }

    /// Per-output-channel (multiplier, shift) for input·filter → output, as TFLite's
    /// PopulateConvolutionQuantizationParams computes them.
    func channelMultipliers(input: Float, filter: Quantization, output: Float, channels: Int) -> ([Int32], [Int32]) {
        var mults = [Int32](), shifts = [Int32]()
        mults.reserveCapacity(channels); shifts.reserveCapacity(channels)
        for c in 0..<channels {
            let fs = filter.isPerChannel ? filter.scales[c] : filter.scales[0]
            var m: Int32 = 0, s: Int32 = 0
            effk_conv_channel_multiplier(input, fs, output, &m, &s)
            mults.append(m); shifts.append(s)
        }
        return (mults, shifts)
    }

    /// TFLite's output size for a window op.
    static func outSize(_ padding: Padding, _ input: Int, _ filter: Int, _ stride: Int, _ dilation: Int) -> Int {
        let effective = (filter - 1) * dilation + 1
        switch padding {
        case .same: return (input + stride - 1) / stride
        case .valid: return (input + stride - effective) / stride
        }
    }

    /// TFLite's ComputePaddingWithOffset (the leading pad; the trailing one may be one larger).
    static func leadingPad(_ stride: Int, _ dilation: Int, _ input: Int, _ filter: Int, _ output: Int) -> Int {
        let effective = (filter - 1) * dilation + 1
        return max((output - 1) * stride + effective - input, 0) / 2
    }

    // MARK: operators

    mutating func add(_ op: Operator, index: Int) throws {
        for t in op.outputs { try requireActivation(t, index, op) }
        switch op.kind {
        case let .conv2D(o):
            try addConv(op, index: index, depthwise: false, padding: o.padding, strideH: o.strideH, strideW: o.strideW,
                        dilationH: o.dilationH, dilationW: o.dilationW, activation: o.activation, depthMultiplier: 1)
        case let .depthwiseConv2D(o):
            try addConv(op, index: index, depthwise: true, padding: o.padding, strideH: o.strideH, strideW: o.strideW,
                        dilationH: o.dilationH, dilationW: o.dilationW, activation: o.activation, depthMultiplier: o.depthMultiplier)
        case let .fullyConnected(act, keepNumDims):
            try addFullyConnected(op, index: index, activation: act, keepNumDims: keepNumDims)
        case let .add(act):
            try addBinary(op, index: index, activation: act, isAdd: true)
        case let .mul(act):
            try addBinary(op, index: index, activation: act, isAdd: false)
        case .logistic:
            try addLogistic(op, index: index)
        case let .mean(keepDims):
            try addMean(op, index: index, keepDims: keepDims)
        case let .averagePool2D(o):
            try addAveragePool(op, index: index, options: o)
        case let .softmax(beta):
            try addSoftmax(op, index: index, beta: beta)
        case .reshape:
            try addReshape(op, index: index)
        case .quantize:
            try addQuantize(op, index: index)
        case .dequantize:
            try addDequantize(op, index: index)
        case .pad, .padV2:
            try addPad(op, index: index)
        }
    }

    mutating func addConv(_ op: Operator, index: Int, depthwise: Bool, padding: Padding, strideH: Int, strideW: Int,
                          dilationH: Int, dilationW: Int, activation: FusedActivation, depthMultiplier: Int) throws {
        let (x, w, y) = (op.inputs[0], op.inputs[1], op.outputs[0])
        let bias = op.inputs.count > 2 && op.inputs[2] >= 0 ? op.inputs[2] : nil
        try requireActivation(x, index, op)
        for t in [x, w, y] { try requireType(t, .int8, index, op) }
        let xs = tensor(x).shape, ws = tensor(w).shape
        guard xs.count == 4, ws.count == 4 else { throw fail(index, op, "input and filter must be 4-D") }
        guard xs[0] == 1 else { throw fail(index, op, "batch size \(xs[0]); effnetd runs batch 1") }
        guard tensor(w).isConstant else { throw fail(index, op, "the filter must be constant") }
        let (inH, inW, inC) = (xs[1], xs[2], xs[3])
        let (kH, kW) = (ws[1], ws[2])
        let outC = depthwise ? ws[3] : ws[0]
        if depthwise {
            guard ws[0] == 1, outC % inC == 0 else { throw fail(index, op, "filter \(ws) does not fit input channels \(inC)") }
        } else {
            guard ws[3] == inC else { throw fail(index, op, "filter \(ws) does not fit input channels \(inC)") }
        }
        let outH = Self.outSize(padding, inH, kH, strideH, dilationH)
        let outW = Self.outSize(padding, inW, kW, strideW, dilationW)
        guard outH > 0, outW > 0 else { throw fail(index, op, "the window is larger than the input") }
        try checkShape([1, outH, outW, outC], of: y, index, op)

        let xq = try quant(x, index, op), yq = try quant(y, index, op)
        guard let wq = tensor(w).quantization, wq.scales.count == 1 || wq.scales.count == outC else {
            throw fail(index, op, "filter quantization must be per tensor or per output channel")
        }
        guard wq.zeroPoints.allSatisfy({ $0 == 0 }) else { throw fail(index, op, "filter zero points must be 0 (symmetric int8)") }
        if let b = bias {
            try requireType(b, .int32, index, op)
            guard tensor(b).isConstant, tensor(b).elementCount == outC else {
                throw fail(index, op, "bias must be a constant int32 vector of \(outC)")
            }
        }
        let (mults, shifts) = channelMultipliers(input: xq.scale, filter: wq, output: yq.scale, channels: outC)
        let (lo, hi) = activationRange(activation, yq)
        let p = effk_conv2d_params(
            in_h: Int32(inH), in_w: Int32(inW), in_c: Int32(inC),
            out_h: Int32(outH), out_w: Int32(outW), out_c: Int32(outC),
            kernel_h: Int32(kH), kernel_w: Int32(kW), stride_h: Int32(strideH), stride_w: Int32(strideW),
            dilation_h: Int32(dilationH), dilation_w: Int32(dilationW),
            pad_top: Int32(Self.leadingPad(strideH, dilationH, inH, kH, outH)),
            pad_left: Int32(Self.leadingPad(strideW, dilationW, inW, kW, outW)),
            input_zero_point: xq.zp, output_zero_point: yq.zp, act_min: lo, act_max: hi,
            depth_multiplier: Int32(outC / inC))
        let m = stage(mults), s = stage(shifts)
        let biasValues = bias.map { int32Values(of: $0) }
        let table = kernels.pointee
        let filterBytes = graph.constantBytes(of: w)
        /// Packs with the ISA table's function: filter and bias pointers are valid only inside.
        func pack(_ size: Int, _ body: (UnsafePointer<Int8>, UnsafePointer<Int32>?, UnsafeMutableRawPointer) -> Void) -> Step.Const {
            filterBytes.withUnsafeBytes { f in
                let fp = f.bindMemory(to: Int8.self).baseAddress!
                if let biasValues {
                    return biasValues.withUnsafeBufferPointer { b in stagePacked(size: size) { body(fp, b.baseAddress, $0) } }
                }
                return stagePacked(size: size) { body(fp, nil, $0) }
            }
        }
        if depthwise {
            macs += outH * outW * outC * kH * kW
            if p.depth_multiplier == 1 {
                let packed = pack(table.dwconv_packed_size(p.kernel_h, p.kernel_w, p.out_c)) {
                    table.dwconv_pack($0, $1, p.kernel_h, p.kernel_w, p.out_c, p.input_zero_point, $2)
                }
                steps.append(Step(op: index, output: y, kind: .depthwisePacked(p, input: x, packed: packed, multiplier: m, shift: s, output: y)))
            } else {
                let filter = stageBytes(of: w)
                let biasC = biasValues.map { stage($0) }
                steps.append(Step(op: index, output: y, kind: .depthwise(p, input: x, filter: filter, bias: biasC, multiplier: m, shift: s, output: y)))
            }
        } else {
            macs += outH * outW * outC * kH * kW * inC
            if kH == 1, kW == 1, strideH == 1, strideW == 1 {
                let packed = pack(table.conv1x1_packed_size(p.in_c, p.out_c)) {
                    table.conv1x1_pack($0, $1, p.in_c, p.out_c, p.input_zero_point, $2)
                }
                steps.append(Step(op: index, output: y, kind: .conv1x1(p, input: x, packed: packed, multiplier: m, shift: s, output: y)))
            } else {
                let packed = pack(table.conv_packed_size(p.kernel_h, p.kernel_w, p.in_c, p.out_c)) {
                    table.conv_pack($0, $1, p.kernel_h, p.kernel_w, p.in_c, p.out_c, p.input_zero_point, $2)
                }
                steps.append(Step(op: index, output: y, kind: .conv(p, input: x, packed: packed, multiplier: m, shift: s, output: y)))
            }
        }
    }

    mutating func addFullyConnected(_ op: Operator, index: Int, activation: FusedActivation, keepNumDims: Bool) throws {
        let (x, w, y) = (op.inputs[0], op.inputs[1], op.outputs[0])
        let bias = op.inputs.count > 2 && op.inputs[2] >= 0 ? op.inputs[2] : nil
        try requireActivation(x, index, op)
        for t in [x, w, y] { try requireType(t, .int8, index, op) }
        let ws = tensor(w).shape
        guard ws.count == 2, tensor(w).isConstant else { throw fail(index, op, "the filter must be a constant 2-D tensor") }
        let (outC, inC) = (ws[0], ws[1])
        let total = tensor(x).elementCount
        guard inC > 0, total % inC == 0 else { throw fail(index, op, "input of \(total) elements is not a multiple of \(inC)") }
        let batches = total / inC
        let inferred = keepNumDims ? Array(tensor(x).shape.dropLast()) + [outC] : [batches, outC]
        try checkShape(inferred, of: y, index, op)
        let xq = try quant(x, index, op), yq = try quant(y, index, op)
        guard let wq = tensor(w).quantization, wq.scales.count == 1 || wq.scales.count == outC else {
            throw fail(index, op, "filter quantization must be per tensor or per output channel")
        }
        if let b = bias {
            try requireType(b, .int32, index, op)
            guard tensor(b).isConstant, tensor(b).elementCount == outC else {
                throw fail(index, op, "bias must be a constant int32 vector of \(outC)")
            }
        }
        // LiteRT's reference FULLY_CONNECTED requantizes in double, not with a fixed-point multiplier.
        let scales = (0..<outC).map { c in
            effk_fc_effective_scale(xq.scale, wq.isPerChannel ? wq.scales[c] : wq.scales[0], yq.scale)
        }
        let (lo, hi) = activationRange(activation, yq)
        let p = effk_fc_params(batches: Int32(batches), in_c: Int32(inC), out_c: Int32(outC),
                               input_zero_point: xq.zp, filter_zero_point: wq.isPerChannel ? 0 : wq.zeroPoint,
                               output_zero_point: yq.zp, act_min: lo, act_max: hi)
        let biasValues = bias.map { int32Values(of: $0) } ?? []
        let table = kernels.pointee
        let packed = graph.constantBytes(of: w).withUnsafeBytes { f in
            biasValues.withUnsafeBufferPointer { b in
                stagePacked(size: table.fc_packed_size(p.in_c, p.out_c)) {
                    table.fc_pack(f.bindMemory(to: Int8.self).baseAddress, bias == nil ? nil : b.baseAddress,
                                  p.in_c, p.out_c, p.input_zero_point, p.filter_zero_point, $0)
                }
            }
        }
        steps.append(Step(op: index, output: y, kind: .fullyConnected(p, input: x, packed: packed, scale: stage(scales), output: y)))
        macs += batches * inC * outC
    }

    /// When one operand is the full tensor and the other holds one value per channel (last
    /// dim, all others 1): (full, per-channel, whether they were swapped).
    static func perChannelOperands(_ sa: [Int], _ sb: [Int], _ a: Int, _ b: Int) -> (Int, Int, Bool)? {
        func isVector(_ v: [Int], of full: [Int]) -> Bool {
            guard let c = full.last, v.last == c, v.dropLast().allSatisfy({ $0 == 1 }) else { return false }
            return v.count <= full.count
        }
        if isVector(sb, of: sa) { return (a, b, false) }
        if isVector(sa, of: sb) { return (b, a, true) }
        return nil
    }

    /// Broadcast shape of two shapes (numpy rules), or nil.
    static func broadcastShape(_ a: [Int], _ b: [Int]) -> [Int]? {
        let n = max(a.count, b.count)
        let pa = Array(repeating: 1, count: n - a.count) + a, pb = Array(repeating: 1, count: n - b.count) + b
        var out = [Int]()
        for (x, y) in zip(pa, pb) {
            guard x == y || x == 1 || y == 1 else { return nil }
            out.append(max(x, y))
        }
        return out
    }

    /// Strides that read `shape` (right-aligned in 4-D) while walking `out` (4-D); 0 on broadcast dims.
    static func broadcastStrides(_ shape: [Int], _ out4: [Int]) -> (Int32, Int32, Int32, Int32) {
        let s = Array(repeating: 1, count: 4 - shape.count) + shape
        var strides = [Int32](repeating: 0, count: 4)
        var running = 1
        for d in (0..<4).reversed() {
            strides[d] = s[d] == 1 && out4[d] != 1 ? 0 : Int32(running)
            running *= s[d]
        }
        return (strides[0], strides[1], strides[2], strides[3])
    }

    mutating func addBinary(_ op: Operator, index: Int, activation: FusedActivation, isAdd: Bool) throws {
        let (a, b, y) = (op.inputs[0], op.inputs[1], op.outputs[0])
        for t in [a, b, y] { try requireType(t, .int8, index, op) }
        for t in [a, b] where tensor(t).isConstant {
            throw fail(index, op, "constant operand tensor \(t) is not supported")
        }
        guard let shape = Self.broadcastShape(tensor(a).shape, tensor(b).shape), shape.count <= 4 else {
            throw fail(index, op, "shapes \(tensor(a).shape) and \(tensor(b).shape) do not broadcast within 4-D")
        }
        try checkShape(shape, of: y, index, op)
        let aq = try quant(a, index, op), bq = try quant(b, index, op), yq = try quant(y, index, op)
        let (lo, hi) = activationRange(activation, yq)
        let same = tensor(a).shape == tensor(b).shape
        let out4 = Array(repeating: 1, count: 4 - shape.count) + shape
        var bc = effk_broadcast4d()
        bc.out_shape = (Int32(out4[0]), Int32(out4[1]), Int32(out4[2]), Int32(out4[3]))
        bc.a_stride = Self.broadcastStrides(tensor(a).shape, out4)
        bc.b_stride = Self.broadcastStrides(tensor(b).shape, out4)
        let count = shape.reduce(1, *)
        if isAdd {
            var p = effk_add_params()
            effk_qs8_add_params_init(&p, aq.scale, aq.zp, bq.scale, bq.zp, yq.scale, yq.zp, lo, hi)
            steps.append(Step(op: index, output: y, kind: same ? .add(p, a: a, b: b, output: y, count: count)
                                                               : .addBroadcast(p, bc, a: a, b: b, output: y)))
        } else {
            var p = effk_mul_params()
            effk_qs8_mul_params_init(&p, aq.scale, aq.zp, bq.scale, bq.zp, yq.scale, yq.zp, lo, hi)
            if let l = swish[index] {
                guard let sig = heldLogistic[l] else { throw fail(index, op, "swish: LOGISTIC op \(l) was not planned") }
                let x = graph.operators[l].inputs[0]
                let table = Self.swishTable(logistic: sig, mul: p, xIsFirst: a == x)
                steps.append(Step(op: index, output: y, kind: .lookup(table: stage(table), input: x, output: y, count: count), covers: [l]))
            } else if same {
                steps.append(Step(op: index, output: y, kind: .mul(p, a: a, b: b, output: y, count: count)))
            } else if let (big, vector, swapped) = Self.perChannelOperands(tensor(a).shape, tensor(b).shape, a, b) {
                // Squeeze-excitation: [..., C] × [C]. MUL is symmetric once the offsets follow their operands.
                if swapped { swap(&p.input1_offset, &p.input2_offset) }
                let c = shape.last!
                steps.append(Step(op: index, output: y, kind: .mulChannel(p, a: big, channel: vector, output: y, channels: c, pixels: count / c)))
            } else {
                steps.append(Step(op: index, output: y, kind: .mulBroadcast(p, bc, a: a, b: b, output: y)))
            }
        }
    }

    mutating func addLogistic(_ op: Operator, index: Int) throws {
        let (x, y) = (op.inputs[0], op.outputs[0])
        for t in [x, y] { try requireType(t, .int8, index, op) }
        try checkShape(tensor(x).shape, of: y, index, op)
        let xq = try quant(x, index, op), yq = try quant(y, index, op)
        guard yq.scale == 1.0 / 256, yq.zp == -128 else {
            throw fail(index, op, "int8 LOGISTIC output must have scale 1/256 and zero point -128 (has \(yq.scale), \(yq.zp))")
        }
        var table = [Int8](repeating: 0, count: 256)
        effk_qs8_logistic_table(xq.scale, xq.zp, &table)
        if swish.values.contains(index) {
            heldLogistic[index] = table // the MUL after it computes both as one table
            return
        }
        steps.append(Step(op: index, output: y, kind: .lookup(table: stage(table), input: x, output: y, count: tensor(x).elementCount)))
    }

    mutating func addMean(_ op: Operator, index: Int, keepDims: Bool) throws {
        let (x, axesT, y) = (op.inputs[0], op.inputs[1], op.outputs[0])
        for t in [x, y] { try requireType(t, .int8, index, op) }
        let xs = tensor(x).shape
        guard tensor(axesT).isConstant, tensor(axesT).type == .int32 else { throw fail(index, op, "axes must be a constant int32 tensor") }
        let axes = Set(int32Values(of: axesT).map { Int($0) < 0 ? Int($0) + xs.count : Int($0) })
        guard xs.count == 4, xs[0] == 1, axes == [1, 2] else {
            throw fail(index, op, "only the mean over height and width (axes 1,2) of a 4-D batch-1 tensor is supported; input \(xs), axes \(axes.sorted())")
        }
        try checkShape(keepDims ? [1, 1, 1, xs[3]] : [1, xs[3]], of: y, index, op)
        let xq = try quant(x, index, op), yq = try quant(y, index, op)
        var p = effk_mean_params()
        p.h = Int32(xs[1]); p.w = Int32(xs[2]); p.c = Int32(xs[3])
        p.input_zero_point = xq.zp; p.output_zero_point = yq.zp
        p.input_scale = xq.scale; p.output_scale = yq.scale
        effk_qs8_mean_hw_params_init(&p)
        steps.append(Step(op: index, output: y, kind: .meanHW(p, input: x, output: y)))
    }

    mutating func addAveragePool(_ op: Operator, index: Int, options o: Pool2DOptions) throws {
        let (x, y) = (op.inputs[0], op.outputs[0])
        for t in [x, y] { try requireType(t, .int8, index, op) }
        let xs = tensor(x).shape
        guard xs.count == 4, xs[0] == 1 else { throw fail(index, op, "input must be 4-D with batch 1") }
        let outH = Self.outSize(o.padding, xs[1], o.filterH, o.strideH, 1)
        let outW = Self.outSize(o.padding, xs[2], o.filterW, o.strideW, 1)
        guard outH > 0, outW > 0 else { throw fail(index, op, "the window is larger than the input") }
        try checkShape([1, outH, outW, xs[3]], of: y, index, op)
        let xq = try quant(x, index, op), yq = try quant(y, index, op)
        guard xq == yq else { throw fail(index, op, "input and output quantization must be equal") }
        let (lo, hi) = activationRange(o.activation, yq)
        let p = effk_conv2d_params(
            in_h: Int32(xs[1]), in_w: Int32(xs[2]), in_c: Int32(xs[3]),
            out_h: Int32(outH), out_w: Int32(outW), out_c: Int32(xs[3]),
            kernel_h: Int32(o.filterH), kernel_w: Int32(o.filterW), stride_h: Int32(o.strideH), stride_w: Int32(o.strideW),
            dilation_h: 1, dilation_w: 1,
            pad_top: Int32(Self.leadingPad(o.strideH, 1, xs[1], o.filterH, outH)),
            pad_left: Int32(Self.leadingPad(o.strideW, 1, xs[2], o.filterW, outW)),
            input_zero_point: xq.zp, output_zero_point: yq.zp, act_min: lo, act_max: hi, depth_multiplier: 1)
        steps.append(Step(op: index, output: y, kind: .averagePool(p, input: x, output: y)))
    }

    mutating func addSoftmax(_ op: Operator, index: Int, beta: Float) throws {
        let (x, y) = (op.inputs[0], op.outputs[0])
        for t in [x, y] { try requireType(t, .int8, index, op) }
        try checkShape(tensor(x).shape, of: y, index, op)
        let xq = try quant(x, index, op), yq = try quant(y, index, op)
        guard yq.scale == 1.0 / 256, yq.zp == -128 else {
            throw fail(index, op, "int8 SOFTMAX output must have scale 1/256 and zero point -128 (has \(yq.scale), \(yq.zp))")
        }
        let depth = tensor(x).shape.last ?? 1
        var p = effk_softmax_params()
        effk_qs8_softmax_params_init(&p, beta, xq.scale)
        steps.append(Step(op: index, output: y, kind: .softmax(p, input: x, output: y, rows: tensor(x).elementCount / max(depth, 1), depth: depth)))
    }

    mutating func addReshape(_ op: Operator, index: Int) throws {
        let (x, y) = (op.inputs[0], op.outputs[0])
        guard tensor(x).type == tensor(y).type, tensor(x).elementCount == tensor(y).elementCount else {
            throw fail(index, op, "reshape from \(tensor(x).shape) to \(tensor(y).shape) changes the element count or type")
        }
        if tensor(x).isConstant {
            throw fail(index, op, "reshaping a constant tensor is not supported")
        }
        if let qx = tensor(x).quantization, let qy = tensor(y).quantization, qx != qy {
            throw fail(index, op, "reshape must not change quantization")
        }
        // Same bytes, new shape: the output shares the input's storage; no kernel runs.
        aliases[y] = x
    }

    mutating func addQuantize(_ op: Operator, index: Int) throws {
        let (x, y) = (op.inputs[0], op.outputs[0])
        try requireType(y, .int8, index, op)
        try checkShape(tensor(x).shape, of: y, index, op)
        let yq = try quant(y, index, op)
        switch tensor(x).type {
        case .float32:
            steps.append(Step(op: index, output: y, kind: .quantizeF32(input: x, output: y, count: tensor(x).elementCount, scale: yq.scale, zeroPoint: yq.zp)))
        case .int8:
            let xq = try quant(x, index, op)
            var table = [Int8](repeating: 0, count: 256)
            effk_qs8_requantize_table(xq.scale, xq.zp, yq.scale, yq.zp, &table)
            steps.append(Step(op: index, output: y, kind: .lookup(table: stage(table), input: x, output: y, count: tensor(x).elementCount)))
        default:
            throw fail(index, op, "quantizing from \(tensor(x).type) is not supported (float32 or int8 only)")
        }
    }

    mutating func addDequantize(_ op: Operator, index: Int) throws {
        let (x, y) = (op.inputs[0], op.outputs[0])
        try requireType(x, .int8, index, op)
        try requireType(y, .float32, index, op)
        try checkShape(tensor(x).shape, of: y, index, op)
        let xq = try quant(x, index, op)
        steps.append(Step(op: index, output: y, kind: .dequantize(input: x, output: y, count: tensor(x).elementCount, scale: xq.scale, zeroPoint: xq.zp)))
    }

    mutating func addPad(_ op: Operator, index: Int) throws {
        let (x, padsT, y) = (op.inputs[0], op.inputs[1], op.outputs[0])
        for t in [x, y] { try requireType(t, .int8, index, op) }
        let xs = tensor(x).shape
        guard xs.count <= 4, tensor(padsT).isConstant, tensor(padsT).type == .int32,
              tensor(padsT).shape == [xs.count, 2] else {
            throw fail(index, op, "paddings must be a constant int32 [\(xs.count), 2] tensor for an input of rank ≤ 4")
        }
        let pads = int32Values(of: padsT)
        guard pads.allSatisfy({ $0 >= 0 && $0 <= 1 << 16 }) else { throw fail(index, op, "paddings must be between 0 and 65536") }
        let lead = 4 - xs.count
        let shape4 = Array(repeating: 1, count: lead) + xs
        var before = [Int32](repeating: 0, count: 4), after = [Int32](repeating: 0, count: 4)
        for d in 0..<xs.count { before[lead + d] = pads[2 * d]; after[lead + d] = pads[2 * d + 1] }
        let outShape = xs.indices.map { xs[$0] + Int(pads[2 * $0]) + Int(pads[2 * $0 + 1]) }
        try checkShape(outShape, of: y, index, op)
        let xq = try quant(x, index, op), yq = try quant(y, index, op)
        guard xq == yq else { throw fail(index, op, "input and output quantization must be equal") }
        var value = Int8(clamping: yq.zp)
        if case .padV2 = op.kind, op.inputs.count > 2, op.inputs[2] >= 0 {
            let v = op.inputs[2]
            guard tensor(v).isConstant, tensor(v).type == .int8, tensor(v).elementCount == 1 else {
                throw fail(index, op, "constant_values must be a constant int8 scalar")
            }
            value = Int8(bitPattern: graph.constantBytes(of: v).first ?? 0)
        }
        steps.append(Step(op: index, output: y, kind: .pad(shape: shape4.map { Int32($0) }, before: before, after: after, value: value, input: x, output: y)))
    }

    // MARK: memory

    /// Storage root of every activation tensor (RESHAPE outputs map to their input's root).
    func storageRoots() -> [Int: Int] {
        var roots: [Int: Int] = [:]
        for t in graph.tensors.indices where !graph.tensors[t].isConstant {
            var r = t, hops = 0
            while let next = aliases[r], hops < graph.tensors.count { r = next; hops += 1 }
            roots[t] = r
        }
        return roots
    }

    /// (root, first step, last step) for every storage root that the plan touches.
    func lifetimes(storage: [Int: Int]) -> [(Int, Int, Int)] {
        var first: [Int: Int] = [:], last: [Int: Int] = [:]
        func touch(_ t: Int, _ step: Int) {
            guard let r = storage[t] else { return }
            first[r] = min(first[r] ?? step, step)
            last[r] = max(last[r] ?? step, step)
        }
        for t in graph.inputs { touch(t, 0) }
        for (i, s) in steps.enumerated() {
            for t in s.reads { touch(t, i) }
            touch(s.output, i)
        }
        for t in graph.outputs { touch(t, steps.count) }
        return first.keys.sorted().map { ($0, first[$0]!, last[$0]!) }
    }
}
