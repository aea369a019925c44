#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Atomics

/// Descriptor of one `parallelFor` call. It lives in the caller's stack frame
/// for the whole call; deque items ("tickets") are just its address.
///
/// A ticket does not name a chunk: whoever holds one claims chunks from
/// `next` (one relaxed fetch-add each, so every chunk runs exactly once) until
/// none are left. So one steal buys a helper as many chunks as it can run,
/// and the deques carry at most `threadCount - 1` items per call however
/// large the range is.
///
/// Lifetime: `refs` counts tickets not yet finished with (still queued, or
/// held by a helper). The owner returns only when `refs` is 0; a helper's
/// decrement is its last access to the descriptor.
struct ForJob {
    var next: UnsafeAtomic<Int>.Storage
    var refs: UnsafeAtomic<Int>.Storage
    let lower: Int
    let quotient: Int
    let remainder: Int
    let chunks: Int
    let body: (Range<Int>) -> Void

    /// Set in `refs` by an owner about to sleep: the helper that brings the
    /// count to zero must wake it.
    static let sleeping = 1 << 62

    private static let nextOffset = MemoryLayout<ForJob>.offset(of: \ForJob.next)!
    private static let refsOffset = MemoryLayout<ForJob>.offset(of: \ForJob.refs)!

    @inline(__always)
    static func next(_ job: UnsafeMutablePointer<ForJob>) -> UnsafeAtomic<Int> {
        UnsafeAtomic(at: (UnsafeMutableRawPointer(job) + nextOffset).assumingMemoryBound(to: UnsafeAtomic<Int>.Storage.self))
    }

    @inline(__always)
    static func refs(_ job: UnsafeMutablePointer<ForJob>) -> UnsafeAtomic<Int> {
        UnsafeAtomic(at: (UnsafeMutableRawPointer(job) + refsOffset).assumingMemoryBound(to: UnsafeAtomic<Int>.Storage.self))
    }

    /// Chunk `i` of `chunks` near-equal chunks (sizes differ by at most one).
    @inline(__always)
    func chunk(_ i: Int) -> Range<Int> {
        let start = lower + i * quotient + Swift.min(i, remainder)
        return start..<(start + quotient + (i < remainder ? 1 : 0))
    }

    /// Claims and runs chunks until none are left.
    /// Not inlined on purpose: every copy of `body` this makes (a retain of the
    /// closure context) is released before it returns, so before the caller's
    /// `refs` decrement, and `withoutActuallyEscaping` in the owner never sees
    /// an escaped closure.
    @inline(never)
    static func runChunks(_ job: UnsafeMutablePointer<ForJob>) {
        let next = ForJob.next(job)
        let count = job.pointee.chunks
        let body = job.pointee.body
        while true {
            // Relaxed: atomicity alone makes each claim unique; the chunks'
            // results are published by the refs decrement / owner's return.
            let i = next.loadThenWrappingIncrement(ordering: .relaxed)
            if i >= count { return }
            body(job.pointee.chunk(i))
        }
    }
}

extension PoolCore {
    func parallelFor(_ range: Range<Int>, grain: Int, _ body: (Range<Int>) -> Void) {
        // Inline cases first, so they do not pay for withoutActuallyEscaping's box.
        if range.count / Swift.max(1, grain) <= 1 || workerCount == 0 || isStopped {
            if !range.isEmpty { body(range) }
            return
        }
        withoutActuallyEscaping(body) { parallelFor(range, grain: grain, escaping: $0) }
    }

    func parallelFor(_ range: Range<Int>, grain: Int, escaping body: @escaping (Range<Int>) -> Void) {
        let n = range.count
        if n == 0 { return }
        let maxChunks = n / Swift.max(1, grain)
        // One lane, one chunk's worth, or a stopped pool: no scheduling at all.
        if workerCount == 0 || maxChunks <= 1 || isStopped {
            body(range)
            return
        }
        let chunks = Swift.min(maxChunks, threadCount * Tuning.chunksPerLane)

        // The calling thread's lane: its own if it is one of our workers or
        // already inside one of our loops, else a borrowed external lane.
        let lane: Lane
        var borrowed: Lane?
        var savedLane: UnsafeMutableRawPointer?
        if let current = CurrentLane.get(), current.poolID == id {
            lane = current
        } else if let external = claimExternalLane() {
            savedLane = CurrentLane.getRaw() // a lane of another pool, or nil
            CurrentLane.set(external)
            lane = external
            borrowed = external
        } else {
            body(range) // every external lane is taken: degrade to serial
            return
        }
        defer {
            if let borrowed {
                CurrentLane.setRaw(savedLane)
                borrowed.release()
            }
        }

        withUnsafeTemporaryAllocation(of: ForJob.self, capacity: 1) { buffer in
            let job = buffer.baseAddress!
            job.initialize(to: ForJob(
                next: .init(0), refs: .init(0),
                lower: range.lowerBound, quotient: n / chunks, remainder: n % chunks,
                chunks: chunks, body: body))
            runAsOwner(job, lane: lane)
            job.deinitialize(count: 1)
        }
    }

    private func runAsOwner(_ job: UnsafeMutablePointer<ForJob>, lane: Lane) {
        let refs = ForJob.refs(job)
        let ticket = Int(bitPattern: job)
        let tickets = Swift.min(job.pointee.chunks - 1, threadCount - 1)
        // Relaxed: the push below (release store of bottom) publishes it, and
        // the descriptor, to whoever steals a ticket.
        refs.store(tickets, ordering: .relaxed)
        var pushed = 0
        while pushed < tickets, lane.deque.push(ticket) { pushed += 1 }
        if pushed < tickets { // ring full: keep those shares ourselves
            refs.wrappingDecrement(by: tickets - pushed, ordering: .relaxed)
            overflowedTickets.wrappingIncrement(by: tickets - pushed, ordering: .relaxed)
        }
        if pushed > 0 { idle.notify(pushed) }

        ForJob.runChunks(job)

        // Take back tickets nobody stole. They are at the bottom of our deque:
        // anything pushed after them came from loops nested in our chunks,
        // which removed their own tickets before returning.
        while refs.load(ordering: .relaxed) != 0, let item = lane.deque.pop() {
            if item == ticket {
                refs.wrappingDecrement(ordering: .relaxed)
            } else { // an enclosing loop's ticket: ours are all gone
                _ = lane.deque.push(item)
                break
            }
        }
        waitForHelpers(job, lane: lane)
    }

    /// Waits until every stolen ticket of `job` is finished. While waiting the
    /// thread steals and runs other tickets (so nested and concurrent loops
    /// keep every lane busy and nothing waits on a thread that is itself
    /// waiting), then yields, then sleeps on `completion`.
    /// A helper holds a ticket only while it runs claimed chunks, so the wait
    /// is normally at most one chunk long.
    private func waitForHelpers(_ job: UnsafeMutablePointer<ForJob>, lane: Lane) {
        let refs = ForJob.refs(job)
        // Acquire: the helpers' chunk results (their release decrements).
        if refs.load(ordering: .acquiring) == 0 { return }
        var rounds = 0
        while true {
            if let other = stealSweep(lane) {
                runTicket(other)
                rounds = 0
            } else {
                rounds += 1
            }
            if refs.load(ordering: .acquiring) == 0 { return }
            if rounds <= Tuning.spinRounds { continue }
            if rounds <= Tuning.spinRounds + Tuning.yieldRounds {
                sched_yield()
                continue
            }
            break
        }
        // Sleep. Flag it in refs so the last helper knows to wake us.
        var current = refs.load(ordering: .acquiring)
        while current != 0 {
            let (exchanged, original) = refs.compareExchange(
                expected: current, desired: current | ForJob.sleeping, ordering: .acquiringAndReleasing)
            if exchanged { break }
            current = original
        }
        if current == 0 { return }
        ownerSleeps.wrappingIncrement(ordering: .relaxed)
        completion.wait { refs.load(ordering: .acquiring) & ~ForJob.sleeping == 0 }
    }

    /// Runs a stolen ticket: helps with its job, then lets go of it.
    @inline(__always)
    func runTicket(_ ticket: Int) {
        let job = UnsafeMutablePointer<ForJob>(bitPattern: ticket).unsafelyUnwrapped
        ForJob.runChunks(job)
        // Release: our chunks' writes happen before the owner returns.
        let old = ForJob.refs(job).loadThenWrappingDecrement(ordering: .releasing)
        // `job` may be gone from here on: its owner can return now.
        if old == ForJob.sleeping | 1 {
            completion.broadcast()
        }
    }
}
