@testable import EffEngine
import XCTest

final class ArenaPlannerTests: XCTestCase {
    /// Random lifetimes: tensors alive at the same step never overlap in memory.
    func testOverlappingLifetimesNeverShareBytes() {
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<200 {
            let n = Int.random(in: 1...30, using: &rng)
            let requests = (0..<n).map { _ -> ArenaPlanner.Request in
                let a = Int.random(in: 0..<20, using: &rng), b = Int.random(in: 0..<20, using: &rng)
                return .init(size: Int.random(in: 1...5000, using: &rng), firstUse: min(a, b), lastUse: max(a, b))
            }
            let (offsets, size) = ArenaPlanner.plan(requests)
            for i in 0..<n {
                XCTAssertEqual(offsets[i] % ArenaPlanner.alignment, 0)
                XCTAssertLessThanOrEqual(offsets[i] + requests[i].size, size)
                for j in (i + 1)..<n where requests[i].firstUse <= requests[j].lastUse && requests[j].firstUse <= requests[i].lastUse {
                    let disjoint = offsets[i] + requests[i].size <= offsets[j] || offsets[j] + requests[j].size <= offsets[i]
                    XCTAssertTrue(disjoint, "requests \(i) and \(j) overlap")
                }
            }
        }
    }

    func testDisjointLifetimesShare() {
        let (offsets, size) = ArenaPlanner.plan([.init(size: 1000, firstUse: 0, lastUse: 1), .init(size: 1000, firstUse: 2, lastUse: 3)])
        XCTAssertEqual(offsets, [0, 0])
        XCTAssertEqual(size, 1024)
    }
}
