#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A per-core work-stealing thread pool for data-parallel loops (`parallelFor`)
/// and whole jobs (`submit`).
///
/// Lanes: `threads: N` gives N lanes of execution: N − 1 background worker
/// threads plus the thread that calls `parallelFor`, which always runs chunks
/// itself. `threads: 1` starts no thread at all and runs everything inline on
/// the caller with no scheduling overhead.
///
/// Pinning: worker `w` is pinned to `cpus[(w + 1) % cpus.count]`, leaving
/// `cpus[0]` to the calling thread, which the pool does not pin unless it asks
/// (`pinCallingThread`). Failure to pin is not fatal; `pinned` reports it.
///
/// Safe to use from many threads at once (one loop per camera frame, say), and
/// a loop body may itself call `parallelFor` (nested loops do not deadlock:
/// a waiting thread runs other work).
public final class WorkerPool: @unchecked Sendable {
    let core: PoolCore

    /// The CPU set the workers are pinned over.
    public let cpus: [Int]
    /// True when every background worker was pinned to its CPU (vacuously true
    /// with `threads: 1`).
    public let pinned: Bool

    /// Lanes of execution: background workers + the calling thread.
    public var threadCount: Int { core.threadCount }
    /// Times a worker has gone to sleep since the pool started (each costs a wake-up later).
    public var workerParks: Int { core.workerParks.load(ordering: .relaxed) }

    /// The CPU no worker is pinned to, left to the threads that call `parallelFor`: `cpus[0]`,
    /// unless there are as many workers as CPUs (or none at all).
    public var callerCPU: Int? {
        pins && core.workerCount > 0 && core.workerCount < cpus.count ? cpus[0] : nil
    }

    /// Whether this pool pins its workers (and `pinCallingThread` pins the caller).
    public let pins: Bool

    /// Pins the calling thread to `callerCPU`. For a thread that runs frames on this pool
    /// now and then (one camera's inference thread): left unpinned, after an idle gap the
    /// kernel may wake it on a worker's CPU, where that pinned worker then cannot run until
    /// it yields (on a 2-core VM, `effctl bench --threads 2 --gap-ms 33` took 4.4–4.8 ms
    /// p50 unpinned, 3.0–3.8 ms pinned). Returns false (and changes nothing) when there is
    /// no such CPU or the kernel refuses.
    @discardableResult
    public func pinCallingThread() -> Bool {
        guard let cpu = callerCPU else { return false }
        return Affinity.pin(pthread_self(), to: cpu)
    }

    /// - Parameters:
    ///   - threads: lanes including the caller (default: one per CPU in `cpus`).
    ///   - cpus: CPUs to pin workers to (default: this process's affinity set,
    ///     i.e. every online core it may use).
    ///   - pin: false leaves every thread to the kernel's scheduler. On a host whose CPUs other
    ///     processes keep busy (a shared VM), a pinned lane cannot move off a busy CPU and every
    ///     step waits for it: on a 2-vCPU VM under a load average of 10–14, Lite0 at 2 threads took
    ///     14–17 ms p50 pinned and 8.0–8.8 ms unpinned (`effctl bench --threads 2 [--no-pin]`).
    public convenience init(threads: Int? = nil, cpus: [Int]? = nil, pin: Bool = true) {
        self.init(threads: threads, cpus: cpus, dequeCapacity: Tuning.dequeCapacity, pin: pin)
    }

    /// Tests use a tiny `dequeCapacity` to force the overflow path.
    init(threads: Int?, cpus: [Int]?, dequeCapacity: Int, pin: Bool = true) {
        let set = (cpus?.isEmpty == false) ? cpus! : Affinity.allowedCPUs()
        let lanes = threads ?? set.count
        precondition(lanes >= 1, "WorkerPool needs at least one thread")
        self.cpus = set
        pins = pin
        core = PoolCore(workerCount: lanes - 1, dequeCapacity: dequeCapacity)
        core.start(cpus: pin ? set : [])
        pinned = pin && core.pinnedAll
    }

    deinit {
        core.shutdown()
    }

    /// Runs `body` over `range` cut into contiguous chunks of at least `grain`
    /// indices (except when the whole range is smaller than `grain`), on all
    /// lanes, and returns when every chunk has run. Each index is in exactly one
    /// chunk. Nothing is allocated per chunk or per task: the job descriptor
    /// lives on this call's stack and deque items are its address. The one
    /// heap allocation per call is the small box Swift itself makes for
    /// `withoutActuallyEscaping` (none when the loop runs inline: `threads: 1`
    /// or a range shorter than `2 × grain`).
    public func parallelFor(_ range: Range<Int>, grain: Int = 1, _ body: (Range<Int>) -> Void) {
        core.parallelFor(range, grain: grain, body)
    }

    /// `parallelFor` for a body made once and reused (e.g. one per operator of a model):
    /// an escaping closure needs no `withoutActuallyEscaping` box, so a call allocates
    /// nothing.
    public func parallelFor(_ range: Range<Int>, grain: Int = 1, reusing body: @escaping (Range<Int>) -> Void) {
        core.parallelFor(range, grain: grain, escaping: body)
    }

    /// Queues a whole job (e.g. a frame). Allocates one handle per job.
    /// With `threads: 1`, or after `shutdown()`, the job runs inline before
    /// `submit` returns.
    @discardableResult
    public func submit(_ job: @escaping @Sendable () -> Void) -> JobHandle {
        let handle = JobHandle(job, monitor: core.completion, queue: core.injector)
        if core.workerCount == 0 || !core.injector.push(handle) {
            handle.tryRun()
        } else {
            core.idle.notify(1)
        }
        return handle
    }

    /// Runs `body` with idle workers kept spinning rather than parked (a burst of
    /// back-to-back `parallelFor`s, such as one inference). Nests and may be used
    /// from several threads; workers go back to parking once every caller left.
    /// Parked workers are woken on entry, so their wake-up (tens of microseconds on
    /// some machines) overlaps the caller's own start instead of delaying the first loop.
    public func keepingAwake<R>(_ body: () throws -> R) rethrows -> R {
        core.awake.wrappingIncrement(ordering: .relaxed)
        core.idle.notifyAll()
        defer { core.awake.wrappingDecrement(ordering: .relaxed) }
        return try body()
    }

    /// Names the calling thread as the kernel sees it (top -H, gdb, /proc/…/comm), cut to
    /// 15 bytes; the pool names its own workers "effsched-N" the same way.
    public static func nameCurrentThread(_ name: String) {
        Affinity.name(pthread_self(), name)
    }

    /// Finishes every job submitted so far, then stops and joins the workers.
    /// Idempotent; also called by deinit. Loops still in flight complete on
    /// their calling threads; later calls run inline on the caller.
    public func shutdown() {
        core.shutdown()
    }
}
