import CEffKernels
import EffModel
import EffScheduler
import Foundation

public enum EngineError: Error, CustomStringConvertible {
    case inputSize(expected: Int, got: Int, shape: [Int])
    case outputSize(expected: Int, got: Int)

    public var description: String {
        switch self {
        case let .inputSize(expected, got, shape):
            return "input has \(got) bytes; the model expects \(expected) (shape \(shape))"
        case let .outputSize(expected, got):
            return "output buffer has \(got) bytes; the model produces \(expected)"
        }
    }
}

/// Runs a `Plan`. Owns one activation arena, allocated once; `run` allocates nothing.
/// One engine runs one inference at a time; use one engine per concurrent frame. With a
/// pool, each operator's output is split into tiles that run on the pool's lanes; the
/// bytes are the same for any number of threads.
public final class Engine: @unchecked Sendable {
    public let plan: Plan
    public let pool: WorkerPool?
    private let arena: UnsafeMutableRawPointer
    private let k: effk_isa_kernels
    /// Tiles per lane and operator: enough to even out uneven tiles and stealing.
    private let tilesPerLane = 4

    public init(plan: Plan, pool: WorkerPool? = nil) {
        self.plan = plan
        self.pool = pool
        k = plan.kernels.pointee
        arena = UnsafeMutableRawPointer.allocate(byteCount: plan.arenaSize, alignment: 64)
        arena.initializeMemory(as: UInt8.self, repeating: 0, count: plan.arenaSize)
    }

    deinit { arena.deallocate() }

    /// Runs the model on `input` (exactly `plan.input.byteCount` bytes, the model's input
    /// type and layout) and writes the result into `output`.
    /// `observe`, when given, sees each operator's output right after it is computed.
    public func run(input: UnsafeRawBufferPointer, output: UnsafeMutableRawBufferPointer,
                    observe: ((_ op: Int, _ tensor: Int, _ bytes: UnsafeRawBufferPointer) -> Void)? = nil) throws {
        guard input.count == plan.input.byteCount else {
            throw EngineError.inputSize(expected: plan.input.byteCount, got: input.count, shape: plan.input.shape)
        }
        guard output.count == plan.output.byteCount else {
            throw EngineError.outputSize(expected: plan.output.byteCount, got: output.count)
        }
        if let base = input.baseAddress { (arena + plan.inputOffset).copyMemory(from: base, byteCount: input.count) }
        for step in plan.steps {
            execute(step)
            if let observe, let off = plan.tensorOffsets[step.output] {
                observe(step.op, step.output, UnsafeRawBufferPointer(start: arena + off, count: plan.graph.tensors[step.output].byteCount))
            }
        }
        if let base = output.baseAddress { base.copyMemory(from: arena + plan.outputOffset, byteCount: output.count) }
    }

    /// Convenience for tests and tools: bytes in, bytes out.
    public func run(_ input: [Int8]) throws -> [Int8] {
        var out = [Int8](repeating: 0, count: plan.output.byteCount)
        try input.withUnsafeBytes { i in
            try out.withUnsafeMutableBytes { o in try run(input: i, output: o) }
        }
        return out
    }

    @inline(__always) private func i8(_ offset: Int) -> UnsafeMutablePointer<Int8> {
        (arena + offset).assumingMemoryBound(to: Int8.self)
    }

    /// Splits `0..<count` into about tilesPerLane × lanes tiles of at least `minTile`
    /// (a multiple of `align`) and runs `body` on each, on the pool when there is one.
    @inline(__always) private func tiled(_ count: Int, minTile: Int, align: Int = 1, _ body: (Int, Int) -> Void) {
        guard let pool, pool.threadCount > 1, count >= 2 * minTile else {
            body(0, count)
            return
        }
        var tile = max(minTile, (count + pool.threadCount * tilesPerLane - 1) / (pool.threadCount * tilesPerLane))
        tile = (tile + align - 1) / align * align
        let tiles = (count + tile - 1) / tile
        pool.parallelFor(0..<tiles) { r in
            for t in r { body(t * tile, min(count, (t + 1) * tile)) }
        }
    }

    private func execute(_ step: Step) {
        switch step.kind {
        case let .conv1x1(p, x, w, m, s, y):
            withUnsafePointer(to: p) { pp in
                // At least ~64 K MACs a tile (a microsecond or so), in whole micro-kernel rows.
                tiled(Int(p.out_h * p.out_w), minTile: max(1, 65536 / max(Int(p.in_c * p.out_c), 1)), align: Int(k.conv1x1_mr)) { a, b in
                    k.conv1x1(pp, i8(x), w.pointer, m.typed(Int32.self), s.typed(Int32.self), i8(y), Int32(a), Int32(b))
                }
            }
        case let .conv(p, x, w, m, s, y):
            withUnsafePointer(to: p) { pp in
                tiled(Int(p.out_h), minTile: 1) { a, b in
                    k.conv(pp, i8(x), w.pointer, m.typed(Int32.self), s.typed(Int32.self), i8(y), Int32(a), Int32(b))
                }
            }
        case let .depthwisePacked(p, x, w, m, s, y):
            withUnsafePointer(to: p) { pp in
                // A row tile re-reads the kernel's input halo: keep tiles at least that tall.
                tiled(Int(p.out_h), minTile: max(2, Int(p.kernel_h / p.stride_h))) { a, b in
                    k.dwconv(pp, i8(x), w.pointer, m.typed(Int32.self), s.typed(Int32.self), i8(y), Int32(a), Int32(b))
                }
            }
        case let .depthwise(p, x, f, b, m, s, y):
            withUnsafePointer(to: p) { pp in
                tiled(Int(p.out_h), minTile: 1) { lo, hi in
                    effk_qs8_dwconv2d__scalar(pp, i8(x), f.typed(Int8.self), b?.typed(Int32.self), m.typed(Int32.self), s.typed(Int32.self), i8(y), Int32(lo), Int32(hi))
                }
            }
        case let .fullyConnected(p, x, w, scale, y):
            withUnsafePointer(to: p) { pp in
                tiled(Int(p.out_c), minTile: 128, align: 64) { lo, hi in
                    k.fc(pp, i8(x), w.pointer, scale.typed(Double.self), i8(y), Int32(lo), Int32(hi))
                }
            }
        case let .add(p, a, b, y, n):
            withUnsafePointer(to: p) { pp in
                tiled(n, minTile: 16384, align: 64) { lo, hi in k.add(pp, i8(a) + lo, i8(b) + lo, i8(y) + lo, hi - lo) }
            }
        case .addBroadcast(var p, var bc, let a, let b, let y):
            effk_qs8_add_broadcast__scalar(&p, &bc, i8(a), i8(b), i8(y))
        case let .mul(p, a, b, y, n):
            withUnsafePointer(to: p) { pp in
                tiled(n, minTile: 16384, align: 64) { lo, hi in k.mul(pp, i8(a) + lo, i8(b) + lo, i8(y) + lo, hi - lo) }
            }
        case let .mulChannel(p, a, ch, y, c, n):
            withUnsafePointer(to: p) { pp in
                tiled(n, minTile: max(1, 16384 / max(c, 1))) { lo, hi in
                    k.mul_channel(pp, i8(a), i8(ch), i8(y), Int32(c), Int32(lo), Int32(hi))
                }
            }
        case .mulBroadcast(var p, var bc, let a, let b, let y):
            effk_qs8_mul_broadcast__scalar(&p, &bc, i8(a), i8(b), i8(y))
        case let .lookup(table, x, y, n):
            tiled(n, minTile: 16384, align: 64) { lo, hi in k.lookup(table.typed(Int8.self), i8(x) + lo, i8(y) + lo, hi - lo) }
        case let .meanHW(p, x, y):
            withUnsafePointer(to: p) { k.mean_hw($0, i8(x), i8(y)) }
        case .averagePool(var p, let x, let y):
            effk_qs8_avgpool2d__scalar(&p, i8(x), i8(y), 0, p.out_h)
        case .softmax(var p, let x, let y, let rows, let depth):
            effk_qs8_softmax__scalar(&p, i8(x), i8(y), Int32(rows), Int32(depth))
        case let .quantizeF32(x, y, n, scale, zp):
            effk_quantize_f32_qs8__scalar((arena + x).assumingMemoryBound(to: Float.self), i8(y), n, scale, zp)
        case let .dequantize(x, y, n, scale, zp):
            effk_dequantize_qs8_f32__scalar(i8(x), (arena + y).assumingMemoryBound(to: Float.self), n, scale, zp)
        case let .pad(shape, before, after, value, x, y):
            shape.withUnsafeBufferPointer { sh in
                before.withUnsafeBufferPointer { bf in
                    after.withUnsafeBufferPointer { af in
                        effk_pad4d_qs8(i8(x), sh.baseAddress, bf.baseAddress, af.baseAddress, value, i8(y))
                    }
                }
            }
        case let .copy(x, y, n):
            (arena + y).copyMemory(from: arena + x, byteCount: n)
        }
    }
}
