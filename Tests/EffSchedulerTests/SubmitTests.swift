import Atomics
@testable import EffScheduler
import Foundation
import XCTest

final class SubmitTests: XCTestCase {
    /// A waiter whose job runs on a worker runs the queued jobs itself: here job A cannot
    /// finish until job B has run, and the only worker is inside A.
    func testWaiterRunsOtherQueuedJobs() {
        let pool = WorkerPool(threads: 2)
        let aStarted = ManagedAtomic<Bool>(false), bRan = ManagedAtomic<Bool>(false)
        let a = pool.submit {
            aStarted.store(true, ordering: .releasing)
            let deadline = Date().addingTimeInterval(10)
            while !bRan.load(ordering: .acquiring), Date() < deadline { sched_yield() }
        }
        // Let the worker claim A before B is queued.
        let deadline = Date().addingTimeInterval(10)
        while !aStarted.load(ordering: .acquiring), Date() < deadline { sched_yield() }
        let b = pool.submit { bRan.store(true, ordering: .releasing) }
        a.wait()
        XCTAssertTrue(b.isDone, "the waiter should have run B while A was running on the worker")
        XCTAssertTrue(bRan.load(ordering: .acquiring))
    }

    func testSubmitAndWaitMany() {
        let pool = WorkerPool(threads: 3)
        let n = 2_000
        let done = Counters(n)
        let handles = (0..<n).map { i in pool.submit { done.add(i) } }
        for h in handles { h.wait() }
        XCTAssertTrue(handles.allSatisfy(\.isDone))
        if let (i, c) = done.firstMismatch() { XCTFail("job \(i) ran \(c) times") }
    }

    /// Whole "frames" from several cameras: each job runs parallel loops.
    func testJobsRunningParallelLoops() {
        let pool = WorkerPool(threads: 4)
        let jobs = 24, n = 10_000
        let hits = Counters(jobs * n)
        let handles = (0..<jobs).map { j in
            pool.submit {
                for _ in 0..<3 {
                    pool.parallelFor(0..<n, grain: 16) { r in for i in r { hits.add(j * n + i) } }
                }
            }
        }
        handles.forEach { $0.wait() }
        if let (i, c) = hits.firstMismatch(expected: 3) { XCTFail("index \(i) visited \(c) times") }
    }

    func testSubmitAndWaitFromManyThreads() {
        let pool = WorkerPool(threads: 2)
        let threads = 6, per = 200
        let done = Counters(threads * per)
        onThreads(threads) { t in
            for k in 0..<per {
                pool.submit { done.add(t * per + k) }.wait()
            }
        }
        if let (i, c) = done.firstMismatch() { XCTFail("job \(i) ran \(c) times") }
    }

    /// A job waiting on another job, with every worker busy doing so: wait()
    /// runs unstarted jobs itself, so this cannot deadlock.
    func testWaitInsideJobs() {
        let pool = WorkerPool(threads: 2)
        let n = 50
        let done = Counters(2 * n)
        let outer = (0..<n).map { i in
            pool.submit {
                let inner = pool.submit { done.add(n + i) }
                inner.wait()
                done.add(i)
            }
        }
        outer.forEach { $0.wait() }
        if let (i, c) = done.firstMismatch() { XCTFail("job \(i) ran \(c) times") }
    }

    func testWaitBlocksUntilRunningJobFinishes() {
        let pool = WorkerPool(threads: 2)
        let started = DispatchSemaphore(value: 0)
        let finished = ManagedAtomic<Bool>(false)
        let h = pool.submit {
            started.signal()
            usleep(50_000)
            finished.store(true, ordering: .relaxed)
        }
        started.wait() // it is running on the worker now, so wait() must block
        h.wait()
        XCTAssertTrue(finished.load(ordering: .relaxed))
        XCTAssertTrue(h.isDone)
        h.wait() // again: returns at once
    }

    func testSingleThreadPoolRunsSubmitInline() {
        let pool = WorkerPool(threads: 1)
        let ran = ManagedAtomic<Bool>(false)
        let h = pool.submit { ran.store(true, ordering: .relaxed) }
        XCTAssertTrue(ran.load(ordering: .relaxed))
        XCTAssertTrue(h.isDone)
        h.wait()
    }

    /// Shutdown while jobs are queued and running (some of them running loops,
    /// and another thread running loops too): no hang, no crash, and every job
    /// submitted before shutdown has run when it returns.
    func testShutdownWhileBusy() {
        for _ in 0..<5 {
            let pool = WorkerPool(threads: 4)
            let jobs = 200
            let done = Counters(jobs)
            let stopLoops = ManagedAtomic<Bool>(false)
            let loopsDone = DispatchSemaphore(value: 0)
            let external = Thread {
                var rounds = 0
                while !stopLoops.load(ordering: .relaxed) || rounds < 10 {
                    pool.parallelFor(0..<1_000) { r in for _ in r { _ = 0 } }
                    rounds += 1
                }
                loopsDone.signal()
            }
            external.start()
            for j in 0..<jobs {
                pool.submit {
                    pool.parallelFor(0..<64) { r in for _ in r { usleep(1) } }
                    done.add(j)
                }
            }
            pool.shutdown()
            if let (i, c) = done.firstMismatch() { XCTFail("job \(i) ran \(c) times before shutdown returned") }
            pool.shutdown() // idempotent
            // After shutdown: loops and jobs still work, inline on the caller.
            let late = ManagedAtomic<Int>(0)
            pool.submit { late.wrappingIncrement(ordering: .relaxed) }.wait()
            pool.parallelFor(0..<10) { r in late.wrappingIncrement(by: r.count, ordering: .relaxed) }
            XCTAssertEqual(late.load(ordering: .relaxed), 11)
            stopLoops.store(true, ordering: .relaxed)
            loopsDone.wait()
        }
    }

    /// Dropping the last reference shuts the pool down (deinit) after finishing
    /// queued work.
    func testDeinitFinishesQueuedWork() {
        let done = Counters(100)
        do {
            let pool = WorkerPool(threads: 3)
            for i in 0..<100 { pool.submit { usleep(100); done.add(i) } }
        }
        if let (i, c) = done.firstMismatch() { XCTFail("job \(i) ran \(c) times") }
    }

    /// The last reference released on a worker (the job's closure held it):
    /// deinit runs there, must not join that thread itself, and must not hang.
    func testLastReferenceDroppedOnWorker() {
        weak var weakPool: WorkerPool?
        let gate = DispatchSemaphore(value: 0)
        let ran = DispatchSemaphore(value: 0)
        do {
            let pool = WorkerPool(threads: 2)
            weakPool = pool
            pool.submit {
                gate.wait()
                withExtendedLifetime(pool) {}
                ran.signal()
            }
        }
        gate.signal()
        XCTAssertEqual(ran.wait(timeout: .now() + 10), .success)
        let deadline = Date().addingTimeInterval(10)
        while weakPool != nil && Date() < deadline { usleep(1_000) }
        XCTAssertNil(weakPool, "pool never released")
    }
}
