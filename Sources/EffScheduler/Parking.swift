#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Atomics

/// A pthread mutex + condition variable at a fixed heap address (pthread
/// objects must not move, so they cannot be Swift stored properties).
final class Monitor {
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let cond = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)

    init() {
        mutex.initialize(to: pthread_mutex_t())
        cond.initialize(to: pthread_cond_t())
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(cond, nil)
    }

    deinit {
        pthread_cond_destroy(cond)
        pthread_mutex_destroy(mutex)
        cond.deinitialize(count: 1)
        mutex.deinitialize(count: 1)
        cond.deallocate()
        mutex.deallocate()
    }

    @inline(__always) func lock() { pthread_mutex_lock(mutex) }
    @inline(__always) func unlock() { pthread_mutex_unlock(mutex) }
    /// Caller holds the lock.
    @inline(__always) func wait() { pthread_cond_wait(cond, mutex) }
    /// Caller holds the lock.
    @inline(__always) func signalLocked() { pthread_cond_signal(cond) }
    /// Caller holds the lock.
    @inline(__always) func broadcastLocked() { pthread_cond_broadcast(cond) }

    func withLock<R>(_ body: () throws -> R) rethrows -> R {
        lock()
        defer { unlock() }
        return try body()
    }

    /// Blocks until `done()` is true. `done` is evaluated under the lock; the
    /// thread that makes it true must call `broadcast()` *after* doing so, and
    /// then no wake-up is lost (it cannot take the lock between our check and
    /// our `pthread_cond_wait`).
    func wait(until done: () -> Bool) {
        lock()
        while !done() { pthread_cond_wait(cond, mutex) }
        unlock()
    }

    func broadcast() {
        lock()
        pthread_cond_broadcast(cond)
        unlock()
    }
}

/// Where idle workers sleep: an event count (epoch + sleeper count) over one
/// condition variable.
///
/// Sleeper: `prepare()` (announce + read epoch) → look for work once more →
/// `park(token)` sleeps only while the epoch is unchanged (checked under the
/// lock). Publisher: make the work visible → `notify(n)` bumps the epoch, then
/// takes the lock only if someone is (about to be) asleep.
/// No lost wake-up: `sleepers++`, the epoch read, the epoch bump and the
/// `sleepers` read are all seq_cst, so either the publisher sees the sleeper
/// (and signals under the lock, after which the sleeper's epoch check fails or
/// it is already waiting), or the sleeper's epoch read comes after the bump and
/// its final look for work sees the work.
final class Parking {
    private let epoch = UnsafeAtomic<Int>.create(0)
    private let sleepers = UnsafeAtomic<Int>.create(0)
    private let monitor = Monitor()

    deinit {
        epoch.destroy()
        sleepers.destroy()
    }

    /// Announces an intention to sleep; returns the token for `park`.
    /// The caller must then re-check for work and call `cancel()` or `park(_:)`.
    func prepare() -> Int {
        sleepers.wrappingIncrement(ordering: .sequentiallyConsistent)
        return epoch.load(ordering: .sequentiallyConsistent)
    }

    func cancel() {
        sleepers.wrappingDecrement(ordering: .sequentiallyConsistent)
    }

    /// Sleeps until a `notify` after `prepare()` returned `token`.
    func park(_ token: Int) {
        monitor.lock()
        // Acquire under the lock: a notifier bumps the epoch before it locks.
        while epoch.load(ordering: .acquiring) == token {
            monitor.wait()
        }
        monitor.unlock()
        sleepers.wrappingDecrement(ordering: .sequentiallyConsistent)
    }

    /// Wakes up to `count` sleepers (all of them if `count` >= their number).
    /// Cheap when nobody sleeps: one RMW and one load, no lock, no syscall.
    func notify(_ count: Int) {
        epoch.wrappingIncrement(ordering: .sequentiallyConsistent)
        let asleep = sleepers.load(ordering: .sequentiallyConsistent)
        if asleep == 0 || count <= 0 { return }
        monitor.lock()
        // A woken thread leaves because the epoch changed; `signal` wakes at
        // least one waiter per call, so `count` calls wake at least `count`.
        if count >= asleep {
            monitor.broadcastLocked()
        } else {
            for _ in 0..<count { monitor.signalLocked() }
        }
        monitor.unlock()
    }

    func notifyAll() { notify(Int.max) }

    var sleeperCount: Int { sleepers.load(ordering: .relaxed) }
}
