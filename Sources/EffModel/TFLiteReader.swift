import Foundation

// Reads a .tflite file (TFLite schema version 3, file identifier "TFL3") into a validated
// `Graph`. Field ids and enum values below are those of tensorflow/lite/schema/schema.fbs
// (checked against the schema and LiteRT 2.3.0's generated schema_py_generated.py).
//
// The reader checks what the engine must be able to trust: every index is in range, every
// constant's bytes lie inside the file and match its shape and type, quantization is
// consistent, each operator has the arity, types and ranks the engine runs, the output
// shape each operator's file entry claims is the one the op produces, and operators are in
// execution order (each reads only constants, graph inputs or earlier operators' outputs).

extension Graph {
    /// Parses and validates a .tflite model. The graph keeps `tfliteData` (no copy) as its
    /// `buffer`; constant tensors are ranges into it.
    public init(tfliteData: Data) throws {
        // Tensor.data ranges are 0-based; rebase (copy, once) the rare Data slice that is not.
        let data = tfliteData.startIndex == 0 ? tfliteData : Data(tfliteData)
        let parsed = try data.withUnsafeBytes { raw in
            try TFLiteParser(FlatBufferReader(raw)).parse()
        }
        self.init(buffer: data, tensors: parsed.tensors, operators: parsed.operators,
                  inputs: parsed.inputs, outputs: parsed.outputs, modelDescription: parsed.description)
    }

    /// Reads and parses the model at `path`. A file that cannot be read is `.io(path:reason:)`;
    /// a model that does not parse or validate throws the same error as `init(tfliteData:)`
    /// (callers add the path when they report it).
    public static func load(path: String) throws -> Graph {
        let data: Data
        do {
            // A FIFO or a device such as /dev/zero would block or never end: regular files only
            // (after following symlinks, which attributesOfItem does not).
            let resolved = URL(fileURLWithPath: path).resolvingSymlinksInPath().path
            let attributes = try FileManager.default.attributesOfItem(atPath: resolved)
            guard attributes[.type] as? FileAttributeType == .typeRegular else {
                throw ModelError.io(path: path, reason: "not a regular file")
            }
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch let error as ModelError {
            throw error
        } catch {
            throw ModelError.io(path: path, reason: "cannot read: \(error.localizedDescription)")
        }
        return try Graph(tfliteData: data)
    }
}

// MARK: - Schema constants

/// TFLite schema ids used here (schema.fbs). Fields are numbered from 0 in declaration
/// order; a union takes two ids (its `_type` tag, then the value).
private enum Schema {
    static let version: UInt32 = 3
    static let fileIdentifier: [UInt8] = Array("TFL3".utf8)

    // BuiltinOperator
    static let add = 0, averagePool2D = 1, conv2D = 3, depthwiseConv2D = 4, dequantize = 6
    static let fullyConnected = 9, logistic = 14, mul = 18, reshape = 22, softmax = 25
    static let custom = 32, pad = 34, mean = 40, padV2 = 60, quantize = 114

    // BuiltinOptions union tags
    static let conv2DOptions: UInt8 = 1, depthwiseConv2DOptions: UInt8 = 2, pool2DOptions: UInt8 = 5
    static let fullyConnectedOptions: UInt8 = 8, softmaxOptions: UInt8 = 9, addOptions: UInt8 = 11
    static let mulOptions: UInt8 = 21, reducerOptions: UInt8 = 27

    /// Largest tensor rank accepted (the ops effnetd runs use at most 4).
    static let maxRank = 6
}

/// TensorType names by code, for messages (schema.fbs `enum TensorType`).
private let tensorTypeNames = [
    "FLOAT32", "FLOAT16", "INT32", "UINT8", "INT64", "STRING", "BOOL", "INT16", "COMPLEX64", "INT8",
    "FLOAT64", "COMPLEX128", "UINT64", "RESOURCE", "VARIANT", "UINT32", "UINT16", "INT4", "BFLOAT16",
    "INT2", "UINT4", "FLOAT8_E4M3FN", "FLOAT8_E5M2",
]

private func elementType(code: Int8) -> ElementType? {
    switch code {
    case 0: return .float32
    case 2: return .int32
    case 3: return .uint8
    case 4: return .int64
    case 6: return .bool
    case 7: return .int16
    case 9: return .int8
    default: return nil
    }
}

/// BuiltinOperator names by code (schema.fbs `enum BuiltinOperator`, 0...209), for messages.
let builtinOperatorNames: [String] = [
    "ADD", "AVERAGE_POOL_2D", "CONCATENATION", "CONV_2D", "DEPTHWISE_CONV_2D", "DEPTH_TO_SPACE",
    "DEQUANTIZE", "EMBEDDING_LOOKUP", "FLOOR", "FULLY_CONNECTED", "HASHTABLE_LOOKUP", "L2_NORMALIZATION",
    "L2_POOL_2D", "LOCAL_RESPONSE_NORMALIZATION", "LOGISTIC", "LSH_PROJECTION", "LSTM", "MAX_POOL_2D", "MUL",
    "RELU", "RELU_N1_TO_1", "RELU6", "RESHAPE", "RESIZE_BILINEAR", "RNN", "SOFTMAX", "SPACE_TO_DEPTH",
    "SVDF", "TANH", "CONCAT_EMBEDDINGS", "SKIP_GRAM", "CALL", "CUSTOM", "EMBEDDING_LOOKUP_SPARSE", "PAD",
    "UNIDIRECTIONAL_SEQUENCE_RNN", "GATHER", "BATCH_TO_SPACE_ND", "SPACE_TO_BATCH_ND", "TRANSPOSE", "MEAN",
    "SUB", "DIV", "SQUEEZE", "UNIDIRECTIONAL_SEQUENCE_LSTM", "STRIDED_SLICE", "BIDIRECTIONAL_SEQUENCE_RNN",
    "EXP", "TOPK_V2", "SPLIT", "LOG_SOFTMAX", "DELEGATE", "BIDIRECTIONAL_SEQUENCE_LSTM", "CAST", "PRELU",
    "MAXIMUM", "ARG_MAX", "MINIMUM", "LESS", "NEG", "PADV2", "GREATER", "GREATER_EQUAL", "LESS_EQUAL",
    "SELECT", "SLICE", "SIN", "TRANSPOSE_CONV", "SPARSE_TO_DENSE", "TILE", "EXPAND_DIMS", "EQUAL",
    "NOT_EQUAL", "LOG", "SUM", "SQRT", "RSQRT", "SHAPE", "POW", "ARG_MIN", "FAKE_QUANT", "REDUCE_PROD",
    "REDUCE_MAX", "PACK", "LOGICAL_OR", "ONE_HOT", "LOGICAL_AND", "LOGICAL_NOT", "UNPACK", "REDUCE_MIN",
    "FLOOR_DIV", "REDUCE_ANY", "SQUARE", "ZEROS_LIKE", "FILL", "FLOOR_MOD", "RANGE",
    "RESIZE_NEAREST_NEIGHBOR", "LEAKY_RELU", "SQUARED_DIFFERENCE", "MIRROR_PAD", "ABS", "SPLIT_V", "UNIQUE",
    "CEIL", "REVERSE_V2", "ADD_N", "GATHER_ND", "COS", "WHERE", "RANK", "ELU", "REVERSE_SEQUENCE",
    "MATRIX_DIAG", "QUANTIZE", "MATRIX_SET_DIAG", "ROUND", "HARD_SWISH", "IF", "WHILE",
    "NON_MAX_SUPPRESSION_V4", "NON_MAX_SUPPRESSION_V5", "SCATTER_ND", "SELECT_V2", "DENSIFY", "SEGMENT_SUM",
    "BATCH_MATMUL", "PLACEHOLDER_FOR_GREATER_OP_CODES", "CUMSUM", "CALL_ONCE", "BROADCAST_TO", "RFFT2D",
    "CONV_3D", "IMAG", "REAL", "COMPLEX_ABS", "HASHTABLE", "HASHTABLE_FIND", "HASHTABLE_IMPORT",
    "HASHTABLE_SIZE", "REDUCE_ALL", "CONV_3D_TRANSPOSE", "VAR_HANDLE", "READ_VARIABLE", "ASSIGN_VARIABLE",
    "BROADCAST_ARGS", "RANDOM_STANDARD_NORMAL", "BUCKETIZE", "RANDOM_UNIFORM", "MULTINOMIAL", "GELU",
    "DYNAMIC_UPDATE_SLICE", "RELU_0_TO_1", "UNSORTED_SEGMENT_PROD", "UNSORTED_SEGMENT_MAX",
    "UNSORTED_SEGMENT_SUM", "ATAN2", "UNSORTED_SEGMENT_MIN", "SIGN", "BITCAST", "BITWISE_XOR", "RIGHT_SHIFT",
    "STABLEHLO_LOGISTIC", "STABLEHLO_ADD", "STABLEHLO_DIVIDE", "STABLEHLO_MULTIPLY", "STABLEHLO_MAXIMUM",
    "STABLEHLO_RESHAPE", "STABLEHLO_CLAMP", "STABLEHLO_CONCATENATE", "STABLEHLO_BROADCAST_IN_DIM",
    "STABLEHLO_CONVOLUTION", "STABLEHLO_SLICE", "STABLEHLO_CUSTOM_CALL", "STABLEHLO_REDUCE", "STABLEHLO_ABS",
    "STABLEHLO_AND", "STABLEHLO_COSINE", "STABLEHLO_EXPONENTIAL", "STABLEHLO_FLOOR", "STABLEHLO_LOG",
    "STABLEHLO_MINIMUM", "STABLEHLO_NEGATE", "STABLEHLO_OR", "STABLEHLO_POWER", "STABLEHLO_REMAINDER",
    "STABLEHLO_RSQRT", "STABLEHLO_SELECT", "STABLEHLO_SUBTRACT", "STABLEHLO_TANH", "STABLEHLO_SCATTER",
    "STABLEHLO_COMPARE", "STABLEHLO_CONVERT", "STABLEHLO_DYNAMIC_SLICE", "STABLEHLO_DYNAMIC_UPDATE_SLICE",
    "STABLEHLO_PAD", "STABLEHLO_IOTA", "STABLEHLO_DOT_GENERAL", "STABLEHLO_REDUCE_WINDOW", "STABLEHLO_SORT",
    "STABLEHLO_WHILE", "STABLEHLO_GATHER", "STABLEHLO_TRANSPOSE", "DILATE", "STABLEHLO_RNG_BIT_GENERATOR",
    "REDUCE_WINDOW", "STABLEHLO_COMPOSITE", "STABLEHLO_SHIFT_LEFT", "STABLEHLO_CBRT", "STABLEHLO_CASE",
]

/// "SQUEEZE (builtin code 43)", or "builtin code N" for codes this table does not know.
func builtinOperatorDescription(_ code: Int) -> String {
    builtinOperatorNames.indices.contains(code) ? "\(builtinOperatorNames[code]) (builtin code \(code))"
        : "builtin code \(code)"
}

// Per-element scans of quantization vectors (tens of thousands of elements per model) as
// plain loops: the closure-taking stdlib algorithms run unspecialized, ~10× slower, in debug
// builds, which the mutation tests (thousands of loads) feel.

private func firstInvalidScale(_ scales: [Float]) -> Int? {
    scales.withUnsafeBufferPointer { p in
        var i = 0
        while i < p.count {
            if !(p[i].isFinite && p[i] > 0) { return i }
            i += 1
        }
        return nil
    }
}

private func firstZeroPoint(_ zeroPoints: [Int64], outside range: ClosedRange<Int64>) -> Int? {
    let (lo, hi) = (range.lowerBound, range.upperBound)
    return zeroPoints.withUnsafeBufferPointer { p in
        var i = 0
        while i < p.count {
            if p[i] < lo || p[i] > hi { return i }
            i += 1
        }
        return nil
    }
}

/// A tensor name short enough for a message (converter names can run to hundreds of bytes).
private func shortName(_ name: String) -> String {
    name.count <= 80 ? "'\(name)'" : "'\(name.prefix(77))...'"
}

// MARK: - Parser

private struct TFLiteParser {
    let fb: FlatBufferReader

    init(_ fb: FlatBufferReader) { self.fb = fb }

    struct Parsed {
        var tensors: [Tensor], operators: [Operator], inputs: [Int], outputs: [Int], description: String?
    }

    func parse() throws -> Parsed {
        guard fb.count >= 8 else {
            throw ModelError.malformed(offset: 0, what: "file is \(fb.count) bytes; a .tflite file starts with "
                + "an 8-byte header (root offset, \"TFL3\")")
        }
        let ident = (4..<8).map { fb.bytes[$0] }
        guard ident == Schema.fileIdentifier else {
            let shown = ident.map { (0x20..<0x7f).contains($0) ? String(UnicodeScalar($0)) : "." }.joined()
            throw ModelError.malformed(offset: 4, what: "file identifier is \"\(shown)\", expected \"TFL3\" "
                + "(not a TFLite model)")
        }
        let model = try fb.root(FBPath(table: "Model"))
        let version: UInt32 = try model.scalar(0, "version", default: 0)
        guard version == Schema.version else {
            throw ModelError.unsupported(what: "TFLite schema version \(version); effnetd reads version 3")
        }
        let opcodes = try parseOperatorCodes(model.vector(1, "operator_codes", elementSize: 4))
        let subgraphs = try model.vector(2, "subgraphs", elementSize: 4)
        let description = try model.string(3, "description")
        let buffers = try model.vector(4, "buffers", elementSize: 4)

        guard let subgraphs, subgraphs.count > 0 else {
            throw ModelError.malformed(offset: model.pos, what: "Model.subgraphs: the model has no subgraph")
        }
        guard subgraphs.count == 1 else {
            throw ModelError.unsupported(what: "the model has \(subgraphs.count) subgraphs (control flow or "
                + "several signatures); effnetd runs single-subgraph models")
        }
        let sg = try subgraphs.table(0, path: FBPath(table: "SubGraph", index: 0))

        let tensors = try parseTensors(sg.vector(0, "tensors", elementSize: 4), buffers: buffers)
        let inputs = try graphIndices(sg.vector(1, "inputs", elementSize: 4), "input", tensorCount: tensors.count)
        let outputs = try graphIndices(sg.vector(2, "outputs", elementSize: 4), "output", tensorCount: tensors.count)
        var operators: [Operator] = []
        if let ops = try sg.vector(3, "operators", elementSize: 4) {
            try fb.budget.charge(ops.count * 64, at: ops.pos, "SubGraph[0].operators")
            operators.reserveCapacity(ops.count)
            for k in 0..<ops.count {
                operators.append(try parseOperator(ops.table(k, path: FBPath(table: "Operator", index: k)),
                                                   index: k, opcodes: opcodes, tensors: tensors))
            }
        }
        try OperatorValidator(fb: fb, tensors: tensors).checkDataflow(operators, inputs: inputs, outputs: outputs)
        return Parsed(tensors: tensors, operators: operators, inputs: inputs, outputs: outputs,
                      description: description)
    }

    // MARK: operator codes

    struct OpCode { var code: Int; var custom: String? }

    func parseOperatorCodes(_ vector: FBVector?) throws -> [OpCode] {
        guard let vector else { return [] }
        try fb.budget.charge(vector.count * 32, at: vector.pos, "Model.operator_codes")
        var codes: [OpCode] = []
        codes.reserveCapacity(vector.count)
        for i in 0..<vector.count {
            let t = try vector.table(i, path: FBPath(table: "OperatorCode", index: i))
            let deprecated: Int8 = try t.scalar(0, "deprecated_builtin_code", default: 0)
            let custom = try t.string(1, "custom_code")
            let builtin: Int32 = try t.scalar(3, "builtin_code", default: 0)
            // Old writers fill only the int8 field, new ones both; the schema says take the larger.
            codes.append(OpCode(code: max(Int(deprecated), Int(builtin)), custom: custom))
        }
        return codes
    }

    // MARK: tensors

    func parseTensors(_ vector: FBVector?, buffers: FBVector?) throws -> [Tensor] {
        guard let vector else { return [] }
        try fb.budget.charge(vector.count * 64, at: vector.pos, "SubGraph[0].tensors")
        var tensors: [Tensor] = []
        tensors.reserveCapacity(vector.count)
        for i in 0..<vector.count {
            tensors.append(try parseTensor(vector.table(i, path: FBPath(table: "Tensor", index: i)), index: i,
                                           buffers: buffers))
        }
        return tensors
    }

    func parseTensor(_ t: FBTable, index i: Int, buffers: FBVector?) throws -> Tensor {
        let shapeVector = try t.vector(0, "shape", elementSize: 4)
        let typeCode: Int8 = try t.scalar(1, "type", default: 0)
        let bufferIndex: UInt32 = try t.scalar(2, "buffer", default: 0)
        let name = try t.string(3, "name") ?? ""
        let quantTable = try t.table(4, "quantization", path: FBPath(table: "Tensor", index: i, sub: "quantization"))
        func label() -> String { "tensor \(i) (\(shortName(name)))" }

        guard let type = elementType(code: typeCode) else {
            if tensorTypeNames.indices.contains(Int(typeCode)) {
                throw ModelError.unsupported(what: "\(label()) has type \(tensorTypeNames[Int(typeCode)]), "
                    + "which effnetd does not support")
            }
            throw ModelError.invalidTensor(index: i, reason: "\(shortName(name)): type code \(typeCode) is not a "
                + "TFLite tensor type")
        }
        if try t.bool(5, "is_variable") {
            throw ModelError.unsupported(what: "\(label()) is a variable tensor; effnetd runs stateless models")
        }
        if try t.field(6, size: 4, "sparsity") != nil {
            throw ModelError.unsupported(what: "\(label()) is sparse; effnetd needs dense tensors")
        }
        let external: UInt32 = try t.scalar(10, "external_buffer", default: 0)
        if external != 0 {
            throw ModelError.unsupported(what: "\(label()) uses external buffer \(external); effnetd needs the "
                + "weights inside the .tflite file")
        }

        // Shape: rank is checked before anything is decoded.
        var shape: [Int] = []
        if let shapeVector {
            guard shapeVector.count <= Schema.maxRank else {
                throw ModelError.unsupported(what: "\(label()) has rank \(shapeVector.count); effnetd supports rank "
                    + "≤ \(Schema.maxRank)")
            }
            shape = (0..<shapeVector.count).map { Int(shapeVector.int32($0)) }
        }
        var elements = 1
        for (axis, d) in shape.enumerated() {
            guard d >= 1 else {
                throw ModelError.invalidTensor(index: i, reason: "\(shortName(name)): dimension \(axis) of shape "
                    + "\(shape) is \(d); dimensions must be ≥ 1")
            }
            let (product, overflow) = elements.multipliedReportingOverflow(by: d)
            guard !overflow else {
                throw ModelError.invalidTensor(index: i, reason: "\(shortName(name)): element count of shape "
                    + "\(shape) overflows")
            }
            elements = product
        }
        let (byteCount, overflow) = elements.multipliedReportingOverflow(by: type.size)
        guard !overflow else {
            throw ModelError.invalidTensor(index: i, reason: "\(shortName(name)): byte count of shape \(shape) "
                + "overflows")
        }

        let quantization = try parseQuantization(quantTable, tensor: i, name: name, type: type, shape: shape)
        let data = try constantData(bufferIndex: Int(bufferIndex), buffers: buffers, tensor: i, name: name)
        if let data, data.count != byteCount {
            throw ModelError.invalidTensor(index: i, reason: "\(shortName(name)): constant data is \(data.count) "
                + "bytes but shape \(shape) of \(type) needs \(byteCount)")
        }
        return Tensor(name: name, type: type, shape: shape, quantization: quantization, data: data)
    }

    /// The byte range of a tensor's constant data, or nil for an activation (empty buffer).
    func constantData(bufferIndex b: Int, buffers: FBVector?, tensor i: Int, name: String) throws -> Range<Int>? {
        let bufferCount = buffers?.count ?? 0
        guard let buffers, b < bufferCount else {
            if b == 0 { return nil }  // buffer 0 is the empty sentinel, even if the vector is missing
            throw ModelError.invalidTensor(index: i, reason: "\(shortName(name)): buffer index \(b) out of range "
                + "(\(bufferCount) buffers)")
        }
        let buffer = try buffers.table(b, path: FBPath(table: "Buffer", index: b))
        if let bytes = try buffer.vector(0, "data", elementSize: 1), bytes.count > 0 {
            return bytes.dataRange
        }
        // Models over 2 GB keep data after the flatbuffer: offset (from the file start, valid when
        // > 1) and size.
        let offset: UInt64 = try buffer.scalar(1, "offset", default: 0)
        let size: UInt64 = try buffer.scalar(2, "size", default: 0)
        guard offset > 1, size > 0 else { return nil }
        let fileSize = UInt64(fb.count)
        guard offset <= fileSize, size <= fileSize - offset else {
            throw ModelError.malformed(offset: buffer.pos, what: "Buffer[\(b)]: external data at offset \(offset), "
                + "size \(size) lies outside the file (\(fb.count) bytes)")
        }
        return Int(offset)..<Int(offset + size)
    }

    func parseQuantization(_ q: FBTable?, tensor i: Int, name: String, type: ElementType, shape: [Int]) throws
        -> Quantization?
    {
        guard let q else { return nil }
        let detailsType: UInt8 = try q.scalar(4, "details_type", default: 0)
        if detailsType != 0 {
            throw ModelError.unsupported(what: "tensor \(i) (\(shortName(name))) uses custom quantization details "
                + "(type \(detailsType))")
        }
        // No scales means "not quantized", as in TFLite.
        guard let scaleVector = try q.vector(2, "scale", elementSize: 4), scaleVector.count > 0 else { return nil }
        let zeroVector = try q.vector(3, "zero_point", elementSize: 8)
        let n = scaleVector.count
        guard let zeroVector, zeroVector.count == n else {
            throw ModelError.invalidTensor(index: i, reason: "\(shortName(name)): \(n) quantization scales but "
                + "\(zeroVector?.count ?? 0) zero points")
        }
        var axis = 0
        if n > 1 {
            let dim: Int32 = try q.scalar(6, "quantized_dimension", default: 0)
            guard dim >= 0, Int(dim) < shape.count else {
                throw ModelError.invalidTensor(index: i, reason: "\(shortName(name)): quantized_dimension \(dim) "
                    + "out of range for shape \(shape)")
            }
            axis = Int(dim)
            guard shape[axis] == n else {
                throw ModelError.invalidTensor(index: i, reason: "\(shortName(name)): \(n) per-channel scales but "
                    + "dimension \(axis) of shape \(shape) is \(shape[axis])")
            }
        }
        let scales = try scaleVector.floatArray()
        if let bad = firstInvalidScale(scales) {
            throw ModelError.invalidTensor(index: i, reason: "\(shortName(name)): quantization scale[\(bad)] is "
                + "\(scales[bad]); scales must be finite and > 0")
        }
        let zeroPoints = try zeroVector.int64Array()
        let range: ClosedRange<Int64>? = switch type {
        case .int8: -128...127
        case .uint8: 0...255
        case .int16: -32768...32767
        case .int32: Int64(Int32.min)...Int64(Int32.max)
        default: nil
        }
        if let range, let bad = firstZeroPoint(zeroPoints, outside: range) {
            throw ModelError.invalidTensor(index: i, reason: "\(shortName(name)): zero point[\(bad)] "
                + "\(zeroPoints[bad]) is outside the \(type) range")
        }
        return Quantization(scales: scales, zeroPoints: zeroPoints, axis: axis)
    }

    /// SubGraph inputs or outputs: at least one, each a valid tensor index.
    func graphIndices(_ vector: FBVector?, _ role: String, tensorCount: Int) throws -> [Int] {
        guard let vector, vector.count > 0 else {
            throw ModelError.unsupported(what: "the subgraph has no \(role)s")
        }
        let indices = try vector.int32Array().map(Int.init)
        if let k = indices.firstIndex(where: { !(0..<tensorCount).contains($0) }) {
            throw ModelError.malformed(offset: vector.pos + 4 + 4 * k, what: "SubGraph[0].\(role)s[\(k)] is tensor "
                + "\(indices[k]); the subgraph has \(tensorCount) tensors")
        }
        return indices
    }

    // MARK: operators

    func parseOperator(_ t: FBTable, index k: Int, opcodes: [OpCode], tensors: [Tensor]) throws -> Operator {
        let opcodeIndex: UInt32 = try t.scalar(0, "opcode_index", default: 0)
        guard Int(opcodeIndex) < opcodes.count else {
            throw ModelError.invalidOperator(index: k, op: "?", reason: "opcode_index \(opcodeIndex) out of range "
                + "(\(opcodes.count) operator codes)")
        }
        let opcode = opcodes[Int(opcodeIndex)]
        let kind = try resolveKind(t, index: k, opcode: opcode)

        let inputs = try t.vector(1, "inputs", elementSize: 4)?.int32Array().map(Int.init) ?? []
        let outputs = try t.vector(2, "outputs", elementSize: 4)?.int32Array().map(Int.init) ?? []
        for (role, list) in [("input", inputs), ("output", outputs)] {
            if let j = list.firstIndex(where: { $0 < -1 || $0 >= tensors.count }) {
                throw ModelError.invalidOperator(index: k, op: kind.name, reason: "\(role) \(j) is tensor "
                    + "\(list[j]); the subgraph has \(tensors.count) tensors")
            }
        }
        let op = Operator(kind: kind, inputs: inputs, outputs: outputs)
        return try OperatorValidator(fb: fb, tensors: tensors).validate(op, index: k)
    }

    /// Maps an operator code and its builtin options to an `OpKind`, or refuses it.
    func resolveKind(_ t: FBTable, index k: Int, opcode: OpCode) throws -> OpKind {
        let code = opcode.code
        let name = builtinOperatorNames.indices.contains(code) ? builtinOperatorNames[code] : "builtin code \(code)"
        let (optionsType, optionsTable) = try t.union(type: 3, value: 4, "builtin_options",
                                                      path: FBPath(table: "Operator", index: k, sub: "builtin_options"))
        func invalid(_ reason: String) -> ModelError { .invalidOperator(index: k, op: name, reason: reason) }

        /// The options table when its union tag is the expected one; nil (schema defaults) when absent.
        func options(_ expected: UInt8, _ expectedName: String) throws -> FBTable? {
            guard optionsType == 0 || optionsType == expected else {
                throw invalid("builtin_options has union type \(optionsType), expected \(expectedName) (\(expected))")
            }
            return optionsTable
        }
        func activation(_ o: FBTable?, _ id: Int) throws -> FusedActivation {
            let raw: Int8 = try o?.scalar(id, "fused_activation_function", default: 0) ?? 0
            if let a = FusedActivation(rawValue: Int32(raw)) { return a }
            if raw == 4 || raw == 5 {
                throw ModelError.unsupported(what: "operator \(k) (\(name)) fuses activation "
                    + "\(raw == 4 ? "TANH" : "SIGN_BIT"), which effnetd does not run")
            }
            throw invalid("fused_activation_function \(raw) is not a TFLite activation")
        }
        func padding(_ o: FBTable?) throws -> Padding {
            let raw: Int8 = try o?.scalar(0, "padding", default: 0) ?? 0
            switch raw {
            case 0: return .same
            case 1: return .valid
            default: throw invalid("padding \(raw) is neither SAME (0) nor VALID (1)")
            }
        }
        /// A stride, dilation or filter size: must be ≥ 1.
        func positive(_ o: FBTable?, _ id: Int, _ field: StaticString, default def: Int32) throws -> Int {
            let v: Int32 = try o?.scalar(id, field, default: def) ?? def
            guard v >= 1 else { throw invalid("\(field) is \(v); it must be ≥ 1") }
            return Int(v)
        }

        switch code {
        case Schema.conv2D:
            let o = try options(Schema.conv2DOptions, "Conv2DOptions")
            return .conv2D(Conv2DOptions(
                padding: try padding(o),
                strideW: try positive(o, 1, "stride_w", default: 0), strideH: try positive(o, 2, "stride_h", default: 0),
                dilationW: try positive(o, 4, "dilation_w_factor", default: 1),
                dilationH: try positive(o, 5, "dilation_h_factor", default: 1),
                activation: try activation(o, 3)))
        case Schema.depthwiseConv2D:
            let o = try options(Schema.depthwiseConv2DOptions, "DepthwiseConv2DOptions")
            // depth_multiplier (id 3) is not trusted: like TFLite, the validator derives it from the shapes.
            return .depthwiseConv2D(DepthwiseConv2DOptions(
                padding: try padding(o),
                strideW: try positive(o, 1, "stride_w", default: 0), strideH: try positive(o, 2, "stride_h", default: 0),
                depthMultiplier: 0,
                dilationW: try positive(o, 5, "dilation_w_factor", default: 1),
                dilationH: try positive(o, 6, "dilation_h_factor", default: 1),
                activation: try activation(o, 4)))
        case Schema.averagePool2D:
            let o = try options(Schema.pool2DOptions, "Pool2DOptions")
            return .averagePool2D(Pool2DOptions(
                padding: try padding(o),
                strideW: try positive(o, 1, "stride_w", default: 0), strideH: try positive(o, 2, "stride_h", default: 0),
                filterW: try positive(o, 3, "filter_width", default: 0),
                filterH: try positive(o, 4, "filter_height", default: 0),
                activation: try activation(o, 5)))
        case Schema.fullyConnected:
            let o = try options(Schema.fullyConnectedOptions, "FullyConnectedOptions")
            let format: Int8 = try o?.scalar(1, "weights_format", default: 0) ?? 0
            guard format == 0 else {
                throw ModelError.unsupported(what: "operator \(k) (\(name)) uses weights_format \(format) "
                    + "(shuffled weights); effnetd needs DEFAULT (0)")
            }
            // asymmetric_quantize_inputs (id 3) only affects hybrid float-input FC, which is refused anyway.
            return .fullyConnected(activation: try activation(o, 0),
                                   keepNumDims: try o?.bool(2, "keep_num_dims") ?? false)
        case Schema.add:
            return .add(activation: try activation(options(Schema.addOptions, "AddOptions"), 0))
        case Schema.mul:
            return .mul(activation: try activation(options(Schema.mulOptions, "MulOptions"), 0))
        case Schema.softmax:
            let beta = try options(Schema.softmaxOptions, "SoftmaxOptions")?.float(0, "beta", default: 0) ?? 0
            guard beta.isFinite, beta > 0 else { throw invalid("beta is \(beta); it must be finite and > 0") }
            return .softmax(beta: beta)
        case Schema.mean:
            return .mean(keepDims: try options(Schema.reducerOptions, "ReducerOptions")?.bool(0, "keep_dims") ?? false)
        // Ops whose options are empty or ignored (RESHAPE's new_shape: the output tensor's shape rules).
        case Schema.logistic: return .logistic
        case Schema.reshape: return .reshape
        case Schema.quantize: return .quantize
        case Schema.dequantize: return .dequantize
        case Schema.pad: return .pad
        case Schema.padV2: return .padV2
        case Schema.custom:
            let custom = opcode.custom.map { "custom operator '\($0)'" } ?? "a custom operator without a name"
            throw ModelError.unsupported(what: "operator \(k) uses \(custom), which effnetd does not run")
        default:
            throw ModelError.unsupported(what: "operator \(k) uses \(builtinOperatorDescription(code)), "
                + "which effnetd does not run")
        }
    }
}

// MARK: - Operator validation

/// Checks one operator against the tensors it names: arity, types, ranks, quantization and
/// the output shape the op produces from its inputs.
private struct OperatorValidator {
    let fb: FlatBufferReader
    let tensors: [Tensor]

    func validate(_ op: Operator, index k: Int) throws -> Operator {
        var c = Check(op: op, index: k, tensors: tensors, fb: fb)
        try c.run()
        return c.op
    }

    /// Operators must come in execution order: each reads constants, graph inputs or tensors
    /// written by earlier operators, and each tensor is written once.
    func checkDataflow(_ operators: [Operator], inputs: [Int], outputs: [Int]) throws {
        var written = [Bool](repeating: false, count: tensors.count)
        for i in inputs {
            guard !tensors[i].isConstant else {
                throw ModelError.invalidTensor(index: i, reason: "\(shortName(tensors[i].name)) is a graph input "
                    + "but has constant data")
            }
            written[i] = true
        }
        for (k, op) in operators.enumerated() {
            for (j, t) in op.inputs.enumerated() where t >= 0 && !tensors[t].isConstant && !written[t] {
                throw ModelError.invalidOperator(index: k, op: op.kind.name, reason: "input \(j) (tensor \(t)) is "
                    + "read before any operator writes it")
            }
            for t in op.outputs {
                guard !tensors[t].isConstant else {
                    throw ModelError.invalidOperator(index: k, op: op.kind.name, reason: "output tensor \(t) has "
                        + "constant data")
                }
                guard !written[t] else {
                    throw ModelError.invalidOperator(index: k, op: op.kind.name, reason: "output tensor \(t) is "
                        + "already written by a graph input or an earlier operator")
                }
                written[t] = true
            }
        }
        for o in outputs where !written[o] {
            throw ModelError.invalidTensor(index: o, reason: "\(shortName(tensors[o].name)) is a graph output but "
                + "no operator writes it")
        }
    }

    struct Check {
        var op: Operator
        let index: Int
        let tensors: [Tensor]
        let fb: FlatBufferReader

        var name: String { op.kind.name }

        func invalid(_ reason: String) -> ModelError { .invalidOperator(index: index, op: name, reason: reason) }
        func unsupported(_ what: String) -> ModelError {
            .unsupported(what: "operator \(index) (\(name)): \(what)")
        }

        // MARK: arity and tensor access

        func arity(inputs: ClosedRange<Int>, outputs: Int = 1) throws {
            guard inputs.contains(op.inputs.count) else {
                let want = inputs.count == 1 ? "\(inputs.lowerBound)" : "\(inputs.lowerBound) to \(inputs.upperBound)"
                throw invalid("has \(op.inputs.count) inputs; expected \(want)")
            }
            guard op.outputs.count == outputs else {
                throw invalid("has \(op.outputs.count) outputs; expected \(outputs)")
            }
        }

        /// A required input: present and not -1.
        func input(_ j: Int, _ role: String) throws -> (index: Int, tensor: Tensor) {
            let t = op.inputs[j]
            guard t >= 0 else { throw invalid("\(role) (input \(j)) is missing") }
            return (t, tensors[t])
        }

        /// An optional input: nil when absent from the list or -1.
        func optionalInput(_ j: Int) -> (index: Int, tensor: Tensor)? {
            guard j < op.inputs.count, op.inputs[j] >= 0 else { return nil }
            return (op.inputs[j], tensors[op.inputs[j]])
        }

        func output() -> (index: Int, tensor: Tensor) { (op.outputs[0], tensors[op.outputs[0]]) }

        // MARK: predicates

        func type(_ t: (index: Int, tensor: Tensor), _ role: String, _ allowed: ElementType...) throws {
            guard allowed.contains(t.tensor.type) else {
                throw unsupported("\(role) tensor \(t.index) has type \(t.tensor.type); expected "
                    + allowed.map(\.rawValue).joined(separator: " or "))
            }
        }

        func rank(_ t: (index: Int, tensor: Tensor), _ role: String, _ allowed: ClosedRange<Int>) throws {
            guard allowed.contains(t.tensor.shape.count) else {
                let want = allowed.count == 1 ? "\(allowed.lowerBound)" : "\(allowed.lowerBound) to \(allowed.upperBound)"
                throw invalid("\(role) tensor \(t.index) has shape \(t.tensor.shape); expected rank \(want)")
            }
        }

        func constant(_ t: (index: Int, tensor: Tensor), _ role: String) throws {
            guard t.tensor.isConstant else {
                throw unsupported("\(role) tensor \(t.index) is not constant; effnetd needs constant \(role)s")
            }
        }

        /// An int8 activation: per-tensor quantization.
        func activation(_ t: (index: Int, tensor: Tensor), _ role: String) throws {
            try type(t, role, .int8)
            guard let q = t.tensor.quantization, q.scales.count == 1 else {
                throw invalid("\(role) tensor \(t.index) needs per-tensor quantization (has "
                    + "\(t.tensor.quantization.map { "\($0.scales.count) scales" } ?? "none"))")
            }
        }

        /// Constant int8 weights, symmetric, per-tensor or per-channel along `axis` with `channels` entries.
        func weights(_ t: (index: Int, tensor: Tensor), axis: Int, channels: Int) throws {
            try type(t, "filter", .int8)
            try constant(t, "filter")
            guard let q = t.tensor.quantization else { throw invalid("filter tensor \(t.index) is not quantized") }
            guard q.scales.count == 1 || (q.scales.count == channels && q.axis == axis) else {
                throw invalid("filter tensor \(t.index) has \(q.scales.count) scales on axis \(q.axis); expected 1, "
                    + "or \(channels) on axis \(axis)")
            }
            guard firstZeroPoint(q.zeroPoints, outside: 0...0) == nil else {
                throw invalid("filter tensor \(t.index) has a non-zero zero point; int8 weights are symmetric")
            }
        }

        /// Optional int32 constant bias with `channels` elements.
        func bias(_ j: Int, channels: Int) throws {
            guard let b = optionalInput(j) else { return }
            try type(b, "bias", .int32)
            try constant(b, "bias")
            guard b.tensor.elementCount == channels else {
                throw invalid("bias tensor \(b.index) has shape \(b.tensor.shape); expected \(channels) elements")
            }
        }

        func outputShape(_ expected: [Int]) throws {
            let out = output()
            guard out.tensor.shape == expected else {
                throw invalid("output tensor \(out.index) has shape \(out.tensor.shape), but the op produces "
                    + "\(expected)")
            }
        }

        /// Quantized output pinned by TFLite (LOGISTIC, SOFTMAX): scale 1/256, zero point -128.
        func fixedOutputQuantization() throws {
            let q = output().tensor.quantization
            guard let q, abs(q.scale - 1.0 / 256) <= 0.001 / 256, q.zeroPoints[0] == -128 else {
                throw invalid("int8 output must have scale 1/256 and zero point -128 (has "
                    + "\(q.map { "\($0.scale), \($0.zeroPoints[0])" } ?? "none"))")
            }
        }

        /// Constant int32 values of a small tensor (axes, paddings), from the file.
        func int32Values(_ t: Tensor) -> [Int] {
            guard let r = t.data else { return [] }
            return stride(from: r.lowerBound, to: r.upperBound, by: 4).map { Int(fb.load($0, as: Int32.self)) }
        }

        // MARK: per op

        mutating func run() throws {
            switch op.kind {
            case .conv2D(let o): try conv(o.padding, o.strideH, o.strideW, o.dilationH, o.dilationW)
            case .depthwiseConv2D(var o):
                o.depthMultiplier = try depthwise(o)
                op.kind = .depthwiseConv2D(o)
            case .averagePool2D(let o): try averagePool(o)
            case .fullyConnected(_, let keepNumDims): try fullyConnected(keepNumDims: keepNumDims)
            case .add, .mul: try binary()
            case .logistic, .softmax: try sigmoidOrSoftmax()
            case .mean(let keepDims): try mean(keepDims: keepDims)
            case .reshape: try reshape()
            case .quantize: try quantize()
            case .dequantize: try dequantize()
            case .pad: try pad(v2: false)
            case .padV2: try pad(v2: true)
            }
        }

        /// Spatial output size (TFLite's ComputeOutSize), nil when the window does not fit.
        func spatial(_ input: Int, kernel: Int, stride: Int, dilation: Int, padding: Padding) -> Int? {
            let (span, overflow) = (kernel - 1).multipliedReportingOverflow(by: dilation)
            guard !overflow else { return nil }
            switch padding {
            case .same: return (input + stride - 1) / stride
            case .valid: return input - span < 1 ? nil : (input - span - 1) / stride + 1
            }
        }

        func windowOutput(_ input: [Int], kernelH: Int, kernelW: Int, _ padding: Padding, _ strideH: Int, _ strideW: Int,
                          _ dilationH: Int, _ dilationW: Int, channels: Int) throws -> [Int] {
            guard let h = spatial(input[1], kernel: kernelH, stride: strideH, dilation: dilationH, padding: padding),
                  let w = spatial(input[2], kernel: kernelW, stride: strideW, dilation: dilationW, padding: padding)
            else {
                throw invalid("a \(kernelH)×\(kernelW) window (dilation \(dilationH)×\(dilationW)) does not fit the "
                    + "\(input[1])×\(input[2]) input with VALID padding")
            }
            return [input[0], h, w, channels]
        }

        mutating func conv(_ padding: Padding, _ strideH: Int, _ strideW: Int, _ dilationH: Int, _ dilationW: Int) throws {
            try arity(inputs: 2...3)
            let x = try input(0, "input"), f = try input(1, "filter")
            try activation(x, "input"); try rank(x, "input", 4...4); try rank(f, "filter", 4...4)
            let cin = x.tensor.shape[3], fs = f.tensor.shape, cout = fs[0]
            guard fs[3] == cin else {
                if cin % fs[3] == 0 {
                    throw unsupported("grouped convolution (filter \(fs) on \(cin) input channels)")
                }
                throw invalid("filter \(fs) (OHWI) does not match the input's \(cin) channels")
            }
            try weights(f, axis: 0, channels: cout)
            try bias(2, channels: cout)
            let out = output()
            try activation(out, "output")
            try outputShape(windowOutput(x.tensor.shape, kernelH: fs[1], kernelW: fs[2], padding, strideH, strideW,
                                         dilationH, dilationW, channels: cout))
            normalizeBias()
        }

        /// Returns the depth multiplier derived from the shapes (TFLite ignores the option's value).
        mutating func depthwise(_ o: DepthwiseConv2DOptions) throws -> Int {
            try arity(inputs: 2...3)
            let x = try input(0, "input"), f = try input(1, "filter")
            try activation(x, "input"); try rank(x, "input", 4...4); try rank(f, "filter", 4...4)
            let cin = x.tensor.shape[3], fs = f.tensor.shape, cout = fs[3]
            guard fs[0] == 1 else { throw invalid("filter \(fs) must be [1, KH, KW, out_channels]") }
            guard cout % cin == 0 else {
                throw invalid("filter's \(cout) output channels are not a multiple of the input's \(cin)")
            }
            try weights(f, axis: 3, channels: cout)
            try bias(2, channels: cout)
            try activation(output(), "output")
            try outputShape(windowOutput(x.tensor.shape, kernelH: fs[1], kernelW: fs[2], o.padding, o.strideH,
                                         o.strideW, o.dilationH, o.dilationW, channels: cout))
            normalizeBias()
            return cout / cin
        }

        /// CONV/DEPTHWISE/FC always get three inputs, -1 for no bias.
        mutating func normalizeBias() {
            if op.inputs.count == 2 { op.inputs.append(-1) }
        }

        func averagePool(_ o: Pool2DOptions) throws {
            try arity(inputs: 1...1)
            let x = try input(0, "input")
            try activation(x, "input"); try rank(x, "input", 4...4)
            try activation(output(), "output")
            try outputShape(windowOutput(x.tensor.shape, kernelH: o.filterH, kernelW: o.filterW, o.padding, o.strideH,
                                         o.strideW, 1, 1, channels: x.tensor.shape[3]))
        }

        mutating func fullyConnected(keepNumDims: Bool) throws {
            try arity(inputs: 2...3)
            let x = try input(0, "input"), f = try input(1, "filter")
            try activation(x, "input"); try rank(x, "input", 1...Schema.maxRank); try rank(f, "filter", 2...2)
            let units = f.tensor.shape[0], depth = f.tensor.shape[1]
            let count = x.tensor.elementCount
            guard count % depth == 0 else {
                throw invalid("input's \(count) elements are not a multiple of the filter's \(depth) inputs")
            }
            try weights(f, axis: 0, channels: units)
            try bias(2, channels: units)
            try activation(output(), "output")
            if keepNumDims {
                guard x.tensor.shape.last == depth else {
                    throw invalid("keep_num_dims needs the input's last dimension (\(x.tensor.shape)) to be \(depth)")
                }
                try outputShape(x.tensor.shape.dropLast() + [units])
            } else {
                try outputShape([count / depth, units])
            }
            normalizeBias()
        }

        /// ADD, MUL: two int8 operands of rank ≤ 4, numpy-style broadcast.
        func binary() throws {
            try arity(inputs: 2...2)
            let a = try input(0, "input"), b = try input(1, "input")
            for t in [a, b] { try activation(t, "input"); try rank(t, "input", 0...4) }
            try activation(output(), "output")
            let (sa, sb) = (a.tensor.shape, b.tensor.shape)
            let r = max(sa.count, sb.count)
            var shape = [Int](repeating: 1, count: r)
            for i in 0..<r {
                let da = i < r - sa.count ? 1 : sa[i - (r - sa.count)]
                let db = i < r - sb.count ? 1 : sb[i - (r - sb.count)]
                guard da == db || da == 1 || db == 1 else {
                    throw invalid("input shapes \(sa) and \(sb) do not broadcast")
                }
                shape[i] = max(da, db)
            }
            try outputShape(shape)
        }

        /// LOGISTIC, SOFTMAX: int8 → int8, same shape, output quantization fixed by TFLite.
        func sigmoidOrSoftmax() throws {
            try arity(inputs: 1...1)
            let x = try input(0, "input")
            try activation(x, "input"); try rank(x, "input", 1...Schema.maxRank)
            try activation(output(), "output")
            try outputShape(x.tensor.shape)
            try fixedOutputQuantization()
        }

        func mean(keepDims: Bool) throws {
            try arity(inputs: 2...2)
            let x = try input(0, "input"), axes = try input(1, "axis")
            try activation(x, "input")
            try type(axes, "axis", .int32); try constant(axes, "axis"); try rank(axes, "axis", 0...1)
            try activation(output(), "output")
            let r = x.tensor.shape.count
            var reduced = [Bool](repeating: false, count: r)
            for a in int32Values(axes.tensor) {
                guard a >= -r, a < r else { throw invalid("axis \(a) out of range for input rank \(r)") }
                reduced[a < 0 ? a + r : a] = true
            }
            let shape = x.tensor.shape.enumerated().compactMap { i, d in reduced[i] ? (keepDims ? 1 : nil) : d }
            try outputShape(shape)
        }

        func reshape() throws {
            try arity(inputs: 1...2)
            let x = try input(0, "input")
            try activation(x, "input")
            let out = output()
            try activation(out, "output")
            guard out.tensor.elementCount == x.tensor.elementCount else {
                throw invalid("output shape \(out.tensor.shape) has \(out.tensor.elementCount) elements, input "
                    + "\(x.tensor.shape) has \(x.tensor.elementCount)")
            }
        }

        func quantize() throws {
            try arity(inputs: 1...1)
            let x = try input(0, "input")
            try type(x, "input", .float32, .int8)
            if x.tensor.type == .int8 { try activation(x, "input") }
            try activation(output(), "output")
            try outputShape(x.tensor.shape)
        }

        func dequantize() throws {
            try arity(inputs: 1...1)
            let x = try input(0, "input")
            try activation(x, "input")
            try type(output(), "output", .float32)
            try outputShape(x.tensor.shape)
        }

        /// PAD, PADV2: constant int32 paddings [rank, 2], non-negative; PADV2's optional pad value is
        /// a one-element int8 constant.
        func pad(v2: Bool) throws {
            try arity(inputs: v2 ? 2...3 : 2...2)
            let x = try input(0, "input"), p = try input(1, "paddings")
            try activation(x, "input"); try rank(x, "input", 1...4)
            try type(p, "paddings", .int32); try constant(p, "paddings")
            let r = x.tensor.shape.count
            guard p.tensor.shape == [r, 2] else {
                throw invalid("paddings tensor \(p.index) has shape \(p.tensor.shape); expected [\(r), 2]")
            }
            if v2, let v = optionalInput(2) {
                try type(v, "constant value", .int8); try constant(v, "constant value")
                guard v.tensor.elementCount == 1 else {
                    throw invalid("constant value tensor \(v.index) has \(v.tensor.elementCount) elements; expected 1")
                }
            }
            try activation(output(), "output")
            let amounts = int32Values(p.tensor)
            if let bad = amounts.first(where: { $0 < 0 }) { throw invalid("padding amount \(bad) is negative") }
            let shape = x.tensor.shape.enumerated().map { i, d in d + amounts[2 * i] + amounts[2 * i + 1] }
            try outputShape(shape)
        }
    }
}
