import Atomics

/// Chase–Lev work-stealing deque of word-sized items over a fixed ring
/// (Lê, Pop, Cohen, Nardelli, "Correct and Efficient Work-Stealing for Weak
/// Memory Models", PPoPP 2013), without the resizing.
///
/// One owner thread calls `push`/`pop` at the bottom; any thread may `steal`
/// from the top. `push` on a full ring returns `false` instead of growing:
/// the pool then simply runs that work itself, so nothing is allocated after
/// `init`.
///
/// Orderings. The paper publishes with `release fence + relaxed store` and
/// gets the store→load (Dekker) ordering between `bottom` and `top` from two
/// `seq_cst` fences. Thread Sanitizer does not model fences, so it would report
/// false races on the job descriptors the items point to. We use the
/// equivalent operation-level orderings instead, which TSan understands:
/// - push: `bottom` is stored with `.releasing` (slot write and everything the
///   owner wrote before, e.g. the job descriptor, become visible to a thief
///   that acquires `bottom`);
/// - pop/steal: the `bottom` store and the `top`/`bottom` loads that must not
///   be reordered are `.sequentiallyConsistent`, so they sit in one total order
///   (this is what the fences bought). On x86 that is an `xchg` in pop and
///   plain loads elsewhere; on ARMv8 `stlr`/`ldar`, no `dmb`.
/// Slots are atomics too (relaxed) because a thief may read a slot that the
/// owner is overwriting after wrap-around; its CAS on `top` then fails.
final class WorkStealingDeque {
    enum StealResult: Equatable {
        case empty
        /// Lost a race with another thief or the owner; the deque may still hold items.
        case retry
        case item(Int)
    }

    let capacity: Int
    private let mask: Int
    /// `top` and `bottom` live 128 bytes apart (no false sharing between the
    /// owner's `bottom` and the thieves' `top`; 128 covers adjacent-line prefetch).
    private let header: UnsafeMutableRawPointer
    private let slots: UnsafeMutablePointer<UnsafeAtomic<Int>.Storage>
    private let top: UnsafeAtomic<Int>
    private let bottom: UnsafeAtomic<Int>

    init(capacity: Int) {
        precondition(capacity > 0 && capacity & (capacity - 1) == 0, "capacity must be a power of two")
        self.capacity = capacity
        self.mask = capacity - 1
        header = UnsafeMutableRawPointer.allocate(byteCount: 256, alignment: 128)
        let topStorage = header.bindMemory(to: UnsafeAtomic<Int>.Storage.self, capacity: 1)
        topStorage.initialize(to: .init(0))
        let bottomStorage = (header + 128).bindMemory(to: UnsafeAtomic<Int>.Storage.self, capacity: 1)
        bottomStorage.initialize(to: .init(0))
        top = UnsafeAtomic(at: topStorage)
        bottom = UnsafeAtomic(at: bottomStorage)
        slots = .allocate(capacity: capacity)
        slots.initialize(repeating: .init(0), count: capacity)
    }

    deinit {
        slots.deinitialize(count: capacity)
        slots.deallocate()
        header.deallocate()
    }

    @inline(__always)
    private func slot(_ index: Int) -> UnsafeAtomic<Int> {
        UnsafeAtomic(at: slots + (index & mask))
    }

    /// Owner only. Returns `false` (and stores nothing) when the ring is full.
    @inline(__always)
    func push(_ item: Int) -> Bool {
        let b = bottom.load(ordering: .relaxed) // only the owner writes bottom
        // Acquire pairs with a thief's successful CAS on top: its read of the
        // slot we are about to reuse happened before.
        let t = top.load(ordering: .acquiring)
        if b &- t >= capacity { return false }
        slot(b).store(item, ordering: .relaxed)
        bottom.store(b &+ 1, ordering: .releasing) // publish slot + job descriptor
        return true
    }

    /// Owner only. LIFO: returns the most recently pushed item still present.
    @inline(__always)
    func pop() -> Int? {
        let b = bottom.load(ordering: .relaxed) &- 1
        // Reserve slot b before looking at top (seq_cst store→load, the
        // paper's fence). Also a release: a thief that reads this value of
        // bottom still synchronizes with our earlier pushes.
        bottom.store(b, ordering: .sequentiallyConsistent)
        let t = top.load(ordering: .sequentiallyConsistent)
        if t <= b {
            let item = slot(b).load(ordering: .relaxed)
            if t != b { return item } // more than one item: no thief can reach b
            // Last item: race thieves for it on top.
            let won = top.compareExchange(
                expected: t, desired: t &+ 1,
                successOrdering: .sequentiallyConsistent, failureOrdering: .relaxed
            ).exchanged
            bottom.store(b &+ 1, ordering: .relaxed) // deque is empty either way (top == b + 1)
            return won ? item : nil
        }
        bottom.store(b &+ 1, ordering: .relaxed) // was empty; restore
        return nil
    }

    /// Any thread. FIFO: takes the oldest item.
    @inline(__always)
    func steal() -> StealResult {
        let t = top.load(ordering: .sequentiallyConsistent)
        // seq_cst after the top load: the paper's fence between the two loads.
        // Acquire part: if we see an item we also see its slot and its job.
        let b = bottom.load(ordering: .sequentiallyConsistent)
        if t >= b { return .empty }
        let item = slot(t).load(ordering: .relaxed)
        // The CAS decides ownership; if it fails the slot may have been reused.
        if top.compareExchange(
            expected: t, desired: t &+ 1,
            successOrdering: .sequentiallyConsistent, failureOrdering: .relaxed
        ).exchanged {
            return .item(item)
        }
        return .retry
    }

    /// Racy size estimate (exact when no other thread touches the deque).
    var approximateCount: Int {
        let b = bottom.load(ordering: .relaxed)
        let t = top.load(ordering: .relaxed)
        return max(0, b &- t)
    }
}
