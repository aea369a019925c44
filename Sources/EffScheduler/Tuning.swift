/// Fixed knobs of the scheduler, in one place.
enum Tuning {
    /// Ring size of every lane's deque (power of two). A `parallelFor` pushes at
    /// most `threadCount - 1` tickets, so this bounds nesting × width; when a
    /// push finds the ring full the caller keeps that share of work for
    /// itself (correct, just less parallel). 8 KiB per lane.
    static let dequeCapacity = 1024
    /// Lanes lent to non-worker threads calling `parallelFor` concurrently
    /// (e.g. one per camera). A caller that finds them all taken runs its
    /// loop serially rather than waiting.
    static let externalLanes = 16
    /// A loop is cut into at most `threadCount × chunksPerLane` chunks: enough
    /// slack for uneven tiles and busy cores, few enough to keep per-chunk
    /// overhead (one relaxed fetch-add) negligible.
    static let chunksPerLane = 4
    /// Idle rounds (one full steal sweep each) before yielding, then rounds of
    /// `sched_yield` before sleeping. Short: between two ops of one frame a
    /// worker is back within microseconds; an idle pool sleeps after ~0.1 ms.
    static let spinRounds = 64
    static let yieldRounds = 16
    /// Stack of each worker thread (nested parallelFor + kernels' locals).
    static let workerStackBytes = 8 << 20
}
