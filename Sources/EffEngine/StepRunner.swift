import CEffKernels
import Foundation

/// One step of a plan made ready to run on an engine's arena: the kernel call over a
/// range of work items (output pixels, rows, channels or elements, depending on the op)
/// and the step's tiling for a given number of lanes. Built once per engine, so running
/// a step, alone or on the pool, allocates nothing.
struct StepRunner {
    /// Work items of the step.
    private(set) var count = 1
    /// Tiles; 1 means the step runs whole on the calling thread.
    private(set) var tiles = 1
    /// Computes items [a, b).
    private(set) var run: (Int, Int) -> Void = { _, _ in }
    /// Computes the given tiles (for `WorkerPool.parallelFor(reusing:)`).
    private(set) var runTiles: (Range<Int>) -> Void = { _ in }

    /// Tiles per lane and step: enough to even out uneven tiles and stealing.
    static let tilesPerLane = 4

    init(_ step: Step, arena: UnsafeMutableRawPointer, kernels k: effk_isa_kernels, lanes: Int) {
        func i8(_ offset: Int) -> UnsafeMutablePointer<Int8> { (arena + offset).assumingMemoryBound(to: Int8.self) }
        func f32(_ offset: Int) -> UnsafeMutablePointer<Float> { (arena + offset).assumingMemoryBound(to: Float.self) }
        /// Splits `count` items into tiles of at least `minTile` items, in whole units of
        /// `align` (micro-kernel rows), about tilesPerLane per lane. The tile count is a
        /// multiple of the lanes where the work allows and tiles differ by at most one unit,
        /// so an even share exists for every lane (7 tiles on 2 lanes would leave one lane
        /// 4/7 of the step).
        func tiled(_ count: Int, minTile: Int, align: Int = 1, _ body: @escaping (Int, Int) -> Void) {
            self.count = count
            run = body
            let units = (count + align - 1) / align
            let minUnits = max(1, (minTile + align - 1) / align)
            guard lanes > 1, units >= 2 * minUnits else { return }
            var n = min(units / minUnits, lanes * Self.tilesPerLane)
            if n > lanes { n -= n % lanes }
            let grid = TileGrid(units: units, blocks: 1, bands: n, groups: 1)
            tiles = n
            runTiles = { range in
                for t in range {
                    let band = grid.band(t)
                    body(band.lowerBound * align, min(count, band.upperBound * align))
                }
            }
        }
        /// Runs `grid`'s tiles: `body(units, blocks)` for each.
        func tiled(_ grid: TileGrid, _ body: @escaping (_ units: Range<Int>, _ blocks: Range<Int>) -> Void) {
            count = grid.units
            run = { a, b in body(a..<b, 0..<grid.blocks) }
            guard grid.tiles > 1 else { return }
            tiles = grid.tiles
            runTiles = { range in
                for t in range {
                    let (band, group) = grid.tile(t)
                    body(band, group)
                }
            }
        }
        /// A step that runs whole.
        func single(_ body: @escaping () -> Void) { run = { _, _ in body() } }

        /// The step's table epilogue over output pixels [p0, p1) × channels [c0, c1) of a
        /// [pixels][channels] tensor at `y`, in place: one run when the channels are whole.
        /// Then the step's residual ADD over the same elements, in place.
        let epilogue = step.epilogue?.typed(Int8.self)
        let residual = step.addEpilogue
        func lookUp(_ y: Int, channels: Int, _ p0: Int, _ p1: Int, _ c0: Int, _ c1: Int) {
            guard epilogue != nil || residual != nil, p1 > p0, c1 > c0 else { return }
            let out = i8(y)
            func apply(_ start: Int, _ n: Int) {
                if let table = epilogue { k.lookup(table, out + start, out + start, n) }
                if let residual {
                    let skip = UnsafePointer(i8(residual.other) + start)
                    withUnsafePointer(to: residual.params) { pp in
                        if residual.convIsFirst {
                            k.add(pp, out + start, skip, out + start, n)
                        } else {
                            k.add(pp, skip, out + start, out + start, n)
                        }
                    }
                }
            }
            if c0 == 0, c1 == channels {
                apply(p0 * channels, (p1 - p0) * channels)
            } else {
                for px in p0..<p1 { apply(px * channels + c0, c1 - c0) }
            }
        }

        switch step.kind {
        case let .conv1x1(p, x, w, m, s, y):
            // Bands of whole micro-kernel rows × groups of channel blocks, whichever shares
            // best; a tile costs its MACs plus ~64 K MACs' worth (about half a microsecond).
            let pixels = Int(p.out_h * p.out_w), mr = Int(k.conv1x1_mr), depth = Int(p.in_c), outC = Int(p.out_c)
            let block = k.conv1x1_channels != nil && k.conv1x1_channel_block > 0 ? Int(k.conv1x1_channel_block) : outC
            let grid = TileGrid.best(units: (pixels + mr - 1) / mr, minUnits: 1, blocks: (outC + block - 1) / block,
                                     lanes: lanes, maxTiles: lanes * Self.tilesPerLane, overhead: 65536) { band, group in
                Double(min(pixels, band.upperBound * mr) - band.lowerBound * mr)
                    * Double(min(outC, group.upperBound * block) - group.lowerBound * block) * Double(depth)
            }
            let channels = k.conv1x1_channels
            tiled(grid) { band, group in
                let p0 = Int32(band.lowerBound * mr), p1 = Int32(min(pixels, band.upperBound * mr))
                withUnsafePointer(to: p) {
                    if let channels {
                        channels($0, i8(x), w.pointer, m.typed(Int32.self), s.typed(Int32.self), i8(y), p0, p1,
                                 Int32(group.lowerBound * block), Int32(min(outC, group.upperBound * block)))
                    } else {
                        k.conv1x1($0, i8(x), w.pointer, m.typed(Int32.self), s.typed(Int32.self), i8(y), p0, p1)
                    }
                }
                if channels != nil {
                    lookUp(y, channels: outC, Int(p0), Int(p1), group.lowerBound * block, min(outC, group.upperBound * block))
                } else {
                    lookUp(y, channels: outC, Int(p0), Int(p1), 0, outC)
                }
            }
        case let .conv(p, x, w, m, s, y):
            tiled(Int(p.out_h), minTile: 1) { a, b in
                withUnsafePointer(to: p) {
                    k.conv($0, i8(x), w.pointer, m.typed(Int32.self), s.typed(Int32.self), i8(y), Int32(a), Int32(b))
                }
                lookUp(y, channels: Int(p.out_c), a * Int(p.out_w), b * Int(p.out_w), 0, Int(p.out_c))
            }
        case let .depthwisePacked(p, x, w, m, s, y):
            // Row bands × groups of channel blocks. A band rebuilds the filter's halo rows
            // (kernel_h - stride more input rows), which the cost charges; channel groups do
            // not, so late layers (7 or 14 rows, 480+ channels) split by channels.
            let rows = Int(p.out_h), outC = Int(p.out_c), width = Int(p.out_w)
            let taps = Double(p.kernel_h * p.kernel_w), kh = Int(p.kernel_h), sh = Int(p.stride_h)
            let block = k.dwconv_channels != nil && k.dwconv_channel_block > 0 ? Int(k.dwconv_channel_block) : outC
            let grid = TileGrid.best(units: rows, minUnits: 1, blocks: (outC + block - 1) / block,
                                     lanes: lanes, maxTiles: lanes * Self.tilesPerLane, overhead: 16384) { band, group in
                // Building an input row costs about 6 MACs per byte (the u8 tuple interleave).
                let built = Double((band.count - 1) * sh + kh)
                return Double(min(outC, group.upperBound * block) - group.lowerBound * block) * Double(width)
                    * (Double(band.count) * taps + built * 6)
            }
            let channels = k.dwconv_channels
            tiled(grid) { band, group in
                withUnsafePointer(to: p) {
                    if let channels {
                        channels($0, i8(x), w.pointer, m.typed(Int32.self), s.typed(Int32.self), i8(y),
                                 Int32(band.lowerBound), Int32(band.upperBound),
                                 Int32(group.lowerBound * block), Int32(min(outC, group.upperBound * block)))
                    } else {
                        k.dwconv($0, i8(x), w.pointer, m.typed(Int32.self), s.typed(Int32.self), i8(y),
                                 Int32(band.lowerBound), Int32(band.upperBound))
                    }
                }
                let c0 = channels != nil ? group.lowerBound * block : 0, c1 = channels != nil ? min(outC, group.upperBound * block) : outC
                lookUp(y, channels: outC, band.lowerBound * width, band.upperBound * width, c0, c1)
            }
        case let .depthwise(p, x, f, bias, m, s, y):
            tiled(Int(p.out_h), minTile: 1) { a, b in
                withUnsafePointer(to: p) {
                    effk_qs8_dwconv2d__scalar($0, i8(x), f.typed(Int8.self), bias?.typed(Int32.self), m.typed(Int32.self),
                                              s.typed(Int32.self), i8(y), Int32(a), Int32(b))
                }
                lookUp(y, channels: Int(p.out_c), a * Int(p.out_w), b * Int(p.out_w), 0, Int(p.out_c))
            }
        case let .fullyConnected(p, x, w, scale, y):
            tiled(Int(p.out_c), minTile: 128, align: 64) { a, b in
                withUnsafePointer(to: p) { k.fc($0, i8(x), w.pointer, scale.typed(Double.self), i8(y), Int32(a), Int32(b)) }
            }
        case let .add(p, x1, x2, y, n):
            // ADD and MUL requantize every element (~0.7 ns each with AVX-512): 2 K elements
            // are ~1.5 µs, worth a tile. LOOKUP is ~10× cheaper per element.
            tiled(n, minTile: 2048, align: 64) { a, b in
                withUnsafePointer(to: p) { k.add($0, i8(x1) + a, i8(x2) + a, i8(y) + a, b - a) }
            }
        case let .mul(p, x1, x2, y, n):
            tiled(n, minTile: 2048, align: 64) { a, b in
                withUnsafePointer(to: p) { k.mul($0, i8(x1) + a, i8(x2) + a, i8(y) + a, b - a) }
            }
        case let .mulChannel(p, x, ch, y, c, pixels):
            tiled(pixels, minTile: max(1, 2048 / max(c, 1))) { a, b in
                withUnsafePointer(to: p) { k.mul_channel($0, i8(x), i8(ch), i8(y), Int32(c), Int32(a), Int32(b)) }
            }
        case let .lookup(table, x, y, n):
            tiled(n, minTile: 16384, align: 64) { a, b in k.lookup(table.typed(Int8.self), i8(x) + a, i8(y) + a, b - a) }
        case let .addBroadcast(p, bc, x1, x2, y):
            single {
                withUnsafePointer(to: p) { pp in withUnsafePointer(to: bc) { effk_qs8_add_broadcast__scalar(pp, $0, i8(x1), i8(x2), i8(y)) } }
            }
        case let .mulBroadcast(p, bc, x1, x2, y):
            single {
                withUnsafePointer(to: p) { pp in withUnsafePointer(to: bc) { effk_qs8_mul_broadcast__scalar(pp, $0, i8(x1), i8(x2), i8(y)) } }
            }
        case let .meanHW(p, x, y):
            // Channel blocks, where the table can: squeeze-excitation's MEANs (B0: 17 of them,
            // the first over 112×112) were one lane's work while the others waited. A block
            // is worth a tile from ~4 K pixels.
            if let channels = k.mean_hw_channels, k.mean_hw_channel_block > 0 {
                let block = Int(k.mean_hw_channel_block), c = Int(p.c), hw = Int(p.h * p.w)
                tiled((c + block - 1) / block, minTile: max(1, 4096 / max(hw, 1))) { a, b in
                    withUnsafePointer(to: p) { channels($0, i8(x), i8(y), Int32(a * block), Int32(min(c, b * block))) }
                }
            } else {
                single { withUnsafePointer(to: p) { k.mean_hw($0, i8(x), i8(y)) } }
            }
        case let .averagePool(p, x, y):
            single { withUnsafePointer(to: p) { effk_qs8_avgpool2d__scalar($0, i8(x), i8(y), 0, p.out_h) } }
        case let .softmax(p, x, y, rows, depth):
            single { withUnsafePointer(to: p) { effk_qs8_softmax__scalar($0, i8(x), i8(y), Int32(rows), Int32(depth)) } }
        case let .quantizeF32(x, y, n, scale, zp):
            single { effk_quantize_f32_qs8__scalar(f32(x), i8(y), n, scale, zp) }
        case let .dequantize(x, y, n, scale, zp):
            single { effk_dequantize_qs8_f32__scalar(i8(x), f32(y), n, scale, zp) }
        case let .pad(shape, before, after, value, x, y):
            single {
                shape.withUnsafeBufferPointer { sh in
                    before.withUnsafeBufferPointer { bf in
                        after.withUnsafeBufferPointer { af in
                            effk_pad4d_qs8(i8(x), sh.baseAddress, bf.baseAddress, af.baseAddress, value, i8(y))
                        }
                    }
                }
            }
        }
    }
}
