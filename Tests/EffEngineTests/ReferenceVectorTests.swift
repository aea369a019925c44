import EffEngine
import EffModel
import EffScheduler
import Foundation
import XCTest

/// The engine against LiteRT's reference kernels (BUILTIN_REF): whole-model outputs for
/// every vector in Tests/Fixtures/reference/index.json, and every operator's output for
/// the intermediates dumps.
final class ReferenceVectorTests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let fixtures = root.appendingPathComponent("Tests/Fixtures")
    static let reference = fixtures.appendingPathComponent("reference")

    static func modelPath(_ name: String) -> String {
        let bundled = root.appendingPathComponent("models").appendingPathComponent(name).path
        return FileManager.default.fileExists(atPath: bundled) ? bundled : fixtures.appendingPathComponent(name).path
    }

    static func bytes(_ url: URL) throws -> [Int8] {
        try Data(contentsOf: url).map { Int8(bitPattern: $0) }
    }

    struct Vector: Decodable {
        var model: String, image: String, input: String, output: String
        var input_shape: [Int], output_shape: [Int], top5: [Int]
    }

    /// Every vector, under every kernel table this CPU has, with 1 lane and with a pool.
    func testWholeModelOutputsAreByteExact() throws {
        let vectors = try JSONDecoder().decode([Vector].self, from: Data(contentsOf: Self.reference.appendingPathComponent("index.json")))
        XCTAssertEqual(vectors.count, 8)
        let pool = WorkerPool(threads: 3)
        defer { pool.shutdown() }
        XCTAssertTrue(Plan.availableISAs.contains("scalar"))
        for isa in Plan.availableISAs {
            var plans: [String: Plan] = [:]
            for v in vectors {
                let plan = try plans[v.model] ?? Plan(modelPath: Self.modelPath(v.model), isa: isa)
                plans[v.model] = plan
                XCTAssertEqual(plan.isa, isa)
                XCTAssertEqual(plan.input.shape, v.input_shape)
                XCTAssertEqual(plan.output.shape, v.output_shape)
                let input = try Self.bytes(Self.reference.appendingPathComponent(v.input))
                let want = try Self.bytes(Self.reference.appendingPathComponent(v.output))
                for engine in [Engine(plan: plan), Engine(plan: plan, pool: pool)] {
                    let got = try engine.run(input)
                    let diff = zip(got, want).filter { $0 != $1 }.count
                    XCTAssertEqual(diff, 0, "\(isa) threads \(engine.pool?.threadCount ?? 1) \(v.model) \(v.image): \(diff) of \(want.count) output bytes differ")
                    let top = got.indices.sorted { got[$0] != got[$1] ? got[$0] > got[$1] : $0 < $1 }.prefix(5)
                    XCTAssertEqual(Array(top), v.top5, "\(isa) \(v.model) \(v.image) top-5")
                }
            }
        }
    }

    func testUnknownISAIsAClearError() {
        XCTAssertThrowsError(try Plan(modelPath: Self.modelPath("efficientnet-lite0-int8.tflite"), isa: "mmx")) { error in
            XCTAssertTrue("\(error)".contains("mmx") && "\(error)".contains("scalar"), "\(error)")
        }
    }

    /// Each lane count tiles every step differently (pixel bands, channel groups or both).
    /// Every operator's output with 2, 4, 5 and 8 lanes must equal the 1-lane engine's (which
    /// the intermediates tests check against LiteRT), under every kernel table: a whole-model
    /// output alone can hide a wrong channel in one layer.
    func testEveryLaneCountGivesTheSameLayers() throws {
        let vectors = try JSONDecoder().decode([Vector].self, from: Data(contentsOf: Self.reference.appendingPathComponent("index.json")))
        var firstPerModel: [String: Vector] = [:]
        for v in vectors where firstPerModel[v.model] == nil { firstPerModel[v.model] = v }
        XCTAssertEqual(firstPerModel.count, 2)
        func layers(_ engine: Engine, _ input: [Int8]) throws -> [Int: [UInt8]] {
            var seen: [Int: [UInt8]] = [:]
            var output = [Int8](repeating: 0, count: engine.plan.output.byteCount)
            try input.withUnsafeBytes { i in
                try output.withUnsafeMutableBytes { o in
                    try engine.run(input: i, output: o) { op, _, bytes in seen[op] = Array(bytes) }
                }
            }
            return seen
        }
        let pools = [2, 4, 5, 8].map { WorkerPool(threads: $0) }
        defer { pools.forEach { $0.shutdown() } }
        for isa in Plan.availableISAs {
            for v in firstPerModel.values.sorted(by: { $0.model < $1.model }) {
                let plan = try Plan(modelPath: Self.modelPath(v.model), isa: isa)
                let input = try Self.bytes(Self.reference.appendingPathComponent(v.input))
                let want = try layers(Engine(plan: plan), input)
                XCTAssertGreaterThan(want.count, 40, "\(isa) \(v.model)")
                for pool in pools {
                    let got = try layers(Engine(plan: plan, pool: pool), input)
                    let bad = want.keys.sorted().first { got[$0] != want[$0] }
                    XCTAssertNil(bad, "\(isa) lanes \(pool.threadCount) \(v.model): op \(bad ?? -1) differs from 1 lane")
                }
            }
        }
    }

    /// A model that is neither fixture above: B-style (swish, squeeze-excitation) at width
    /// 0.5, depth 0.5 and an odd input size, 193×193, so SAME padding with stride 2 is uneven.
    func testOtherVariantIsByteExact() throws {
        let dir = Self.fixtures.appendingPathComponent("variants")
        let vectors = try JSONDecoder().decode([Vector].self, from: Data(contentsOf: dir.appendingPathComponent("index.json")))
        XCTAssertEqual(vectors.count, 3)
        let pool = WorkerPool(threads: 2)
        defer { pool.shutdown() }
        for isa in Plan.availableISAs {
            let plan = try Plan(modelPath: dir.appendingPathComponent(vectors[0].model).path, isa: isa)
            XCTAssertEqual(plan.input.shape, [1, 193, 193, 3])
            for v in vectors {
                let got = try Engine(plan: plan, pool: pool).run(Self.bytes(dir.appendingPathComponent(v.input)))
                XCTAssertEqual(got, try Self.bytes(dir.appendingPathComponent(v.output)), "\(isa) \(v.model) \(v.image)")
            }
        }
    }

    struct Dumped: Decodable { var op_index: Int, op: String, tensor: Int, file: String, shape: [Int] }

    func checkIntermediates(model: String, folder: String, input: String) throws {
        for isa in Plan.availableISAs { try checkIntermediates(model: model, folder: folder, input: input, isa: isa) }
    }

    /// Every operator's output without fusion; with fusion, every operator the plan still
    /// stores (those computed inside another's step, `Plan.fusedOps`, have no output of their own).
    func checkIntermediates(model: String, folder: String, input: String, isa: String) throws {
        for fusion in [false, true] {
            try checkIntermediates(model: model, folder: folder, input: input, isa: isa, fusion: fusion)
        }
    }

    func checkIntermediates(model: String, folder: String, input: String, isa: String, fusion: Bool) throws {
        let dir = Self.reference.appendingPathComponent(folder)
        let index = try JSONDecoder().decode([Dumped].self, from: Data(contentsOf: dir.appendingPathComponent("index.json")))
        let engine = try Engine(plan: Plan(modelPath: Self.modelPath(model), isa: isa, fusion: fusion))
        let hidden = Set(engine.plan.fusedOps.values.joined())
        if !fusion { XCTAssertTrue(hidden.isEmpty) }
        var seen: [Int: [Int8]] = [:]
        var input8 = try Self.bytes(Self.reference.appendingPathComponent(input))
        var output = [Int8](repeating: 0, count: engine.plan.output.byteCount)
        try input8.withUnsafeMutableBytes { i in
            try output.withUnsafeMutableBytes { o in
                try engine.run(input: UnsafeRawBufferPointer(i), output: o) { op, _, bytes in
                    seen[op] = bytes.map { Int8(bitPattern: $0) }
                }
            }
        }
        var firstBad: String?
        var compared = 0
        for d in index where !hidden.contains(d.op_index) {
            compared += 1
            let want = try Self.bytes(dir.appendingPathComponent(d.file))
            guard let got = seen[d.op_index] else {
                XCTFail("\(model): op \(d.op_index) \(d.op) produced nothing"); continue
            }
            let diff = zip(got, want).filter { $0 != $1 }.count
            if diff != 0 || got.count != want.count, firstBad == nil {
                firstBad = "op \(d.op_index) \(d.op) (tensor \(d.tensor)): \(diff) of \(want.count) bytes differ"
            }
        }
        XCTAssertNil(firstBad, "\(model) \(isa) fusion \(fusion): first differing layer: \(firstBad ?? "")")
        XCTAssertGreaterThan(compared, 40)
        if !fusion { XCTAssertEqual(compared, index.count) }
    }

    func testLite0EveryLayerIsByteExact() throws {
        try checkIntermediates(model: "efficientnet-lite0-int8.tflite", folder: "intermediates-lite0-chelsea",
                               input: "efficientnet-lite0-int8__chelsea.input.i8")
    }

    func testB0EveryLayerIsByteExact() throws {
        try checkIntermediates(model: "efficientnet-b0-int8-random1.tflite", folder: "intermediates-b0-chelsea",
                               input: "efficientnet-b0-int8-random1__chelsea.input.i8")
    }

    /// B0's 49 swishes become tables, each swish or excitation LOGISTIC runs as the epilogue
    /// of the convolution before it, and each residual ADD as its projection's: 74 convolutions
    /// and the 49 swish LOGISTICs are covered (the layer tests above check the bytes of what
    /// remains, per ISA).
    func testB0FusesSwishAndExcitationTables() throws {
        let fused = try Plan(modelPath: Self.modelPath("efficientnet-b0-int8-random1.tflite"), isa: "scalar")
        let plain = try Plan(modelPath: Self.modelPath("efficientnet-b0-int8-random1.tflite"), isa: "scalar", fusion: false)
        let ops = fused.graph.operators
        let covered = fused.fusedOps.values.joined()
        func count(_ name: String, _ indices: some Sequence<Int>) -> Int { indices.filter { ops[$0].kind.name == name }.count }
        XCTAssertEqual(count("LOGISTIC", ops.indices), 65)
        XCTAssertEqual(count("LOGISTIC", covered), 49, "the sigmoid of every swish")
        XCTAssertEqual(count("LOGISTIC", fused.fusedOps.keys), 16, "the excitation sigmoids, each a 1×1 convolution's epilogue")
        XCTAssertEqual(count("CONV_2D", covered) + count("DEPTHWISE_CONV_2D", covered), 65 + 9)
        XCTAssertEqual(count("MUL", fused.fusedOps.keys), 49, "every MUL but the 16 excitation scalings is a swish")
        XCTAssertEqual(count("ADD", fused.fusedOps.keys), 9, "every residual ADD runs in its projection's tiles")
        XCTAssertTrue(plain.fusedOps.isEmpty)
        func steps(_ p: Plan) -> Int? { Int(p.summary.prefix { $0.isNumber }) }
        XCTAssertEqual(steps(fused).map { $0 + 49 + 65 + 9 }, steps(plain), "one step fewer per swish and per epilogue")
        XCTAssertLessThan(fused.arenaSize, plain.arenaSize, "the convolutions' own outputs are never stored")
    }

    /// Lite0 has no tables; its 9 residual ADDs run in their projections' tiles.
    func testLite0FusesResidualAdds() throws {
        let fused = try Plan(modelPath: Self.modelPath("efficientnet-lite0-int8.tflite"), isa: "scalar")
        let ops = fused.graph.operators
        XCTAssertEqual(fused.fusedOps.count, 9)
        for (op, covered) in fused.fusedOps {
            XCTAssertEqual(ops[op].kind.name, "ADD")
            XCTAssertEqual(covered.map { ops[$0].kind.name }, ["CONV_2D"])
        }
    }

    func testPlanReportsArenaSmallerThanSumOfActivations() throws {
        let plan = try Plan(modelPath: Self.modelPath("efficientnet-lite0-int8.tflite"))
        let activations = plan.graph.tensors.filter { !$0.isConstant }.map(\.byteCount).reduce(0, +)
        XCTAssertGreaterThan(plan.arenaSize, 112 * 112 * 96, "the largest live pair must fit")
        XCTAssertLessThan(plan.arenaSize, activations / 3, "liveness reuse should share most bytes")
        // Lite0 is about 385 M multiply-accumulates (see models/README).
        XCTAssertEqual(Double(plan.macs) / 1e6, 385, accuracy: 15)
    }

    func testWrongInputSizeIsAnError() throws {
        let engine = try Engine(plan: Plan(modelPath: Self.modelPath("efficientnet-lite0-int8.tflite")))
        XCTAssertThrowsError(try engine.run([Int8](repeating: 0, count: 10))) { error in
            XCTAssertTrue("\(error)".contains("150528"), "\(error)")
        }
    }
}
