import Atomics
@testable import EffScheduler
import Foundation
import XCTest

final class PoolTests: XCTestCase {
    func testDefaultsToAffinitySet() {
        let pool = WorkerPool()
        XCTAssertFalse(pool.cpus.isEmpty)
        XCTAssertEqual(pool.threadCount, pool.cpus.count)
        XCTAssertEqual(pool.core.workerCount, pool.cpus.count - 1)
        XCTAssertEqual(pool.cpus, pool.cpus.sorted())
    }

    func testPinningToAnAllowedCPU() throws {
        let allowed = WorkerPool(threads: 1).cpus
        let pool = WorkerPool(threads: 3, cpus: [allowed.last!])
        XCTAssertTrue(pool.pinned, "pinning to an allowed CPU failed")
        XCTAssertEqual(pool.threadCount, 3)
    }

    func testPinningFailureIsNotFatal() {
        let pool = WorkerPool(threads: 3, cpus: [100_000]) // no such CPU
        XCTAssertFalse(pool.pinned)
        let hits = Counters(1_000)
        pool.parallelFor(0..<1_000) { r in for i in r { hits.add(i) } }
        XCTAssertNil(hits.firstMismatch())
    }

    func testCallerCPUIsTheOneNoWorkerHas() {
        XCTAssertEqual(WorkerPool(threads: 2, cpus: [5, 7, 9]).callerCPU, 5)
        XCTAssertEqual(WorkerPool(threads: 3, cpus: [5, 7, 9]).callerCPU, 5)
        XCTAssertNil(WorkerPool(threads: 4, cpus: [5, 7, 9]).callerCPU, "a worker is on every CPU")
        XCTAssertNil(WorkerPool(threads: 1, cpus: [5, 7, 9]).callerCPU, "no workers: the caller runs everything")
    }

    /// The calling thread ends up allowed on exactly the caller CPU, read back from the
    /// kernel (sched_getaffinity of that thread).
    func testPinCallingThreadPinsToTheCallerCPU() throws {
        let allowed = Affinity.allowedCPUs()
        guard allowed.count >= 2 else { throw XCTSkip("needs 2 CPUs, this process may use \(allowed)") }
        let pool = WorkerPool(threads: 2, cpus: [allowed[1], allowed[0]])
        var pinned = false, after: [Int] = []
        let done = DispatchSemaphore(value: 0)
        Thread {
            pinned = pool.pinCallingThread()
            after = Affinity.allowedCPUs()
            done.signal()
        }.start()
        XCTAssertEqual(done.wait(timeout: .now() + 10), .success)
        XCTAssertTrue(pinned)
        XCTAssertEqual(after, [allowed[1]])
        XCTAssertEqual(Affinity.allowedCPUs(), allowed, "only the calling thread is pinned")
        XCTAssertFalse(WorkerPool(threads: 1).pinCallingThread())
    }

    /// The CPUs a worker thread may run on, read back from the kernel inside a job that a
    /// worker (not this thread) ran.
    private func workerAffinity(_ pool: WorkerPool) -> [Int]? {
        let caller = pthread_self()
        for _ in 0..<200 {
            let box = LockedBox()
            let job = pool.submit {
                if pthread_equal(pthread_self(), caller) == 0 { box.set(Affinity.allowedCPUs()) }
            }
            usleep(2_000)
            job.wait()
            if let cpus = box.get() { return cpus }
        }
        return nil
    }

    final class LockedBox: @unchecked Sendable {
        private let lock = NSLock()
        private var value: [Int]?
        func set(_ v: [Int]) { lock.withLock { value = v } }
        func get() -> [Int]? { lock.withLock { value } }
    }

    /// pin: false leaves the workers (and the caller) to the kernel: a worker may run on every
    /// allowed CPU, where a pinned pool's worker may run on one.
    func testUnpinnedPoolLeavesThreadsToTheKernel() throws {
        let allowed = Affinity.allowedCPUs()
        guard allowed.count >= 2 else { throw XCTSkip("needs 2 CPUs, this process may use \(allowed)") }
        let pinnedPool = WorkerPool(threads: 2, cpus: [allowed[0], allowed[1]])
        XCTAssertEqual(workerAffinity(pinnedPool), [allowed[1]])
        let pool = WorkerPool(threads: 2, cpus: [allowed[0], allowed[1]], pin: false)
        XCTAssertFalse(pool.pins)
        XCTAssertFalse(pool.pinned)
        XCTAssertNil(pool.callerCPU)
        XCTAssertFalse(pool.pinCallingThread())
        XCTAssertEqual(workerAffinity(pool), allowed)
        let hits = Counters(10_000)
        pool.parallelFor(0..<10_000) { r in for i in r { hits.add(i) } }
        XCTAssertNil(hits.firstMismatch())
    }

    func testSingleThreadPoolStartsNoThreadsAndIsPinnedTrivially() {
        let pool = WorkerPool(threads: 1)
        XCTAssertEqual(pool.core.workerCount, 0)
        XCTAssertTrue(pool.pinned)
    }

    /// An idle pool sleeps: after ~200 ms without work, the whole process uses
    /// < 5% of one core over the next 500 ms. (Behavioural, not a benchmark: a
    /// worker that never parks burns ~100% and fails by a wide margin.)
    func testIdlePoolUsesNoCPU() {
        let pool = WorkerPool(threads: 4)
        let hits = Counters(100_000)
        for _ in 0..<20 {
            pool.parallelFor(0..<100_000, grain: 64) { r in for i in r { hits.add(i) } }
        }
        pool.submit { usleep(1_000) }.wait()
        usleep(200_000)
        var best = Double.infinity
        for _ in 0..<3 { // a second look only to ride out an unrelated hiccup
            let t0 = processCPUSeconds()
            let w0 = DispatchTime.now().uptimeNanoseconds
            usleep(500_000)
            let cpu = processCPUSeconds() - t0
            let wall = Double(DispatchTime.now().uptimeNanoseconds - w0) / 1e9
            best = min(best, cpu / wall)
            if best < 0.05 { break }
        }
        XCTAssertLessThan(best, 0.05, "idle pool used \(Int(best * 100))% of a core")
        withExtendedLifetime(pool) {}
    }

    /// Inside `keepingAwake` idle workers spin instead of sleeping (so the next loop of a
    /// burst finds them awake); once every caller has left, they sleep again.
    func testKeepingAwakeHoldsWorkersAwakeThenLetsThemSleep() {
        let pool = WorkerPool(threads: 3)
        pool.keepingAwake {
            pool.keepingAwake {  // nests
                pool.parallelFor(0..<64) { _ in usleep(500) }  // wakes every worker
            }
            let parks = pool.core.workerParks.load(ordering: .relaxed)
            usleep(50_000)  // idle for far longer than the ~0.1 ms after which workers park
            XCTAssertEqual(pool.core.idle.sleeperCount, 0, "a worker slept inside keepingAwake")
            XCTAssertEqual(pool.core.workerParks.load(ordering: .relaxed), parks)
        }
        let deadline = Date().addingTimeInterval(5)
        while pool.core.idle.sleeperCount < 2 && Date() < deadline { usleep(1_000) }
        XCTAssertEqual(pool.core.idle.sleeperCount, 2, "workers sleep again after keepingAwake")
    }

    /// `keepingAwake` wakes parked workers as it starts, with no loop pushed yet: the first
    /// loop of a burst (one inference) then finds them awake instead of waiting for a wake-up.
    func testKeepingAwakeWakesParkedWorkers() {
        let pool = WorkerPool(threads: 3)
        let parked = Date().addingTimeInterval(5)
        while pool.core.idle.sleeperCount < 2 && Date() < parked { usleep(1_000) }
        XCTAssertEqual(pool.core.idle.sleeperCount, 2, "workers never parked")
        pool.keepingAwake {
            let woken = Date().addingTimeInterval(5)
            while pool.core.idle.sleeperCount > 0 && Date() < woken { usleep(1_000) }
            XCTAssertEqual(pool.core.idle.sleeperCount, 0, "keepingAwake left workers parked")
        }
    }

    /// An idle pool wakes up for new work after sleeping.
    func testWakesAfterSleeping() {
        let pool = WorkerPool(threads: 3)
        let caller = pthread_self()
        var attempts = 0, helped = 0
        repeat {
            attempts += 1
            // Let the workers park (bounded wait; they normally do within ~0.1 ms).
            let deadline = Date().addingTimeInterval(2)
            while pool.core.idle.sleeperCount < 2 && Date() < deadline { usleep(1_000) }
            XCTAssertGreaterThan(pool.core.idle.sleeperCount, 0, "workers never went to sleep")
            let others = ManagedAtomic<Int>(0)
            pool.parallelFor(0..<32) { _ in
                if pthread_equal(pthread_self(), caller) == 0 { others.wrappingIncrement(ordering: .relaxed) }
                usleep(3_000)
            }
            helped = others.load(ordering: .relaxed)
        } while helped == 0 && attempts < 10
        XCTAssertGreaterThan(helped, 0, "no parked worker woke up to help")
        let h = pool.submit {}
        h.wait()
        XCTAssertTrue(h.isDone)
    }
}
