import Atomics

/// A whole job given to `WorkerPool.submit` (e.g. one camera frame), and the
/// way to wait for it.
///
/// `wait()` never blocks on a job that has not started: it claims it and runs
/// it on the waiting thread instead. So waiting from inside the pool, or on a
/// pool whose workers are all busy, cannot deadlock. While its job runs
/// elsewhere, the waiter runs other queued jobs rather than idling, so a
/// thread that submits several frames and waits is a full lane.
public final class JobHandle: @unchecked Sendable {
    private static let claimed = 1, done = 2, waiting = 4

    /// Written at init, taken once by the claimer (the claim CAS hands it over).
    private var work: (@Sendable () -> Void)?
    private let state = ManagedAtomic<Int>(0)
    private let monitor: Monitor
    private unowned let queue: Injector

    init(_ work: @escaping @Sendable () -> Void, monitor: Monitor, queue: Injector) {
        self.work = work
        self.monitor = monitor
        self.queue = queue
    }

    /// Whether the job has finished (acquire: its effects are then visible).
    public var isDone: Bool { state.load(ordering: .acquiring) & Self.done != 0 }

    /// Returns once the job has run. If no worker has started it yet, runs it
    /// on the calling thread.
    public func wait() {
        if isDone || tryRun() { return }
        // Our job runs elsewhere: help with the queue meanwhile.
        while !isDone, let other = queue.pop() { other.tryRun() }
        let old = state.loadThenBitwiseOr(with: Self.waiting, ordering: .acquiringAndReleasing)
        if old & Self.done != 0 { return }
        // The finisher sets `done` before it takes the monitor's lock to
        // broadcast, and we test `done` under that lock: no lost wake-up.
        monitor.wait { state.load(ordering: .acquiring) & Self.done != 0 }
    }

    /// Runs the job here unless someone already claimed it.
    @discardableResult
    func tryRun() -> Bool {
        var current = state.load(ordering: .relaxed)
        while current & Self.claimed == 0 {
            let (exchanged, original) = state.compareExchange(
                expected: current, desired: current | Self.claimed, ordering: .acquiring)
            if exchanged {
                let job = work.unsafelyUnwrapped
                work = nil // drop the captures as soon as it has run
                job()
                // Release: the job's effects before `done`; acquire: see `waiting`.
                let old = state.loadThenBitwiseOr(with: Self.done, ordering: .acquiringAndReleasing)
                if old & Self.waiting != 0 { monitor.broadcast() }
                return true
            }
            current = original
        }
        return false
    }
}

/// FIFO of submitted jobs. A mutex is fine here: one push/pop per frame.
final class Injector {
    private let lock = Monitor()
    private var queue: [JobHandle] = [] // guarded by lock
    private var head = 0 // guarded by lock
    /// Mirrors of the guarded state, for lock-free peeks from idle workers.
    private let pending = ManagedAtomic<Int>(0)
    private let closed = ManagedAtomic<Bool>(false)

    /// False once `close()` has run: the job was not queued.
    func push(_ job: JobHandle) -> Bool {
        lock.lock()
        defer { lock.unlock() }
        if closed.load(ordering: .relaxed) { return false }
        queue.append(job)
        pending.wrappingIncrement(ordering: .releasing)
        return true
    }

    func pop() -> JobHandle? {
        if pending.load(ordering: .relaxed) == 0 { return nil } // hint; pusher notifies after pushing
        lock.lock()
        defer { lock.unlock() }
        guard head < queue.count else { return nil }
        let job = queue[head]
        head += 1
        if head == queue.count {
            queue.removeAll(keepingCapacity: true)
            head = 0
        } else if head >= 64, head * 2 >= queue.count {
            queue.removeFirst(head)
            head = 0
        }
        pending.wrappingDecrement(ordering: .relaxed)
        return job
    }

    var hasWork: Bool { pending.load(ordering: .acquiring) != 0 }

    func close() {
        lock.withLock { closed.store(true, ordering: .releasing) }
    }

    var isClosed: Bool { closed.load(ordering: .acquiring) }

    /// Closed and empty: nothing will ever be queued again. (Reading `closed`
    /// first: it was set under the lock after every successful push.)
    var isDrained: Bool {
        closed.load(ordering: .acquiring) && pending.load(ordering: .acquiring) == 0
    }
}
