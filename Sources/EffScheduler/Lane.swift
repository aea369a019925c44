#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Atomics

/// One execution lane of a pool: a deque plus its owner's private state.
///
/// Worker lanes belong to one background thread for the pool's life.
/// External lanes are lent to a thread that is not a worker for the duration
/// of its outermost `parallelFor` (the "caller participates" lane), so that it
/// too has a deque to push tickets to and thieves can find them.
final class Lane {
    let index: Int
    let deque: WorkStealingDeque
    /// Id of the owning pool (`PoolCore.id`).
    let poolID: Int
    /// xorshift64 state for victim selection. Touched only by the thread that
    /// currently holds the lane (handed over through `claimed`).
    var rng: UInt64
    /// External lanes: whether some thread holds the lane.
    private let claimed = ManagedAtomic<Bool>(false)

    init(index: Int, capacity: Int, poolID: Int) {
        self.index = index
        self.deque = WorkStealingDeque(capacity: capacity)
        self.poolID = poolID
        self.rng = 0x9E37_79B9_7F4A_7C15 &* UInt64(index + 1) | 1
    }

    @inline(__always)
    func nextRandom() -> UInt64 {
        var x = rng
        x ^= x << 13
        x ^= x >> 7
        x ^= x << 17
        rng = x
        return x
    }

    /// Acquire pairs with the previous holder's release in `release()`:
    /// its deque operations and `rng` writes happen before ours.
    func tryClaim() -> Bool {
        claimed.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged
    }

    func release() {
        assert(deque.approximateCount == 0, "lane released with work still queued")
        claimed.store(false, ordering: .releasing)
    }
}

/// The lane of the current thread, if it is inside some pool (a worker, or a
/// caller inside `parallelFor`). One process-wide key serves every pool; the
/// value is an unretained `Lane` (the pool keeps lanes alive).
enum CurrentLane {
    private static let key: pthread_key_t = {
        var key = pthread_key_t()
        let rc = pthread_key_create(&key, nil)
        precondition(rc == 0, "pthread_key_create failed: \(rc)")
        return key
    }()

    @inline(__always)
    static func get() -> Lane? {
        guard let raw = pthread_getspecific(key) else { return nil }
        return Unmanaged<Lane>.fromOpaque(raw).takeUnretainedValue()
    }

    @inline(__always)
    static func getRaw() -> UnsafeMutableRawPointer? { pthread_getspecific(key) }

    @inline(__always)
    static func setRaw(_ value: UnsafeMutableRawPointer?) { pthread_setspecific(key, value) }

    @inline(__always)
    static func set(_ lane: Lane?) {
        setRaw(lane.map { Unmanaged.passUnretained($0).toOpaque() })
    }
}
