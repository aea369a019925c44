import Foundation

/// When and which frame a tensor in the slot came from.
public struct FrameStamp: Sendable, Equatable {
    /// CLOCK_MONOTONIC nanoseconds of capture (for latency).
    public var monotonic: UInt64
    /// CLOCK_REALTIME nanoseconds of capture (for `captured_at`).
    public var wall: UInt64
    public var sequence: UInt64
    public init(monotonic: UInt64 = 0, wall: UInt64 = 0, sequence: UInt64 = 0) {
        self.monotonic = monotonic; self.wall = wall; self.sequence = sequence
    }
}

/// The newest-frame slot between a camera's capture thread and its inference thread:
/// three preallocated input tensors (being written, ready, being read). Capture never
/// waits: a finished frame replaces a ready one that inference has not taken yet, and the
/// replaced frame is counted as dropped ("latest wins"). Nothing is allocated after init.
public final class FrameSlot: @unchecked Sendable {
    public let tensorBytes: Int
    private let storage: UnsafeMutablePointer<Int8>
    private let cond = NSCondition()
    // Indices into the three tensors; always distinct.
    private var writing = 0
    private var ready: Int? = nil
    private var reading: Int? = nil
    private var stamps = [FrameStamp](repeating: FrameStamp(), count: 3)
    private var closed = false
    private var replaced: UInt64 = 0
    /// Ready frames that were replaced before inference took them.
    public var replacedCount: UInt64 { cond.withLock { replaced } }

    public init(tensorBytes: Int) {
        self.tensorBytes = tensorBytes
        storage = .allocate(capacity: 3 * tensorBytes)
        storage.initialize(repeating: 0, count: 3 * tensorBytes)
    }

    deinit { storage.deallocate() }

    private func tensor(_ i: Int) -> UnsafeMutableBufferPointer<Int8> {
        UnsafeMutableBufferPointer(start: storage + i * tensorBytes, count: tensorBytes)
    }

    /// Capture side: `fill` writes the next tensor (outside the lock); when it returns
    /// normally the tensor becomes the ready one. If `fill` throws, nothing is published.
    public func publish(_ stamp: FrameStamp, _ fill: (UnsafeMutableBufferPointer<Int8>) throws -> Void) rethrows {
        let target = cond.withLock { writing }
        try fill(tensor(target))
        cond.withLock {
            stamps[target] = stamp
            if let old = ready {
                replaced += 1
                ready = target
                writing = old
            } else {
                ready = target
                writing = (0..<3).first { $0 != target && $0 != reading }!
            }
            cond.signal()
        }
    }

    /// Inference side: waits up to `timeout` seconds for a ready tensor and returns it; it
    /// stays valid (and untouched by capture) until the next `take`. nil on timeout or close.
    public func take(timeout: Double) -> (tensor: UnsafeBufferPointer<Int8>, stamp: FrameStamp)? {
        cond.withLock {
            let deadline = Date(timeIntervalSinceNow: timeout)
            while ready == nil && !closed {
                if !cond.wait(until: deadline) { break }
            }
            guard !closed, let r = ready else { return nil }
            reading = r
            ready = nil
            return (UnsafeBufferPointer(tensor(r)), stamps[r])
        }
    }

    /// Wakes a waiting `take` for good.
    public func close() {
        cond.withLock { closed = true; cond.broadcast() }
    }
}
