import Atomics
@testable import EffScheduler
import XCTest

final class DequeTests: XCTestCase {
    func testEmpty() {
        let d = WorkStealingDeque(capacity: 8)
        XCTAssertNil(d.pop())
        XCTAssertEqual(d.steal(), .empty)
        XCTAssertEqual(d.approximateCount, 0)
    }

    func testOwnerPopIsLIFO() {
        let d = WorkStealingDeque(capacity: 16)
        for i in 1...10 { XCTAssertTrue(d.push(i)) }
        for i in (1...10).reversed() { XCTAssertEqual(d.pop(), i) }
        XCTAssertNil(d.pop())
    }

    func testStealIsFIFO() {
        let d = WorkStealingDeque(capacity: 16)
        for i in 1...10 { XCTAssertTrue(d.push(i)) }
        for i in 1...10 { XCTAssertEqual(d.steal(), .item(i)) }
        XCTAssertEqual(d.steal(), .empty)
        XCTAssertNil(d.pop())
    }

    func testPopAndStealMeetInTheMiddle() {
        let d = WorkStealingDeque(capacity: 8)
        for i in 1...5 { XCTAssertTrue(d.push(i)) }
        XCTAssertEqual(d.steal(), .item(1))
        XCTAssertEqual(d.pop(), 5)
        XCTAssertEqual(d.steal(), .item(2))
        XCTAssertEqual(d.pop(), 4)
        XCTAssertEqual(d.pop(), 3) // last item, taken through the CAS path
        XCTAssertNil(d.pop())
        XCTAssertEqual(d.steal(), .empty)
        // Still usable after draining.
        XCTAssertTrue(d.push(42))
        XCTAssertEqual(d.steal(), .item(42))
    }

    func testOverflowRejectsWithoutLosingItems() {
        let d = WorkStealingDeque(capacity: 8)
        for i in 0..<8 { XCTAssertTrue(d.push(i)) }
        XCTAssertFalse(d.push(99), "a full ring must refuse, not overwrite")
        XCTAssertEqual(d.approximateCount, 8)
        XCTAssertEqual(d.steal(), .item(0)) // frees one slot at the top
        XCTAssertTrue(d.push(8))
        XCTAssertFalse(d.push(100))
        var popped: [Int] = []
        while let x = d.pop() { popped.append(x) }
        XCTAssertEqual(popped, Array((1...8).reversed()))
    }

    func testWrapAroundManyTimes() {
        let d = WorkStealingDeque(capacity: 4)
        var next = 0, expectedSteal = 0
        for round in 0..<1000 {
            // Keep 1–3 items in flight so indices wrap the 4-slot ring constantly.
            while d.approximateCount < 3 { XCTAssertTrue(d.push(next)); next += 1 }
            if round % 2 == 0 {
                XCTAssertEqual(d.steal(), .item(expectedSteal))
                expectedSteal += 1
            } else {
                XCTAssertEqual(d.pop(), next - 1)
                next -= 1 // popped the newest: re-push the same value next time
            }
        }
    }

    func testCapacityMustBePowerOfTwo() {
        XCTAssertEqual(WorkStealingDeque(capacity: 1).capacity, 1)
        XCTAssertEqual(WorkStealingDeque(capacity: 1024).capacity, 1024)
    }

    /// One owner pushes and pops, three thieves steal; every item must be
    /// taken exactly once and none lost.
    func testConcurrentOwnerAndThreeThieves() {
        let items = 1_000_000
        let d = WorkStealingDeque(capacity: 64)
        let taken = Counters(items + 1)
        let ownerDone = ManagedAtomic<Bool>(false)
        let stolen = ManagedAtomic<Int>(0)
        let popped = ManagedAtomic<Int>(0)
        let box = UncheckedBox(d)

        onThreads(4) { t in
            let d = box.value
            if t == 0 {
                var next = 1, mine = 0, rng: UInt64 = 88172645463325252
                while next <= items {
                    rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17
                    if rng % 3 != 0 {
                        if d.push(next) { next += 1 } else if let x = d.pop() { taken.add(x); mine += 1 }
                    } else if let x = d.pop() {
                        taken.add(x); mine += 1
                    }
                }
                while let x = d.pop() { taken.add(x); mine += 1 }
                popped.store(mine, ordering: .relaxed)
                ownerDone.store(true, ordering: .releasing)
            } else {
                var mine = 0
                while true {
                    switch d.steal() {
                    case .item(let x): taken.add(x); mine += 1
                    case .retry: continue
                    case .empty:
                        // The owner drains its deque before setting ownerDone
                        // and pushes nothing after: empty from then on.
                        if ownerDone.load(ordering: .acquiring) {
                            stolen.wrappingIncrement(by: mine, ordering: .relaxed)
                            return
                        }
                    }
                }
            }
        }
        XCTAssertEqual(taken[0], 0)
        for i in 1...items where taken[i] != 1 {
            XCTFail("item \(i) taken \(taken[i]) times")
            break
        }
        XCTAssertEqual(stolen.load(ordering: .relaxed) + popped.load(ordering: .relaxed), items)
        XCTAssertGreaterThan(stolen.load(ordering: .relaxed), 0, "thieves never got anything")
    }
}

/// Hands a non-Sendable reference to test threads.
struct UncheckedBox<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}
