#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Atomics

private let poolIDs = ManagedAtomic<Int>(0)

/// Shared state of a pool. Worker threads retain this, not the public
/// `WorkerPool`, so dropping the last `WorkerPool` reference runs its deinit
/// (→ shutdown) while workers are still alive.
final class PoolCore {
    let id: Int
    /// Lanes `0..<workerCount` belong to background workers; the rest are
    /// external lanes lent to calling threads.
    let lanes: [Lane]
    let workerCount: Int
    /// Worker lanes plus the calling thread.
    var threadCount: Int { workerCount + 1 }

    /// Deques by lane index, unretained: steal sweeps touch no reference counts
    /// (a retain/release per probe would bounce the lane objects' cache lines).
    private let deques: UnsafeMutablePointer<Unmanaged<WorkStealingDeque>>

    /// Idle workers sleep here.
    let idle = Parking()
    /// Owners waiting for helpers to finish, and `JobHandle.wait()`ers, sleep here.
    let completion = Monitor()
    let injector = Injector()

    /// Event counters for tests and diagnostics (relaxed; slow paths only,
    /// plus one increment per stolen ticket).
    let stolenTickets = ManagedAtomic<Int>(0)
    let ownerSleeps = ManagedAtomic<Int>(0)
    let workerParks = ManagedAtomic<Int>(0)
    /// Callers inside `WorkerPool.keepingAwake`: while above zero, idle workers keep
    /// spinning instead of sleeping, so the next op of a frame finds them awake.
    let awake = ManagedAtomic<Int>(0)
    let overflowedTickets = ManagedAtomic<Int>(0)

    private let stopped = ManagedAtomic<Bool>(false)
    private let shutdownLock = Monitor()
    private var threads: [pthread_t] = [] // guarded by shutdownLock
    private(set) var pinnedAll = true

    init(workerCount: Int, dequeCapacity: Int = Tuning.dequeCapacity) {
        id = poolIDs.wrappingIncrementThenLoad(ordering: .relaxed)
        self.workerCount = workerCount
        let externals = workerCount > 0 ? Tuning.externalLanes : 0
        var lanes: [Lane] = []
        for i in 0..<(workerCount + externals) {
            lanes.append(Lane(index: i, capacity: dequeCapacity, poolID: id))
        }
        self.lanes = lanes
        deques = .allocate(capacity: lanes.count)
        for (i, lane) in lanes.enumerated() {
            (deques + i).initialize(to: Unmanaged.passUnretained(lane.deque))
        }
    }

    deinit {
        deques.deinitialize(count: lanes.count)
        deques.deallocate()
    }

    /// Starts the background workers; worker `w` is pinned to `cpus[(w + 1) % cpus.count]`
    /// (`cpus[0]` is left to the calling thread, which we do not pin).
    func start(cpus: [Int]) {
        shutdownLock.withLock {
            for w in 0..<workerCount {
                let thread = spawnWorker(lane: lanes[w])
                threads.append(thread)
                if !cpus.isEmpty, !Affinity.pin(thread, to: cpus[(w + 1) % cpus.count]) {
                    pinnedAll = false
                }
                Affinity.name(thread, "effsched-\(w)")
            }
        }
    }

    var isStopped: Bool { stopped.load(ordering: .acquiring) }

    /// Idempotent. Workers drain the submit queue, then exit; we join them.
    /// Called on one of this pool's own workers, that worker is detached
    /// instead of joined (a thread cannot join itself).
    func shutdown() {
        shutdownLock.lock()
        defer { shutdownLock.unlock() }
        if stopped.load(ordering: .relaxed) && threads.isEmpty { return }
        stopped.store(true, ordering: .releasing)
        injector.close()
        idle.notifyAll()
        let me = pthread_self()
        for thread in threads {
            if pthread_equal(thread, me) != 0 {
                pthread_detach(thread)
            } else {
                pthread_join(thread, nil)
            }
        }
        threads.removeAll()
    }

    // MARK: Stealing

    /// One sweep over all other lanes from a random start. Returns a ticket
    /// (an encoded `ForJob` pointer) or nil if every deque looked empty.
    @inline(__always)
    func stealSweep(_ lane: Lane) -> Int? {
        let n = lanes.count
        if n <= 1 { return nil }
        var victim = Int(truncatingIfNeeded: lane.nextRandom() % UInt64(n))
        for _ in 0..<n {
            if victim != lane.index, let ticket = steal(from: victim) {
                return ticket
            }
            victim += 1
            if victim == n { victim = 0 }
        }
        return nil
    }

    @inline(__always)
    private func steal(from victim: Int) -> Int? {
        var attempts = 0
        repeat {
            switch deques[victim]._withUnsafeGuaranteedRef({ $0.steal() }) {
            case .item(let ticket):
                stolenTickets.wrappingIncrement(ordering: .relaxed)
                return ticket
            case .empty:
                return nil
            case .retry:
                // Lost a CAS race: items may remain, so try this victim a little more.
                attempts += 1
            }
        } while attempts < 4
        return nil
    }

    // MARK: External lanes

    /// Lends a free external lane to the calling (non-worker) thread.
    func claimExternalLane() -> Lane? {
        for i in workerCount..<lanes.count where lanes[i].tryClaim() {
            return lanes[i]
        }
        return nil
    }
}
