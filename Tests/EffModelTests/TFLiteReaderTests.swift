import Foundation
import XCTest
@testable import EffModel

// Expected facts were read from the same files with LiteRT 2.3.0
// (ai_edge_litert.interpreter.Interpreter: _get_ops_details(), get_tensor_details(), get_tensor()).
final class TFLiteReaderTests: XCTestCase {

    // MARK: real models

    func testLite0Structure() throws {
        let g = try Graph.load(path: lite0Path)
        XCTAssertEqual(g.tensors.count, 162)
        XCTAssertEqual(g.operators.count, 60)
        XCTAssertEqual(g.opCounts, ["CONV_2D": 33, "DEPTHWISE_CONV_2D": 16, "ADD": 9, "MEAN": 1, "FULLY_CONNECTED": 1])
        XCTAssertEqual(g.modelDescription, "MLIR Converted.")
        XCTAssertNil(invariantViolation(g))

        XCTAssertEqual(g.inputs, [0])
        XCTAssertEqual(g.outputs, [161])
        let input = g.tensors[0]
        XCTAssertEqual(input.name, "serving_default_keras_tensor:0")
        XCTAssertEqual(input.type, .int8)
        XCTAssertEqual(input.shape, [1, 224, 224, 3])
        XCTAssertEqual(input.quantization, Quantization(scales: [0.0078125], zeroPoints: [-1]))
        XCTAssertFalse(input.isConstant)
        let output = g.tensors[161]
        XCTAssertEqual(output.name, "StatefulPartitionedCall_1:0")
        XCTAssertEqual(output.shape, [1, 1000])
        XCTAssertEqual(output.quantization?.scale, 0.0645916610956192)
        XCTAssertEqual(output.quantization?.zeroPoint, -52)

        // Op 0: CONV_2D 3×3 stride 2 SAME, ReLU6, per-channel weights.
        let conv = g.operators[0]
        XCTAssertEqual(conv.kind, .conv2D(Conv2DOptions(padding: .same, strideW: 2, strideH: 2, activation: .relu6)))
        XCTAssertEqual(conv.inputs, [0, 101, 100])
        XCTAssertEqual(conv.outputs, [102])
        let filter = g.tensors[101]
        XCTAssertEqual(filter.name, "functional_1/conv2d_1/convolution")
        XCTAssertEqual(filter.shape, [32, 3, 3, 3])
        XCTAssertEqual(filter.quantization?.scales.count, 32)
        XCTAssertEqual(filter.quantization?.scales[0], 0.13295139372348785)
        XCTAssertEqual(filter.quantization?.scales[1], 0.003936519846320152)
        XCTAssertEqual(filter.quantization?.axis, 0)
        let weights = g.constantBytes(of: 101).map { Int8(bitPattern: $0) }
        XCTAssertEqual(weights.count, 864)
        XCTAssertEqual(Array(weights.prefix(4)), [-41, -78, -14, -48])
        XCTAssertEqual(weights.reduce(0) { $0 + Int($1) }, -634)
        XCTAssertEqual(g.tensors[102].shape, [1, 112, 112, 32])
        XCTAssertEqual(g.tensors[102].quantization?.zeroPoint, -128)

        // Op 1: DEPTHWISE_CONV_2D, filter [1,3,3,32] quantized along axis 3.
        XCTAssertEqual(g.operators[1].kind, .depthwiseConv2D(DepthwiseConv2DOptions(
            padding: .same, strideW: 1, strideH: 1, depthMultiplier: 1, activation: .relu6)))
        XCTAssertEqual(g.operators[1].inputs, [102, 99, 98])
        XCTAssertEqual(g.tensors[99].shape, [1, 3, 3, 32])
        XCTAssertEqual(g.tensors[99].quantization?.axis, 3)
        XCTAssertEqual(g.tensors[99].quantization?.scales[0], 0.019578056409955025)

        // Op 58: MEAN over axes [1, 2] of [1,7,7,1280].
        XCTAssertEqual(g.operators[58].kind, .mean(keepDims: false))
        XCTAssertEqual(g.operators[58].inputs, [159, 1])
        XCTAssertEqual(g.tensors[1].name, "functional_1/global_average_pooling2d_1/Mean/reduction_indices")
        XCTAssertEqual(g.tensors[1].type, .int32)
        XCTAssertEqual(g.constantBytes(of: 1), Data([1, 0, 0, 0, 2, 0, 0, 0]))
        XCTAssertEqual(g.tensors[160].shape, [1, 1280])

        // Op 59: FULLY_CONNECTED [1000, 1280] with an int32 bias.
        XCTAssertEqual(g.operators[59].kind, .fullyConnected(activation: .none, keepNumDims: false))
        XCTAssertEqual(g.operators[59].inputs, [160, 3, 2])
        XCTAssertEqual(g.tensors[3].shape, [1000, 1280])
        XCTAssertEqual(g.tensors[3].quantization?.scales.count, 1000)
        XCTAssertEqual(g.tensors[3].quantization?.scales[0], 0.001695853192359209)
        let fcWeights = g.constantBytes(of: 3)
        XCTAssertEqual(fcWeights.reduce(0) { $0 + Int(Int8(bitPattern: $1)) }, -268_914)
        XCTAssertEqual(g.tensors[2].name, "functional_1/dense_1/BiasAdd")
        XCTAssertEqual(g.tensors[2].shape, [1000])
        XCTAssertEqual(g.tensors[2].quantization?.scales[0], 3.644761454779655e-05)
        let bias = g.constantBytes(of: 2).withUnsafeBytes { raw in
            (0..<1000).map { Int32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * $0, as: Int32.self)) }
        }
        XCTAssertEqual(Array(bias.prefix(4)), [879, -447, 144, 1638])
        XCTAssertEqual(bias.reduce(0) { $0 + Int($1) }, 28679)
    }

    func testB0Structure() throws {
        let g = try Graph.load(path: b0Path)
        XCTAssertEqual(g.tensors.count, 403)
        XCTAssertEqual(g.operators.count, 238)
        XCTAssertEqual(g.opCounts, ["CONV_2D": 65, "LOGISTIC": 65, "MUL": 65, "MEAN": 17, "DEPTHWISE_CONV_2D": 16,
                                    "ADD": 9, "FULLY_CONNECTED": 1])
        XCTAssertNil(invariantViolation(g))
        XCTAssertEqual(g.inputs, [0])
        XCTAssertEqual(g.outputs, [402])
        XCTAssertEqual(g.tensors[0].quantization, Quantization(scales: [0.0078125], zeroPoints: [-1]))
        XCTAssertEqual(g.tensors[402].shape, [1, 1000])
        XCTAssertEqual(g.tensors[402].quantization?.scale, 0.02297927998006344)
        XCTAssertEqual(g.tensors[402].quantization?.zeroPoint, 7)

        XCTAssertEqual(g.operators[0].kind, .conv2D(Conv2DOptions(padding: .same, strideW: 2, strideH: 2,
                                                                  activation: .none)))
        XCTAssertEqual(g.operators[1].kind, .logistic)
        XCTAssertEqual(g.operators[1].inputs, [165])
        XCTAssertEqual(g.tensors[166].name, "functional_1/activation_1/Sigmoid")
        XCTAssertEqual(g.tensors[166].quantization, Quantization(scales: [1.0 / 256], zeroPoints: [-128]))
        XCTAssertEqual(g.operators[2].kind, .mul(activation: .none))
        XCTAssertEqual(g.operators[2].inputs, [165, 166])
        // Squeeze-and-excitation MEAN keeps dims: [1,112,112,32] → [1,1,1,32].
        XCTAssertEqual(g.operators[6].kind, .mean(keepDims: true))
        XCTAssertEqual(g.tensors[171].shape, [1, 1, 1, 32])
        XCTAssertEqual(g.tensors[171].quantization?.zeroPoint, -97)
        // The classifier has no bias: the file says -1, and it stays -1.
        XCTAssertEqual(g.operators[237].inputs, [401, 2, -1])
        XCTAssertEqual(g.tensors[2].name, "functional_1/dense_1/MatMul1")
        XCTAssertEqual(g.tensors[2].quantization?.scales[1], 0.0005550740170292556)
        XCTAssertEqual(g.constantBytes(of: 164).reduce(0) { $0 + Int(Int8(bitPattern: $1)) }, -4306)
    }

    /// Ranges index `Graph.buffer` from 0 even when the input is a slice of a larger Data.
    func testDataSliceIsRebased() throws {
        let original = try loadBytes(lite0Path)
        let padded = Data([0xAA, 0xBB, 0xCC]) + original
        let slice = padded[3...]
        XCTAssertEqual(slice.startIndex, 3)
        let g = try Graph(tfliteData: slice)
        XCTAssertEqual(g.buffer.startIndex, 0)
        XCTAssertEqual(g.constantBytes(of: 1), Data([1, 0, 0, 0, 2, 0, 0, 0]))
    }

    // MARK: refusals

    func testUnsupportedOperatorIsNamed() throws {
        var data = try loadBytes(lite0Path)
        let field = try opcodeFields(data, code: 40)  // MEAN, used only by operator 58
        writeInt32(&data, at: field.builtin, 43)  // SQUEEZE: max(deprecated 40, 43) = 43
        assertError(try Graph(tfliteData: data)) { error in
            guard case .unsupported(let what) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(what, "operator 58 uses SQUEEZE (builtin code 43), which effnetd does not run")
        }
        writeInt32(&data, at: field.builtin, 4000)
        assertError(try Graph(tfliteData: data)) { error in
            XCTAssertEqual(error, .unsupported(what: "operator 58 uses builtin code 4000, which effnetd does not run"))
        }
        // CUSTOM (32) is below MEAN (40), so the int8 deprecated_builtin_code must say so too.
        writeInt32(&data, at: field.builtin, 32)
        data[field.deprecated] = 32
        assertError(try Graph(tfliteData: data)) { error in
            guard case .unsupported(let what) = error else { return XCTFail("\(error)") }
            XCTAssertTrue(what.hasPrefix("operator 58 uses a custom operator"), what)
        }
    }

    func testEmptyFile() {
        assertError(try Graph(tfliteData: Data())) { error in
            guard case .malformed(0, let what) = error else { return XCTFail("\(error)") }
            XCTAssertTrue(what.contains("0 bytes"), what)
        }
    }

    func testFileOfZeros() {
        assertError(try Graph(tfliteData: Data(count: 65536))) { error in
            guard case .malformed(4, let what) = error else { return XCTFail("\(error)") }
            XCTAssertTrue(what.contains("TFL3"), what)
        }
    }

    func testTruncatedFiles() throws {
        let original = try loadBytes(lite0Path)
        // Inside the header, inside the weights (tables at the end are lost), just short of the end.
        for length in [6, 12, 40, 2000, original.count / 2, original.count - 300, original.count - 1] {
            assertError(try Graph(tfliteData: original.prefix(length)), "length \(length)") { error in
                guard case .malformed(let offset, let what) = error else { return XCTFail("\(length): \(error)") }
                XCTAssertTrue(offset >= 0 && offset <= original.count, "\(length): \(error)")
                XCTAssertFalse(what.isEmpty)
            }
        }
    }

    func testHugeVectorLengthNamesTheField() throws {
        var data = try loadBytes(lite0Path)
        let pos = try data.withUnsafeBytes { raw -> Int in
            let sg = try subgraph(FlatBufferReader(raw))
            return try XCTUnwrap(sg.vector(0, "tensors", elementSize: 4)).pos
        }
        writeInt32(&data, at: pos, -1)  // 4294967295 tensors
        assertError(try Graph(tfliteData: data)) { error in
            XCTAssertEqual(error, .malformed(offset: pos, what: "SubGraph[0].tensors: vector length 4294967295 "
                + "exceeds file (\(data.count - pos - 4) bytes left after byte \(pos))"))
        }
    }

    func testOutputShapeMismatch() throws {
        var data = try loadBytes(lite0Path)
        // Tensor 102 is CONV_2D 0's output [1,112,112,32]; claim 111 rows.
        writeInt32(&data, at: try shapeElement(data, tensor: 102, dim: 1), 111)
        assertError(try Graph(tfliteData: data)) { error in
            XCTAssertEqual(error, .invalidOperator(index: 0, op: "CONV_2D", reason: "output tensor 102 has shape "
                + "[1, 111, 112, 32], but the op produces [1, 112, 112, 32]"))
        }
    }

    func testConstantSizeMismatch() throws {
        var data = try loadBytes(lite0Path)
        writeInt32(&data, at: try shapeElement(data, tensor: 101, dim: 1), 2)  // filter [32,3,3,3] → [32,2,3,3]
        assertError(try Graph(tfliteData: data)) { error in
            guard case .invalidTensor(101, let reason) = error else { return XCTFail("\(error)") }
            XCTAssertTrue(reason.contains("864 bytes") && reason.contains("needs 576"), reason)
        }
    }

    func testGroupedConvolutionIsUnsupported() throws {
        var data = try loadBytes(lite0Path)
        // Op 0's filter [32,3,3,3] → [32,3,9,1]: same bytes and channels, 1 input channel per group of 3.
        writeInt32(&data, at: try shapeElement(data, tensor: 101, dim: 2), 9)
        writeInt32(&data, at: try shapeElement(data, tensor: 101, dim: 3), 1)
        assertError(try Graph(tfliteData: data)) { error in
            guard case .unsupported(let what) = error else { return XCTFail("\(error)") }
            XCTAssertTrue(what.hasPrefix("operator 0 (CONV_2D): grouped convolution"), what)
        }
    }

    func testLoadFollowsSymlinks() throws {
        let link = FileManager.default.temporaryDirectory
            .appendingPathComponent("effmodel-test-\(ProcessInfo.processInfo.processIdentifier).tflite").path
        try? FileManager.default.removeItem(atPath: link)
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: lite0Path)
        defer { try? FileManager.default.removeItem(atPath: link) }
        XCTAssertEqual(try Graph.load(path: link).operators.count, 60)
    }

    func testLoadErrors() {
        assertError(try Graph.load(path: "/nonexistent/model.tflite")) { error in
            guard case .io(let path, _) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(path, "/nonexistent/model.tflite")
        }
        assertError(try Graph.load(path: repoRoot.path)) { error in
            XCTAssertEqual(error, .io(path: repoRoot.path, reason: "not a regular file"))
        }
    }

    // MARK: helpers

    func assertError(_ body: @autoclosure () throws -> Graph, _ message: String = "",
                     file: StaticString = #filePath, line: UInt = #line, _ check: (ModelError) -> Void) {
        do {
            _ = try body()
            XCTFail("expected an error \(message)", file: file, line: line)
        } catch let error as ModelError {
            XCTAssertTrue(error.locates, "\(error)", file: file, line: line)
            check(error)
        } catch {
            XCTFail("not a ModelError: \(error)", file: file, line: line)
        }
    }
}

func writeInt32(_ data: inout Data, at pos: Int, _ value: Int32) {
    withUnsafeBytes(of: value.littleEndian) { data.replaceSubrange(pos..<(pos + 4), with: $0) }
}

func subgraph(_ fb: FlatBufferReader) throws -> FBTable {
    let model = try fb.root(FBPath(table: "Model"))
    return try XCTUnwrap(model.vector(2, "subgraphs", elementSize: 4)).table(0, path: FBPath(table: "SubGraph"))
}

/// Positions of the int8 deprecated_builtin_code and int32 builtin_code fields of the
/// operator code whose code is `code`.
func opcodeFields(_ data: Data, code: Int32) throws -> (deprecated: Int, builtin: Int) {
    try data.withUnsafeBytes { raw in
        let model = try FlatBufferReader(raw).root(FBPath(table: "Model"))
        let codes = try XCTUnwrap(model.vector(1, "operator_codes", elementSize: 4))
        for i in 0..<codes.count {
            let t = try codes.table(i, path: FBPath(table: "OperatorCode", index: i))
            if try t.scalar(3, "builtin_code", default: Int32(0)) == code {
                return (try XCTUnwrap(t.field(0, size: 1, "deprecated_builtin_code")),
                        try XCTUnwrap(t.field(3, size: 4, "builtin_code")))
            }
        }
        throw ModelError.unsupported(what: "test model has no operator code \(code)")
    }
}

/// Position of `shape[dim]` of tensor `tensor`.
func shapeElement(_ data: Data, tensor: Int, dim: Int) throws -> Int {
    try data.withUnsafeBytes { raw in
        let sg = try subgraph(FlatBufferReader(raw))
        let t = try XCTUnwrap(sg.vector(0, "tensors", elementSize: 4)).table(tensor, path: FBPath(table: "Tensor"))
        return try XCTUnwrap(t.vector(0, "shape", elementSize: 4)).pos + 4 + 4 * dim
    }
}
