import Atomics
import Foundation
import XCTest

/// One atomic counter per index, without an allocation per counter.
final class Counters: @unchecked Sendable {
    let count: Int
    private let storage: UnsafeMutablePointer<UnsafeAtomic<Int>.Storage>

    init(_ count: Int) {
        self.count = count
        storage = .allocate(capacity: Swift.max(count, 1))
        storage.initialize(repeating: .init(0), count: Swift.max(count, 1))
    }

    deinit {
        storage.deinitialize(count: Swift.max(count, 1))
        storage.deallocate()
    }

    func add(_ index: Int, _ amount: Int = 1) {
        UnsafeAtomic<Int>(at: storage + index).wrappingIncrement(by: amount, ordering: .relaxed)
    }

    subscript(index: Int) -> Int {
        UnsafeAtomic<Int>(at: storage + index).load(ordering: .relaxed)
    }

    /// First index whose count is not `expected`, as (index, count).
    func firstMismatch(expected: Int = 1) -> (Int, Int)? {
        for i in 0..<count where self[i] != expected { return (i, self[i]) }
        return nil
    }
}

/// Runs `body(i)` on `count` fresh threads at once and waits for all of them.
func onThreads(_ count: Int, _ body: @escaping @Sendable (Int) -> Void) {
    let group = DispatchGroup()
    var threads: [Thread] = []
    for i in 0..<count {
        group.enter()
        let thread = Thread {
            body(i)
            group.leave()
        }
        thread.stackSize = 4 << 20
        threads.append(thread)
    }
    threads.forEach { $0.start() }
    group.wait()
}

/// CPU time consumed by the whole process so far, in seconds.
func processCPUSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}
