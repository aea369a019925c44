@testable import EffDaemon
import Foundation
import XCTest

final class FrameSlotTests: XCTestCase {
    func fill(_ slot: FrameSlot, _ value: Int8, seq: UInt64) {
        slot.publish(FrameStamp(monotonic: seq, wall: seq, sequence: seq)) { t in
            for i in t.indices { t[i] = value }
        }
    }

    /// Latest wins: frames published while inference is busy replace each other, each
    /// replacement is counted, and the reader gets the newest whole frame.
    func testLatestWinsAndReplacementsAreCounted() {
        let slot = FrameSlot(tensorBytes: 64)
        XCTAssertNil(slot.take(timeout: 0.01), "nothing ready yet")
        fill(slot, 1, seq: 1)
        let first = slot.take(timeout: 1)
        XCTAssertEqual(first?.stamp.sequence, 1)
        XCTAssertEqual(Array(first!.tensor), [Int8](repeating: 1, count: 64))
        // While frame 1 is being read, 2, 3, 4 arrive: only 4 survives, 2 replacements.
        for s in 2...4 { fill(slot, Int8(s), seq: UInt64(s)) }
        XCTAssertEqual(Array(first!.tensor), [Int8](repeating: 1, count: 64), "the tensor being read is never written")
        XCTAssertEqual(slot.replacedCount, 2)
        let newest = slot.take(timeout: 1)
        XCTAssertEqual(newest?.stamp.sequence, 4)
        XCTAssertEqual(Array(newest!.tensor), [Int8](repeating: 4, count: 64))
        XCTAssertNil(slot.take(timeout: 0.01), "a frame is handed out once")
    }

    /// A throwing conversion publishes nothing.
    func testFailedFillPublishesNothing() {
        struct Bad: Error {}
        let slot = FrameSlot(tensorBytes: 8)
        XCTAssertThrowsError(try slot.publish(FrameStamp(sequence: 9)) { _ in throw Bad() })
        XCTAssertNil(slot.take(timeout: 0.01))
        XCTAssertEqual(slot.replacedCount, 0)
    }

    /// The writer never blocks on a slow reader, and the reader never sees a torn frame.
    func testConcurrentWriterNeverWaitsAndFramesAreWhole() {
        let slot = FrameSlot(tensorBytes: 4096)
        let frames = 20_000
        let writerDone = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            for s in 1...frames { self.fill(slot, Int8(truncatingIfNeeded: s), seq: UInt64(s)) }
            writerDone.signal()
        }
        var taken = 0
        var last: UInt64 = 0
        while writerDone.wait(timeout: .now()) == .timedOut || taken == 0 {
            guard let (t, stamp) = slot.take(timeout: 0.05) else { continue }
            let v = Int8(truncatingIfNeeded: stamp.sequence)
            XCTAssertTrue(t.allSatisfy { $0 == v }, "frame \(stamp.sequence) is whole")
            XCTAssertGreaterThan(stamp.sequence, last, "frames come newest-first, never older")
            last = stamp.sequence
            taken += 1
            usleep(200)  // a slow reader
        }
        if let (_, stamp) = slot.take(timeout: 0.1) { last = stamp.sequence; taken += 1 }
        XCTAssertEqual(last, UInt64(frames), "the last frame is delivered")
        XCTAssertEqual(UInt64(taken) + slot.replacedCount, UInt64(frames), "every frame is either taken or counted as replaced")
        slot.close()
        XCTAssertNil(slot.take(timeout: 1), "close wakes and ends the reader")
    }
}
