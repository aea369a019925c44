import Foundation

/// A validated int8 inference graph read from a .tflite file: tensors, operators, the
/// graph's inputs and outputs. Constant tensor data stays inside `buffer` (zero copy);
/// every range has been bounds-checked against it.
public struct Graph: Sendable {
    /// The whole model file. `Tensor.data` ranges index into it.
    public let buffer: Data
    public var tensors: [Tensor]
    public var operators: [Operator]
    public var inputs: [Int]
    public var outputs: [Int]
    /// The model's `description` string, if any.
    public var modelDescription: String?

    public init(buffer: Data, tensors: [Tensor], operators: [Operator], inputs: [Int], outputs: [Int],
                modelDescription: String? = nil) {
        self.buffer = buffer
        self.tensors = tensors
        self.operators = operators
        self.inputs = inputs
        self.outputs = outputs
        self.modelDescription = modelDescription
    }

    /// Bytes of a constant tensor (empty for activations).
    public func constantBytes(of tensor: Int) -> Data {
        guard let r = tensors[tensor].data else { return Data() }
        return buffer[r]
    }
}

public enum ElementType: String, Sendable, Equatable {
    case float32, int8, uint8, int16, int32, int64, bool

    /// Size of one element in bytes.
    public var size: Int {
        switch self {
        case .float32, .int32: return 4
        case .int8, .uint8, .bool: return 1
        case .int16: return 2
        case .int64: return 8
        }
    }
}

/// Affine quantization: real = scale * (q - zeroPoint). Per-tensor when `scales` has one
/// element, per-channel along `axis` otherwise.
public struct Quantization: Sendable, Equatable {
    public var scales: [Float]
    public var zeroPoints: [Int64]
    public var axis: Int

    public init(scales: [Float], zeroPoints: [Int64], axis: Int = 0) {
        self.scales = scales
        self.zeroPoints = zeroPoints
        self.axis = axis
    }

    public var isPerChannel: Bool { scales.count > 1 }
    public var scale: Float { scales[0] }
    public var zeroPoint: Int32 { Int32(truncatingIfNeeded: zeroPoints.first ?? 0) }
}

public struct Tensor: Sendable {
    public var name: String
    public var type: ElementType
    public var shape: [Int]
    public var quantization: Quantization?
    /// Byte range of constant data inside `Graph.buffer`; nil for activations.
    public var data: Range<Int>?

    public init(name: String, type: ElementType, shape: [Int], quantization: Quantization?, data: Range<Int>?) {
        self.name = name
        self.type = type
        self.shape = shape
        self.quantization = quantization
        self.data = data
    }

    public var elementCount: Int { shape.reduce(1, *) }
    public var byteCount: Int { elementCount * type.size }
    public var isConstant: Bool { data != nil }
}

public enum Padding: String, Sendable { case same, valid }

public enum FusedActivation: Int32, Sendable {
    case none = 0, relu = 1, reluN1To1 = 2, relu6 = 3
}

public struct Conv2DOptions: Sendable, Equatable {
    public var padding: Padding
    public var strideW: Int, strideH: Int
    public var dilationW: Int, dilationH: Int
    public var activation: FusedActivation
    public init(padding: Padding, strideW: Int, strideH: Int, dilationW: Int = 1, dilationH: Int = 1,
                activation: FusedActivation) {
        self.padding = padding; self.strideW = strideW; self.strideH = strideH
        self.dilationW = dilationW; self.dilationH = dilationH; self.activation = activation
    }
}

public struct DepthwiseConv2DOptions: Sendable, Equatable {
    public var padding: Padding
    public var strideW: Int, strideH: Int
    public var depthMultiplier: Int
    public var dilationW: Int, dilationH: Int
    public var activation: FusedActivation
    public init(padding: Padding, strideW: Int, strideH: Int, depthMultiplier: Int, dilationW: Int = 1,
                dilationH: Int = 1, activation: FusedActivation) {
        self.padding = padding; self.strideW = strideW; self.strideH = strideH
        self.depthMultiplier = depthMultiplier
        self.dilationW = dilationW; self.dilationH = dilationH; self.activation = activation
    }
}

public struct Pool2DOptions: Sendable, Equatable {
    public var padding: Padding
    public var strideW: Int, strideH: Int
    public var filterW: Int, filterH: Int
    public var activation: FusedActivation
    public init(padding: Padding, strideW: Int, strideH: Int, filterW: Int, filterH: Int,
                activation: FusedActivation) {
        self.padding = padding; self.strideW = strideW; self.strideH = strideH
        self.filterW = filterW; self.filterH = filterH; self.activation = activation
    }
}

/// The operators effnetd runs, with their options. Anything else is refused by the reader.
public enum OpKind: Sendable, Equatable {
    case conv2D(Conv2DOptions)
    case depthwiseConv2D(DepthwiseConv2DOptions)
    case add(activation: FusedActivation)
    case mul(activation: FusedActivation)
    case logistic
    case mean(keepDims: Bool)
    case averagePool2D(Pool2DOptions)
    case fullyConnected(activation: FusedActivation, keepNumDims: Bool)
    case softmax(beta: Float)
    case reshape
    case quantize
    case dequantize
    case pad
    case padV2

    /// TFLite's builtin operator name, for messages.
    public var name: String {
        switch self {
        case .conv2D: return "CONV_2D"
        case .depthwiseConv2D: return "DEPTHWISE_CONV_2D"
        case .add: return "ADD"
        case .mul: return "MUL"
        case .logistic: return "LOGISTIC"
        case .mean: return "MEAN"
        case .averagePool2D: return "AVERAGE_POOL_2D"
        case .fullyConnected: return "FULLY_CONNECTED"
        case .softmax: return "SOFTMAX"
        case .reshape: return "RESHAPE"
        case .quantize: return "QUANTIZE"
        case .dequantize: return "DEQUANTIZE"
        case .pad: return "PAD"
        case .padV2: return "PADV2"
        }
    }
}

public struct Operator: Sendable {
    public var kind: OpKind
    /// Tensor indices; -1 marks an omitted optional input (e.g. no bias).
    public var inputs: [Int]
    public var outputs: [Int]
    public init(kind: OpKind, inputs: [Int], outputs: [Int]) {
        self.kind = kind; self.inputs = inputs; self.outputs = outputs
    }
}

/// Everything that can be wrong with a model file. Each case says where.
public enum ModelError: Error, CustomStringConvertible, Equatable {
    /// The file could not be read.
    case io(path: String, reason: String)
    /// Structural damage: what, and the byte offset where it was found.
    case malformed(offset: Int, what: String)
    /// A well-formed model that effnetd does not run (op, type, shape...).
    case unsupported(what: String)
    /// A tensor is inconsistent (index, name, why).
    case invalidTensor(index: Int, reason: String)
    /// An operator is inconsistent (index, op name, why).
    case invalidOperator(index: Int, op: String, reason: String)

    public var description: String {
        switch self {
        case let .io(path, reason): return "\(path): \(reason)"
        case let .malformed(offset, what): return "malformed model at byte \(offset): \(what)"
        case let .unsupported(what): return "unsupported model: \(what)"
        case let .invalidTensor(index, reason): return "tensor \(index): \(reason)"
        case let .invalidOperator(index, op, reason): return "operator \(index) (\(op)): \(reason)"
        }
    }
}
