import Foundation

// A small, zero-copy, bounds-checked FlatBuffers reader: just enough to walk a .tflite file.
//
// Everything read from the buffer is untrusted. Positions are plain `Int`s widened from the
// file's 32-bit fields, so on a 64-bit machine no sum of two of them can overflow; every
// position is checked against the buffer before it is dereferenced, and every failure is a
// `ModelError.malformed(offset:what:)` naming the byte offset and the table/field.
// Nothing here recurses: callers walk the (fixed-depth) schema explicitly.

/// Names the table a value belongs to, for error messages. Holds only static strings and
/// an index, so building one costs nothing; the text is made only when an error is thrown.
struct FBPath: CustomStringConvertible, Sendable {
    var table: StaticString
    var index: Int = -1
    /// A nested table reached from `table[index]`, e.g. "quantization".
    var sub: StaticString? = nil

    var description: String {
        var s = "\(table)"
        if index >= 0 { s += "[\(index)]" }
        if let sub { s += ".\(sub)" }
        return s
    }
}

/// Limits what decoding may allocate. Offsets may point many times at the same bytes (a
/// crafted file can make a million tensors share one table), so the number of decoded
/// tables and vector elements is charged against a budget proportional to the file size;
/// memory stays linear in the file whatever it claims.
final class DecodeBudget {
    private(set) var remaining: Int
    init(fileSize: Int) { remaining = fileSize.multipliedReportingOverflow(by: 2).partialValue &+ 65_536 }

    func charge(_ units: Int, at offset: Int, _ what: @autoclosure () -> String) throws {
        guard units <= remaining else {
            throw ModelError.malformed(offset: offset, what: "\(what()): decoded data would exceed twice the file size "
                + "(offsets point repeatedly at the same bytes)")
        }
        remaining -= units
    }
}

struct FlatBufferReader {
    let bytes: UnsafeRawBufferPointer
    let budget: DecodeBudget

    /// `bytes` must stay valid for as long as the reader and anything made from it is used.
    init(_ bytes: UnsafeRawBufferPointer) {
        self.bytes = bytes
        self.budget = DecodeBudget(fileSize: bytes.count)
    }

    var count: Int { bytes.count }

    /// True when `size` bytes at `pos` lie inside the buffer.
    @inline(__always) func contains(_ pos: Int, _ size: Int) -> Bool {
        pos >= 0 && size >= 0 && pos <= count && size <= count - pos
    }

    /// Unchecked little-endian load; callers have checked the range with `contains`.
    @inline(__always) func load<T: FixedWidthInteger>(_ pos: Int, as _: T.Type) -> T {
        T(littleEndian: bytes.loadUnaligned(fromByteOffset: pos, as: T.self))
    }

    /// Follows the uoffset stored at `pos` (which must be in range); the result may be outside.
    @inline(__always) func follow(_ pos: Int) -> Int { pos + Int(load(pos, as: UInt32.self)) }

    /// The root table, whose uoffset is the buffer's first four bytes.
    func root(_ path: FBPath) throws -> FBTable {
        guard contains(0, 4) else {
            throw ModelError.malformed(offset: 0, what: "\(path): file is \(count) bytes, too short for a root offset")
        }
        return try FBTable(self, at: follow(0), path: path, from: 0)
    }
}

/// A table: its position, its vtable and its declared inline size, all validated.
struct FBTable {
    let fb: FlatBufferReader
    let pos: Int
    let path: FBPath
    let vtable: Int
    let vtableSize: Int
    /// Bytes of the table's inline part, from `pos`.
    let tableSize: Int

    /// `from`: where the offset to this table is stored, reported if the table is out of the file.
    init(_ fb: FlatBufferReader, at pos: Int, path: FBPath, from: Int? = nil) throws {
        guard fb.contains(pos, 4) else {
            throw ModelError.malformed(offset: from ?? pos, what: "\(path): table at byte \(pos) lies outside "
                + "the file (\(fb.count) bytes)")
        }
        // soffset from the table back to its vtable; signed, so the vtable may be on either side.
        let vt = pos - Int(fb.load(pos, as: Int32.self))
        guard fb.contains(vt, 4) else {
            throw ModelError.malformed(offset: pos, what: "\(path): vtable at byte \(vt) lies outside the file")
        }
        let vtSize = Int(fb.load(vt, as: UInt16.self))
        let tSize = Int(fb.load(vt + 2, as: UInt16.self))
        guard vtSize >= 4, vtSize & 1 == 0, fb.contains(vt, vtSize) else {
            throw ModelError.malformed(offset: vt, what: "\(path): vtable size \(vtSize) is invalid or overruns the file")
        }
        guard tSize >= 4, fb.contains(pos, tSize) else {
            throw ModelError.malformed(offset: vt + 2, what: "\(path): table size \(tSize) is invalid or overruns the file")
        }
        self.fb = fb
        self.pos = pos
        self.path = path
        self.vtable = vt
        self.vtableSize = vtSize
        self.tableSize = tSize
    }

    /// Absolute position of field `id` (`size` bytes inline), or nil when the field is absent.
    func field(_ id: Int, size: Int, _ name: StaticString) throws -> Int? {
        let entry = 4 + 2 * id
        guard entry + 2 <= vtableSize else { return nil }
        let off = Int(fb.load(vtable + entry, as: UInt16.self))
        if off == 0 { return nil }
        guard off >= 4, off + size <= tableSize else {
            throw ModelError.malformed(offset: vtable + entry, what: "\(path).\(name): field at table offset \(off) "
                + "(\(size) bytes) overruns the table's \(tableSize) bytes")
        }
        return pos + off
    }

    // MARK: scalars (absent fields read as the schema default)

    func scalar<T: FixedWidthInteger>(_ id: Int, _ name: StaticString, default def: T) throws -> T {
        guard let p = try field(id, size: MemoryLayout<T>.size, name) else { return def }
        return fb.load(p, as: T.self)
    }

    func bool(_ id: Int, _ name: StaticString, default def: Bool = false) throws -> Bool {
        try scalar(id, name, default: UInt8(def ? 1 : 0)) != 0
    }

    func float(_ id: Int, _ name: StaticString, default def: Float) throws -> Float {
        guard let p = try field(id, size: 4, name) else { return def }
        return Float(bitPattern: fb.load(p, as: UInt32.self))
    }

    /// Where the uoffset field `id` is and the position it points at (not yet checked), or nil when absent.
    private func target(_ id: Int, _ name: StaticString) throws -> (field: Int, target: Int)? {
        guard let p = try field(id, size: 4, name) else { return nil }
        return (p, fb.follow(p))
    }

    // MARK: references

    func table(_ id: Int, _ name: StaticString, path: FBPath) throws -> FBTable? {
        guard let t = try target(id, name) else { return nil }
        return try FBTable(fb, at: t.target, path: path, from: t.field)
    }

    func vector(_ id: Int, _ name: StaticString, elementSize: Int) throws -> FBVector? {
        guard let t = try target(id, name) else { return nil }
        return try FBVector(fb, at: t.target, elementSize: elementSize, path: path, field: name, from: t.field)
    }

    func string(_ id: Int, _ name: StaticString) throws -> String? {
        guard let v = try vector(id, name, elementSize: 1) else { return nil }
        return try v.string()
    }

    /// A union: its type tag (field `typeID`) and, when the tag is not NONE, its table (field `valueID`).
    func union(type typeID: Int, value valueID: Int, _ name: StaticString, path: FBPath) throws
        -> (type: UInt8, table: FBTable?)
    {
        let type: UInt8 = try scalar(typeID, name, default: 0)
        guard type != 0 else { return (0, nil) }
        return (type, try table(valueID, name, path: path))
    }
}

/// A vector of fixed-size elements (scalars or uoffsets), whole inside the buffer.
struct FBVector {
    let fb: FlatBufferReader
    /// Position of the length prefix; elements start 4 bytes later.
    let pos: Int
    let count: Int
    let elementSize: Int
    let path: FBPath
    let field: StaticString

    /// `from`: where the offset to this vector is stored, reported if the vector is out of the file.
    init(_ fb: FlatBufferReader, at pos: Int, elementSize: Int, path: FBPath, field: StaticString,
         from: Int? = nil) throws {
        guard fb.contains(pos, 4) else {
            throw ModelError.malformed(offset: from ?? pos, what: "\(path).\(field): vector at byte \(pos) lies "
                + "outside the file (\(fb.count) bytes)")
        }
        let n = Int(fb.load(pos, as: UInt32.self))
        let (bytes, overflow) = n.multipliedReportingOverflow(by: elementSize)
        guard !overflow, fb.contains(pos + 4, bytes) else {
            throw ModelError.malformed(offset: pos, what: "\(path).\(field): vector length \(n) exceeds file "
                + "(\(fb.count - pos - 4) bytes left after byte \(pos))")
        }
        self.fb = fb
        self.pos = pos
        self.count = n
        self.elementSize = elementSize
        self.path = path
        self.field = field
    }

    /// Byte range of the elements in the buffer.
    var dataRange: Range<Int> { (pos + 4)..<(pos + 4 + count * elementSize) }

    @inline(__always) private func at(_ i: Int) -> Int { pos + 4 + i * elementSize }

    // Element loads: `i` must be in 0..<count, which the constructor proved lies in the buffer.
    func int32(_ i: Int) -> Int32 { fb.load(at(i), as: Int32.self) }
    func int64(_ i: Int) -> Int64 { fb.load(at(i), as: Int64.self) }
    func float(_ i: Int) -> Float { Float(bitPattern: fb.load(at(i), as: UInt32.self)) }

    /// Table `i` of a vector of tables.
    func table(_ i: Int, path: FBPath) throws -> FBTable {
        try FBTable(fb, at: fb.follow(at(i)), path: path, from: at(i))
    }

    /// Charges the budget for decoding this whole vector into an array.
    private func chargeDecode() throws {
        try fb.budget.charge(count * elementSize, at: pos, "\(path).\(field)")
    }

    func int32Array() throws -> [Int32] { try decode(Int32.self) }
    func int64Array() throws -> [Int64] { try decode(Int64.self) }

    func floatArray() throws -> [Float] {
        #if _endian(little)
        return try copyElements(Float.self)
        #else
        return try decode(UInt32.self).map(Float.init(bitPattern:))
        #endif
    }

    private func decode<T: FixedWidthInteger>(_: T.Type) throws -> [T] {
        var values = try copyElements(T.self)
        #if _endian(big)
        for i in values.indices { values[i] = T(littleEndian: values[i]) }
        #endif
        return values
    }

    /// The elements' bytes copied in bulk into an array (per-element loads are slow in debug
    /// builds, and the mutation tests decode thousands of scale vectors). T is a plain scalar.
    private func copyElements<T>(_: T.Type) throws -> [T] {
        try chargeDecode()
        guard MemoryLayout<T>.size == elementSize else { return [] }
        return [T](unsafeUninitializedCapacity: count) { out, initialized in
            UnsafeMutableRawBufferPointer(out).copyMemory(from: UnsafeRawBufferPointer(rebasing: fb.bytes[dataRange]))
            initialized = count
        }
    }

    /// The bytes as UTF-8 (invalid sequences are replaced, never rejected: names are for humans).
    func string() throws -> String {
        try chargeDecode()
        let r = dataRange
        return String(decoding: UnsafeRawBufferPointer(rebasing: fb.bytes[r]), as: UTF8.self)
    }
}
