/// How one step's output is cut for the pool: `bands` along its spatial axis (rows, or
/// micro-kernel pixel panels) × `groups` of whole channel blocks. Tile `t` is band
/// `t % bands` of group `t / bands`; bands and groups differ by at most one unit or block.
struct TileGrid: Equatable {
    let units: Int
    let blocks: Int
    let bands: Int
    let groups: Int

    var tiles: Int { bands * groups }

    static func whole(units: Int, blocks: Int) -> TileGrid {
        TileGrid(units: units, blocks: blocks, bands: 1, groups: 1)
    }

    func band(_ r: Int) -> Range<Int> { Self.part(r, of: bands, over: units) }
    func group(_ g: Int) -> Range<Int> { Self.part(g, of: groups, over: blocks) }
    func tile(_ t: Int) -> (band: Range<Int>, group: Range<Int>) { (band(t % bands), group(t / bands)) }

    private static func part(_ i: Int, of n: Int, over count: Int) -> Range<Int> {
        let q = count / n, r = count % n
        let start = i * q + min(i, r)
        return start..<(start + q + (i < r ? 1 : 0))
    }

    /// The grid with the shortest estimated time on `lanes` lanes, from every grid of at
    /// most `maxTiles` tiles with bands of at least `minUnits` units. The estimate replays
    /// the pool's claiming: tiles in index order, each to the lane that frees first, each
    /// costing `cost(band, group)` plus `overhead`, the same units as `cost` (the claim,
    /// the kernel's set-up, cache misses at the edges). Ties go to fewer tiles.
    ///
    /// Why a search rather than a rule: a 7×7 layer is 7 micro-kernel rows, which no pixel
    /// split shares evenly between 2 lanes, while its 1152 channels split evenly; a 112-row
    /// layer with 32 channels is the other way round; row bands of a depthwise step also
    /// rebuild the filter's halo, which `cost` charges.
    static func best(units: Int, minUnits: Int, blocks: Int, lanes: Int, maxTiles: Int,
                     overhead: Double, cost: (_ band: Range<Int>, _ group: Range<Int>) -> Double) -> TileGrid {
        var best = whole(units: units, blocks: blocks)
        guard lanes > 1, units > 0, blocks > 0 else { return best }
        var bestTime = cost(0..<units, 0..<blocks)
        var finish = [Double](repeating: 0, count: lanes)
        for groups in 1...max(1, min(blocks, maxTiles)) {
            let maxBands = max(1, min(units / max(1, minUnits), maxTiles / groups))
            for bands in 1...maxBands where bands * groups > 1 {
                let grid = TileGrid(units: units, blocks: blocks, bands: bands, groups: groups)
                for i in finish.indices { finish[i] = 0 }
                for t in 0..<grid.tiles {
                    let (band, group) = grid.tile(t)
                    var lane = 0
                    for i in 1..<lanes where finish[i] < finish[lane] { lane = i }
                    finish[lane] += cost(band, group) + overhead
                }
                let time = finish.max()! + overhead // the owner's wait for the last helper
                // Fewer tiles win unless clearly slower: the model is rough.
                if time < bestTime * 0.98 || (time <= bestTime && grid.tiles < best.tiles) {
                    best = grid
                    bestTime = time
                }
            }
        }
        return best
    }
}
