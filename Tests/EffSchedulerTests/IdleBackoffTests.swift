@testable import EffScheduler
import XCTest

/// The idle worker's policy, round by round (no threads, no clocks).
final class IdleBackoffTests: XCTestCase {
    private let spin = Tuning.spinRounds, yield = Tuning.yieldRounds

    private func rounds(_ n: Int, _ backoff: inout IdleBackoff, keptAwake: Bool) -> [IdleBackoff.Action] {
        (0..<n).map { _ in backoff.next(keptAwake: keptAwake) }
    }

    func testSpinsThenYieldsThenParks() {
        var backoff = IdleBackoff()
        let actions = rounds(spin + yield + 1, &backoff, keptAwake: false)
        XCTAssertEqual(Array(actions.prefix(spin)), Array(repeating: .spin, count: spin))
        XCTAssertEqual(Array(actions.dropFirst(spin).prefix(yield)), Array(repeating: .yield, count: yield))
        XCTAssertEqual(actions.last, .park)
    }

    func testNeverParksWhileKeptAwakeButYieldsNowAndThen() {
        var backoff = IdleBackoff()
        let actions = rounds(100_000, &backoff, keptAwake: true)
        XCTAssertFalse(actions.contains(.park))
        let yields = actions.filter { $0 == .yield }.count
        XCTAssertGreaterThan(yields, 100_000 / 128)
        XCTAssertLessThan(yields, 100_000 / 32)
    }

    /// When the burst ends the worker spins and yields its usual while before parking, as the
    /// next frame often comes at once; it used to park on the first round after the burst.
    func testAfterABurstSpinsAndYieldsAgainBeforeParking() {
        var backoff = IdleBackoff()
        _ = rounds(10_000, &backoff, keptAwake: true)
        let after = rounds(spin + yield + 1, &backoff, keptAwake: false)
        XCTAssertEqual(after.firstIndex(of: .park), spin + yield)
        XCTAssertEqual(after.filter { $0 == .spin }.count, spin)
        XCTAssertEqual(after.filter { $0 == .yield }.count, yield)
    }

    func testResetStartsOver() {
        var backoff = IdleBackoff()
        _ = rounds(spin + yield, &backoff, keptAwake: false)
        backoff.reset()
        XCTAssertEqual(rounds(spin, &backoff, keptAwake: false), Array(repeating: .spin, count: spin))
    }
}
