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
        var idleRounds = 0
        while true {
            if let ticket = core.stealSweep(lane) {
                core.runTicket(ticket)
                idleRounds = 0
                continue
            }
            if let job = core.injector.pop() {
                job.tryRun()
                idleRounds = 0
                continue
            }
            if core.injector.isDrained { return }
            idleRounds += 1
            if idleRounds <= Tuning.spinRounds { continue }
            // A frame is in flight: its next op comes within microseconds; a futex wake
            // would cost tens of them. Yield now and then so a busy core is shared.
            if core.awake.load(ordering: .relaxed) > 0 {
                if idleRounds & 63 == 0 { sched_yield() }
                continue
            }
            if idleRounds <= Tuning.spinRounds + Tuning.yieldRounds {
                sched_yield()
                continue
            }
            // Announce, look once more, then sleep unless the epoch moved.
            let token = core.idle.prepare()
            if let ticket = core.stealSweep(lane) {
                core.idle.cancel()
                core.runTicket(ticket)
                idleRounds = 0
                continue
            }
            if core.injector.hasWork || core.injector.isClosed {
                core.idle.cancel()
                continue
            }
            core.workerParks.wrappingIncrement(ordering: .relaxed)
            core.idle.park(token)
            idleRounds = 0
        }
    }
}
