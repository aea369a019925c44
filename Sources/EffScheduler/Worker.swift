#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// What a new worker thread receives (retained across `pthread_create`).
private final class WorkerStart {
    let core: PoolCore
    let lane: Lane
    init(core: PoolCore, lane: Lane) {
        self.core = core
        self.lane = lane
    }
}

extension PoolCore {
    func spawnWorker(lane: Lane) -> pthread_t {
        let context = Unmanaged.passRetained(WorkerStart(core: self, lane: lane)).toOpaque()
        var attr = pthread_attr_t()
        pthread_attr_init(&attr)
        pthread_attr_setstacksize(&attr, Tuning.workerStackBytes)
        defer { pthread_attr_destroy(&attr) }
        #if canImport(Darwin)
        var thread: pthread_t?
        let rc = pthread_create(&thread, &attr, { raw in
            Unmanaged<WorkerStart>.fromOpaque(raw).takeRetainedValue().run()
            return nil
        }, context)
        precondition(rc == 0, "pthread_create failed: \(rc)")
        return thread!
        #else
        var thread = pthread_t()
        let rc = pthread_create(&thread, &attr, { raw in
            Unmanaged<WorkerStart>.fromOpaque(raw!).takeRetainedValue().run()
            return nil
        }, context)
        precondition(rc == 0, "pthread_create failed: \(rc)")
        return thread
        #endif
    }
}

extension WorkerStart {
    /// The worker loop: steal loop tickets first (frames already in flight),
    /// then start submitted jobs; spin, then yield, then sleep when there is
    /// nothing. Exits once shutdown has closed and drained the submit queue.
    func run() {
        CurrentLane.set(lane)
        defer { CurrentLane.set(nil) }
        let core = self.core
        let lane = self.lane
        var backoff = IdleBackoff()
        while true {
            if let ticket = core.stealSweep(lane) {
                core.runTicket(ticket)
                backoff.reset()
                continue
            }
            if let job = core.injector.pop() {
                job.tryRun()
                backoff.reset()
                continue
            }
            if core.injector.isDrained { return }
            switch backoff.next(keptAwake: core.awake.load(ordering: .relaxed) > 0) {
            case .spin: continue
            case .yield: sched_yield(); continue
            case .park: break
            }
            // Announce, look once more, then sleep unless the epoch moved.
            let token = core.idle.prepare()
            if let ticket = core.stealSweep(lane) {
                core.idle.cancel()
                core.runTicket(ticket)
                backoff.reset()
                continue
            }
            if core.injector.hasWork || core.injector.isClosed {
                core.idle.cancel()
                continue
            }
            core.workerParks.wrappingIncrement(ordering: .relaxed)
            core.idle.park(token)
            backoff.reset()
        }
    }
}

/// What an idle worker does next: spin a while, then yield a while, then park. While some
/// caller is in `keepingAwake` (a frame in flight: its next loop comes within microseconds,
/// and a futex wake would cost tens of them) it spins on, yielding now and then so a busy
/// core is shared; when that ends it starts the spin-then-yield again before parking, since
/// the next burst often follows at once (frames back to back, several cameras).
struct IdleBackoff {
    enum Action: Equatable { case spin, yield, park }

    private var rounds = 0
    private var keptAwake = false

    /// Work was found (or the worker woke up): start over.
    mutating func reset() {
        rounds = 0
        keptAwake = false
    }

    /// One more idle round; `keptAwake`: some caller is inside `keepingAwake` now.
    mutating func next(keptAwake awake: Bool) -> Action {
        rounds += 1
        if rounds <= Tuning.spinRounds { return .spin }
        if awake {
            keptAwake = true
            return rounds % 64 == 0 ? .yield : .spin
        }
        if keptAwake { // the burst just ended
            keptAwake = false
            rounds = 1
            return .spin
        }
        return rounds <= Tuning.spinRounds + Tuning.yieldRounds ? .yield : .park
    }
}
