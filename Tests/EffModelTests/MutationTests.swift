import Foundation
import XCTest
@testable import EffModel

/// Damaged models must load as a valid Graph or throw a ModelError: never trap, hang or
/// allocate without bound. Deterministic: a fixed seed, the same mutations every run.
final class MutationTests: XCTestCase {
    static let mutatedCopies = 4000
    static let truncations = 600

    struct Tally: CustomStringConvertible {
        var loaded = 0, malformed = 0, invalidTensor = 0, invalidOperator = 0, unsupported = 0
        var violations: [String] = []
        var description: String {
            "loaded \(loaded), malformed \(malformed), invalidTensor \(invalidTensor), "
                + "invalidOperator \(invalidOperator), unsupported \(unsupported)"
        }

        mutating func record(_ data: Data, _ label: @autoclosure () -> String) {
            do {
                let g = try Graph(tfliteData: data)
                loaded += 1
                if let v = invariantViolation(g) { violations.append("\(label()): \(v)") }
            } catch let error as ModelError {
                switch error {
                case .io: violations.append("\(label()): io error from memory")
                case .malformed(let offset, _):
                    malformed += 1
                    if !(0...data.count).contains(offset) { violations.append("\(label()): offset outside file: \(error)") }
                case .invalidTensor: invalidTensor += 1
                case .invalidOperator: invalidOperator += 1
                case .unsupported: unsupported += 1
                }
                if !error.locates { violations.append("\(label()): message does not locate: \(error)") }
            } catch {
                violations.append("\(label()): not a ModelError: \(error)")
            }
        }
    }

    /// Where the flatbuffer tables are: TFLite writers put the big weight buffers in the
    /// middle, the root, Model table and buffer list before them, everything else after.
    func tableRegions(_ original: Data) throws -> (head: Range<Int>, tail: Range<Int>) {
        let g = try Graph(tfliteData: original)
        let ranges = g.tensors.compactMap(\.data)
        let start = ranges.map(\.lowerBound).min() ?? original.count
        let end = ranges.map(\.upperBound).max() ?? original.count
        return (0..<start, end..<original.count)
    }

    /// The bytes of every table, vtable and vector head the reader visits (first 16 bytes of
    /// each vector), so that mutations land on structure, not only on names and scales.
    func structuralRanges(_ data: Data) throws -> [Range<Int>] {
        try data.withUnsafeBytes { raw in
            let fb = FlatBufferReader(raw)
            var out: [Range<Int>] = []
            func add(_ t: FBTable?) {
                guard let t else { return }
                out.append(t.pos..<(t.pos + t.tableSize))
                out.append(t.vtable..<(t.vtable + t.vtableSize))
            }
            func add(_ v: FBVector?) {
                guard let v else { return }
                out.append(v.pos..<min(v.dataRange.upperBound, v.pos + 20))
            }
            let path = FBPath(table: "test")
            let model = try fb.root(path)
            add(model)
            let codes = try XCTUnwrap(model.vector(1, "operator_codes", elementSize: 4))
            add(codes)
            for i in 0..<codes.count { add(try codes.table(i, path: path)) }
            let buffers = try XCTUnwrap(model.vector(4, "buffers", elementSize: 4))
            add(buffers)
            for i in 0..<buffers.count { add(try buffers.table(i, path: path)) }
            let sg = try subgraph(fb)
            add(sg)
            for id in 0..<3 { add(try sg.vector(id, "io", elementSize: 4)) }
            let tensors = try XCTUnwrap(sg.vector(0, "tensors", elementSize: 4))
            for i in 0..<tensors.count {
                let t = try tensors.table(i, path: path)
                add(t)
                add(try t.vector(0, "shape", elementSize: 4))
                let q = try t.table(4, "quantization", path: path)
                add(q)
                add(try q?.vector(2, "scale", elementSize: 4))
                add(try q?.vector(3, "zero_point", elementSize: 8))
            }
            let ops = try XCTUnwrap(sg.vector(3, "operators", elementSize: 4))
            add(ops)
            for i in 0..<ops.count {
                let op = try ops.table(i, path: path)
                add(op)
                add(try op.vector(1, "inputs", elementSize: 4))
                add(try op.vector(2, "outputs", elementSize: 4))
                add(try op.table(4, "builtin_options", path: path))
            }
            return out.filter { !$0.isEmpty }
        }
    }

    func testMutatedLite0LoadsOrThrowsModelError() throws {
        let original = try loadBytes(lite0Path)
        let (head, tail) = try tableRegions(original)
        let structure = try structuralRanges(original)
        XCTAssertGreaterThan(structure.count, 1000)
        XCTAssertFalse(head.isEmpty)
        XCTAssertGreaterThan(tail.count, 100_000)
        let n = original.count
        let lastTables = max(tail.lowerBound, n - 8192)..<n  // tensor, operator-code and small tables

        var rng = SplitMix64(seed: 0xEFF_4E7D)
        let extremes: [UInt32] = [0xFFFF_FFFF, 0x7FFF_FFFF, 0x8000_0000, 0x8000_0001, 0xFFFF_FFFE, 0, 1, 2, 3, 4,
                                  8, 0xFFFF, 0x1_0000, UInt32(n), UInt32(n - 4), 0x7FFF, 0x8000]
        var work = original  // mutated and restored in place: no 5 MB copy per iteration
        var tally = Tally()
        let started = Date()

        for iteration in 0..<Self.mutatedCopies {
            var saved: [(Int, UInt8)] = []
            for _ in 0..<(1 + rng.below(3)) {
                let region: Range<Int> = switch rng.below(10) {
                case 0, 1, 2, 3: rng.pick(structure)
                case 4: head
                case 5, 6: tail
                case 7: lastTables
                case 8: 0..<min(n, 65536)
                default: 0..<n
                }
                let width = rng.pick([1, 1, 2, 4, 4, 4])
                let pos = min(region.lowerBound + rng.below(max(1, region.count - width + 1)), n - width)
                var value: UInt32 = switch rng.below(4) {
                case 0: rng.pick(extremes)
                case 1: UInt32(rng.below(256))
                case 2: UInt32(truncatingIfNeeded: rng.next())
                default: UInt32(work[pos]) ^ UInt32(1 << rng.below(8))  // a bit flip of the first byte
                }
                for b in pos..<min(pos + width, n) {
                    saved.append((b, work[b]))
                    work[b] = UInt8(truncatingIfNeeded: value)
                    value >>= 8
                }
            }
            tally.record(work, "mutation \(iteration)")
            for (b, old) in saved.reversed() { work[b] = old }
        }
        let mutated = Date().timeIntervalSince(started)
        XCTAssertEqual(work, original)

        for iteration in 0..<Self.truncations {
            let region: Range<Int> = switch rng.below(3) {
            case 0: 0..<min(n, 4096)
            case 1: tail
            default: 0..<n
            }
            let length = region.lowerBound + rng.below(region.count)
            tally.record(original.prefix(length), "truncation \(iteration) to \(length)")
        }
        let total = Date().timeIntervalSince(started)

        print("mutation test: \(Self.mutatedCopies) mutated copies in \(String(format: "%.2f", mutated)) s, "
            + "\(Self.truncations) truncations, \(String(format: "%.2f", total)) s in all; \(tally)")
        XCTAssertEqual(tally.violations, [], "\(tally.violations.count) violations")
        // The mutations must reach the tables, not just the weights.
        XCTAssertGreaterThan(tally.malformed, 100)
        XCTAssertGreaterThan(tally.invalidTensor + tally.invalidOperator, 50)
        XCTAssertGreaterThan(tally.loaded, 50)
    }

    /// Offsets may share bytes: a million tensor entries naming one tiny (valid, empty) Tensor
    /// table must be refused by the decode budget, not decoded into a million tensors.
    func testSharedTableOffsetsAreBounded() throws {
        var data = try loadBytes(lite0Path)
        let field = try data.withUnsafeBytes { raw -> Int in
            try XCTUnwrap(subgraph(FlatBufferReader(raw)).field(0, size: 4, "tensors"))
        }
        let count = 1 << 20
        let vector = data.count
        let vtable = vector + 4 + 4 * count
        let table = vtable + 4
        data.append(contentsOf: [UInt8](repeating: 0, count: 4 + 4 * count + 8))
        writeInt32(&data, at: vector, Int32(count))
        for i in 0..<count {
            let at = vector + 4 + 4 * i
            writeInt32(&data, at: at, Int32(table - at))  // uoffsets point forward, all to one table
        }
        data.replaceSubrange(vtable..<table, with: [4, 0, 4, 0])  // vtable: 4 bytes, table: 4 bytes, no fields
        writeInt32(&data, at: table, Int32(table - vtable))
        writeInt32(&data, at: field, Int32(vector - field))  // SubGraph.tensors → the new vector
        XCTAssertThrowsError(try Graph(tfliteData: data)) { error in
            guard case ModelError.malformed(vector, let what)? = error as? ModelError else {
                return XCTFail("\(error)")
            }
            XCTAssertTrue(what.contains("exceed twice the file size"), what)
        }
    }
}
