@testable import EffEngine
import XCTest

final class TileGridTests: XCTestCase {
    /// Every (unit, block) cell lies in exactly one tile, for every grid `best` may return.
    func testTilesCoverEveryCellOnce() {
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<300 {
            let units = Int.random(in: 1...120, using: &rng), blocks = Int.random(in: 1...24, using: &rng)
            let lanes = Int.random(in: 1...8, using: &rng)
            let grid = TileGrid.best(units: units, minUnits: Int.random(in: 1...4, using: &rng), blocks: blocks,
                                     lanes: lanes, maxTiles: lanes * 4, overhead: Double.random(in: 0...50, using: &rng)) { band, group in
                Double(band.count * group.count)
            }
            XCTAssertLessThanOrEqual(grid.tiles, max(1, lanes * 4))
            var seen = [Int](repeating: 0, count: units * blocks)
            for t in 0..<grid.tiles {
                let (band, group) = grid.tile(t)
                XCTAssertFalse(band.isEmpty, "empty band in \(grid)")
                XCTAssertFalse(group.isEmpty, "empty group in \(grid)")
                for u in band { for b in group { seen[u * blocks + b] += 1 } }
            }
            XCTAssertEqual(seen.filter { $0 != 1 }.count, 0, "\(grid)")
        }
    }

    /// 7 micro-kernel rows × 18 channel blocks (a 7×7×1152 conv1x1) on 2 lanes: no pixel split
    /// shares 7 rows evenly, a channel split does.
    func testSevenRowsSplitByChannels() {
        let grid = TileGrid.best(units: 7, minUnits: 1, blocks: 18, lanes: 2, maxTiles: 8, overhead: 1) { band, group in
            Double(band.count * group.count)
        }
        XCTAssertEqual(grid.bands, 1, "\(grid)")
        XCTAssertEqual(grid.groups % 2, 0, "\(grid)")
    }

    /// Many rows and 3 channel blocks (a 112-row layer, 144 channels on AVX-512): 3 groups
    /// cannot be shared evenly by 2 lanes, 2 row bands can; fewer tiles win the tie.
    func testFewBlocksSplitByRows() {
        let grid = TileGrid.best(units: 112, minUnits: 1, blocks: 3, lanes: 2, maxTiles: 8, overhead: 1) { band, group in
            Double(band.count * group.count)
        }
        XCTAssertEqual(grid, TileGrid(units: 112, blocks: 3, bands: 2, groups: 1))
    }

    /// Work smaller than the overhead of sharing it stays whole; one lane never splits.
    func testTinyWorkAndOneLaneStayWhole() {
        let tiny = TileGrid.best(units: 4, minUnits: 1, blocks: 4, lanes: 2, maxTiles: 8, overhead: 100) { band, group in
            Double(band.count * group.count)
        }
        XCTAssertEqual(tiny.tiles, 1)
        let one = TileGrid.best(units: 100, minUnits: 1, blocks: 10, lanes: 1, maxTiles: 4, overhead: 0) { band, group in
            Double(band.count * group.count)
        }
        XCTAssertEqual(one.tiles, 1)
    }
}
