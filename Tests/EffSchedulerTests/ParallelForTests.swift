import Atomics
@testable import EffScheduler
import Foundation
import XCTest

final class ParallelForTests: XCTestCase {
    /// Checks that `parallelFor(range, grain)` visits each index exactly once,
    /// in chunks that are contiguous, inside the range, and at least `grain`
    /// long unless the whole range is shorter.
    private func checkCoverage(_ pool: WorkerPool, _ range: Range<Int>, grain: Int,
                               file: StaticString = #filePath, line: UInt = #line) {
        let hits = Counters(range.count)
        let badChunks = ManagedAtomic<Int>(0)
        let calls = ManagedAtomic<Int>(0)
        pool.parallelFor(range, grain: grain) { chunk in
            calls.wrappingIncrement(ordering: .relaxed)
            if chunk.isEmpty || chunk.lowerBound < range.lowerBound || chunk.upperBound > range.upperBound
                || (chunk.count < grain && chunk.count != range.count) {
                badChunks.wrappingIncrement(ordering: .relaxed)
                return
            }
            for i in chunk { hits.add(i - range.lowerBound) }
        }
        XCTAssertEqual(badChunks.load(ordering: .relaxed), 0, "bad chunk for \(range) grain \(grain)", file: file, line: line)
        if let (i, n) = hits.firstMismatch() {
            XCTFail("index \(range.lowerBound + i) of \(range) (grain \(grain)) visited \(n) times", file: file, line: line)
        }
        if range.isEmpty {
            XCTAssertEqual(calls.load(ordering: .relaxed), 0, "body called for an empty range", file: file, line: line)
        }
    }

    func testEveryIndexExactlyOnce() {
        for threads in [1, 2, 3, 4] {
            let pool = WorkerPool(threads: threads)
            XCTAssertEqual(pool.threadCount, threads)
            for count in [0, 1, 2, 3, 7, 31, 97, 1000, 1023, 4097] {
                for grain in [1, 2, 3, 8, 64, 5000] {
                    checkCoverage(pool, 0..<count, grain: grain)
                }
            }
            // Offset and negative bounds.
            checkCoverage(pool, 17..<18, grain: 1)
            checkCoverage(pool, -500..<733, grain: 7)
            // Nonsense grains mean 1.
            checkCoverage(pool, 0..<100, grain: 0)
            checkCoverage(pool, 0..<100, grain: -3)
        }
    }

    /// A body made once and reused (as the engine does per operator) covers every index
    /// exactly once on every call, from several threads at once.
    func testReusedBodyVisitsEveryIndexOnce() {
        let pool = WorkerPool(threads: 3)
        let n = 5_000, rounds = 40
        let hits = Counters(n)
        let body: (Range<Int>) -> Void = { r in for i in r { hits.add(i) } }
        onThreads(2) { _ in
            for _ in 0..<rounds { pool.parallelFor(0..<n, grain: 7, reusing: body) }
        }
        if let (i, c) = hits.firstMismatch(expected: 2 * rounds) { XCTFail("index \(i) visited \(c) times") }
    }

    func testHugeRange() {
        let pool = WorkerPool(threads: 4)
        let n = 1_000_000
        checkCoverage(pool, 0..<n, grain: 1)
        checkCoverage(pool, 0..<n, grain: 4096)
        checkCoverage(pool, 3..<(n + 3), grain: 999_999)
        // The check above is only meaningful if other lanes took part: repeat
        // (bounded) until a worker has stolen at least once.
        var attempts = 0
        while pool.core.stolenTickets.load(ordering: .relaxed) == 0 && attempts < 50 {
            checkCoverage(pool, 0..<n, grain: 1)
            attempts += 1
        }
        XCTAssertGreaterThan(pool.core.stolenTickets.load(ordering: .relaxed), 0, "no ticket was ever stolen")
    }

    /// The caller runs out of chunks while a helper still runs a long one: it
    /// must sleep (not spin) and be woken by that helper's last decrement.
    func testOwnerSleepsUntilHelperFinishes() {
        let pool = WorkerPool(threads: 2)
        let caller = pthread_self()
        var attempts = 0
        repeat {
            attempts += 1
            let helped = ManagedAtomic<Bool>(false)
            let hits = Counters(2)
            pool.parallelFor(0..<2) { r in
                for i in r { hits.add(i) }
                if pthread_equal(pthread_self(), caller) == 0 {
                    helped.store(true, ordering: .relaxed)
                    usleep(100_000) // long helper chunk
                } else {
                    usleep(10_000)
                }
            }
            XCTAssertNil(hits.firstMismatch())
            if helped.load(ordering: .relaxed) && pool.core.ownerSleeps.load(ordering: .relaxed) > 0 { break }
        } while attempts < 20
        XCTAssertGreaterThan(pool.core.ownerSleeps.load(ordering: .relaxed), 0, "caller never slept waiting for a helper")
    }

    func testManyConcurrentLoopsFromSeveralThreads() {
        let pool = WorkerPool(threads: 4)
        let rounds = 300
        for threadCount in [4, 8] {
            let n = 5_003
            let hits = Counters(threadCount * n)
            let box = UncheckedBox(pool)
            onThreads(threadCount) { t in
                for r in 0..<rounds {
                    box.value.parallelFor(0..<n, grain: 1 + r % 5) { chunk in
                        for i in chunk { hits.add(t * n + i) }
                    }
                }
            }
            if let (i, c) = hits.firstMismatch(expected: rounds) {
                XCTFail("\(threadCount) threads: index \(i % n) of thread \(i / n) visited \(c) times, want \(rounds)")
            }
        }
        XCTAssertGreaterThan(pool.core.stolenTickets.load(ordering: .relaxed), 0, "no ticket was ever stolen")
    }

    /// More simultaneous callers than external lanes: the overflow callers run
    /// their loops serially, still exactly once.
    func testMoreCallersThanExternalLanes() {
        let pool = WorkerPool(threads: 2)
        let callers = Tuning.externalLanes + 6
        let n = 2_000
        let hits = Counters(callers * n)
        let box = UncheckedBox(pool)
        let start = ManagedAtomic<Int>(0)
        onThreads(callers) { t in
            start.wrappingIncrement(ordering: .relaxed)
            while start.load(ordering: .relaxed) < callers { sched_yield() }
            for _ in 0..<20 {
                box.value.parallelFor(0..<n) { chunk in
                    for i in chunk { hits.add(t * n + i) }
                }
            }
        }
        if let (i, c) = hits.firstMismatch(expected: 20) {
            XCTFail("index \(i % n) of caller \(i / n) visited \(c) times")
        }
    }

    func testNestedThreeLevels() {
        for threads in [1, 2, 4] {
            let pool = WorkerPool(threads: threads)
            let (a, b, c) = (9, 7, 33)
            let hits = Counters(a * b * c)
            pool.parallelFor(0..<a) { ra in
                for i in ra {
                    pool.parallelFor(0..<b) { rb in
                        for j in rb {
                            pool.parallelFor(0..<c, grain: 2) { rc in
                                for k in rc { hits.add((i * b + j) * c + k) }
                            }
                        }
                    }
                }
            }
            if let (i, n) = hits.firstMismatch() { XCTFail("threads \(threads): cell \(i) visited \(n) times") }
        }
    }

    /// Nested loops started from several external threads at once.
    func testNestedLoopsFromConcurrentCallers() {
        let pool = WorkerPool(threads: 3)
        let callers = 4, (a, b) = (13, 101)
        let hits = Counters(callers * a * b)
        let box = UncheckedBox(pool)
        onThreads(callers) { t in
            for _ in 0..<20 {
                box.value.parallelFor(0..<a) { ra in
                    for i in ra {
                        box.value.parallelFor(0..<b, grain: 3) { rb in
                            for j in rb { hits.add((t * a + i) * b + j) }
                        }
                    }
                }
            }
        }
        if let (i, n) = hits.firstMismatch(expected: 20) { XCTFail("cell \(i) visited \(n) times") }
    }

    /// Deques of 2 slots: nested and concurrent loops overflow them all the
    /// time; the caller keeps the shares it could not push, and every index is
    /// still visited exactly once.
    func testDequeOverflowKeepsWorkLocal() {
        let pool = WorkerPool(threads: 4, cpus: nil, dequeCapacity: 2)
        let callers = 3, (a, b, c) = (6, 5, 40)
        let hits = Counters(callers * a * b * c)
        let box = UncheckedBox(pool)
        onThreads(callers) { t in
            box.value.parallelFor(0..<a) { ra in
                for i in ra {
                    box.value.parallelFor(0..<b) { rb in
                        for j in rb {
                            box.value.parallelFor(0..<c) { rc in
                                for k in rc { hits.add(((t * a + i) * b + j) * c + k) }
                            }
                        }
                    }
                }
            }
        }
        if let (i, n) = hits.firstMismatch() { XCTFail("cell \(i) visited \(n) times") }
        XCTAssertGreaterThan(pool.core.overflowedTickets.load(ordering: .relaxed), 0, "overflow path never taken")
    }

    /// A loop of one pool inside a loop of another (each has its own lanes).
    func testLoopsAcrossTwoPools() {
        let outer = WorkerPool(threads: 2), inner = WorkerPool(threads: 3)
        let hits = Counters(50 * 40)
        outer.parallelFor(0..<50) { r in
            for i in r {
                inner.parallelFor(0..<40) { rj in
                    for j in rj { hits.add(i * 40 + j) }
                }
            }
        }
        if let (i, n) = hits.firstMismatch() { XCTFail("cell \(i) visited \(n) times") }
    }

    /// Writes made inside chunks are visible to the caller once parallelFor
    /// returns (plain, non-atomic memory: TSan checks the happens-before).
    func testPlainWritesVisibleAfterReturn() {
        let pool = WorkerPool(threads: 4)
        let n = 100_000
        let out = UnsafeMutableBufferPointer<Int32>.allocate(capacity: n)
        defer { out.deallocate() }
        for round in 0..<20 {
            pool.parallelFor(0..<n, grain: 256) { chunk in
                for i in chunk { out[i] = Int32(truncatingIfNeeded: i &* 31 &+ round) }
            }
            var bad = 0
            for i in 0..<n where out[i] != Int32(truncatingIfNeeded: i &* 31 &+ round) { bad += 1 }
            XCTAssertEqual(bad, 0, "round \(round)")
        }
    }

    /// The same reduction gives bit-identical results with 1, 2, 3 and 4 lanes:
    /// partial sums go to fixed blocks, combined in a fixed order.
    func testReductionIdenticalAcrossThreadCounts() {
        let n = 300_000, block = 1_024
        let blocks = (n + block - 1) / block
        func reduce(threads: Int) -> (Double, Int) {
            let pool = WorkerPool(threads: threads)
            let partial = UnsafeMutableBufferPointer<Double>.allocate(capacity: blocks)
            defer { partial.deallocate() }
            let exact = ManagedAtomic<Int>(0)
            pool.parallelFor(0..<blocks) { range in
                for b in range {
                    var s = 0.0, e = 0
                    for i in (b * block)..<Swift.min(n, (b + 1) * block) {
                        s += 1.0 / Double(i + 1) * (i % 2 == 0 ? 1 : -1)
                        e &+= i &* i % 1_000_003
                    }
                    partial[b] = s
                    exact.wrappingIncrement(by: e, ordering: .relaxed)
                }
            }
            return (partial.reduce(0, +), exact.load(ordering: .relaxed))
        }
        let reference = reduce(threads: 1)
        for threads in 2...4 {
            let r = reduce(threads: threads)
            XCTAssertEqual(r.0.bitPattern, reference.0.bitPattern, "float reduction differs with \(threads) threads")
            XCTAssertEqual(r.1, reference.1, "integer reduction differs with \(threads) threads")
        }
    }

    func testSingleThreadPoolRunsInlineAsOneCall() {
        let pool = WorkerPool(threads: 1)
        XCTAssertEqual(pool.threadCount, 1)
        var ranges: [Range<Int>] = []
        let caller = pthread_self()
        var sameThread = true
        pool.parallelFor(5..<1005, grain: 10) { r in
            ranges.append(r)
            if pthread_equal(pthread_self(), caller) == 0 { sameThread = false }
        }
        XCTAssertEqual(ranges, [5..<1005])
        XCTAssertTrue(sameThread)
    }

    func testWorkIsSpreadOverLanes() {
        // Not a timing check: with chunks that block briefly, more than one
        // thread must take part (retried: a loaded machine may be slow to wake one).
        let pool = WorkerPool(threads: 4)
        var attempts = 0, threadsSeen = 0
        repeat {
            attempts += 1
            let lock = NSLock()
            var seen = Set<pthread_t>()
            pool.parallelFor(0..<64) { _ in
                usleep(2_000)
                lock.lock(); seen.insert(pthread_self()); lock.unlock()
            }
            threadsSeen = seen.count
        } while threadsSeen < 2 && attempts < 10
        XCTAssertGreaterThan(threadsSeen, 1)
    }
}
