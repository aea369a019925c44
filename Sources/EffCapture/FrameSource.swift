import Foundation

/// Pixel layouts a frame source can deliver (the ones `FrameConverter` turns into a tensor).
public enum PixelFormat: String, CaseIterable, Sendable {
    case nv12, yu12, yuyv, uyvy, nv21, yv12, rgb24, bgr24, grey, mjpeg

    /// The V4L2 four-character code.
    public var fourcc: UInt32 { PixelFormat.code(fourccName) }

    /// The four characters as V4L2 and v4l2-ctl print them.
    public var fourccName: String {
        switch self {
        case .nv12: return "NV12"
        case .yu12: return "YU12"
        case .yuyv: return "YUYV"
        case .uyvy: return "UYVY"
        case .nv21: return "NV21"
        case .yv12: return "YV12"
        case .rgb24: return "RGB3"
        case .bgr24: return "BGR3"
        case .grey: return "GREY"
        case .mjpeg: return "MJPG"
        }
    }

    public init?(fourcc: UInt32) {
        guard let f = PixelFormat.allCases.first(where: { $0.fourcc == fourcc }) else { return nil }
        self = f
    }

    /// From a name: a fourcc ("YUYV", "RGB3", "MJPG") or this enum's name ("rgb24", "mjpeg").
    public init?(name: String) {
        if let f = PixelFormat(rawValue: name.lowercased()) { self = f; return }
        guard let f = PixelFormat.allCases.first(where: { $0.fourccName == name.uppercased() }) else { return nil }
        self = f
    }

    public static func code(_ s: String) -> UInt32 {
        var v: UInt32 = 0
        for (i, b) in s.utf8.prefix(4).enumerated() { v |= UInt32(b) << (8 * UInt32(i)) }
        return v
    }

    public static func name(_ fourcc: UInt32) -> String {
        String(decoding: (0..<4).map { UInt8(truncatingIfNeeded: fourcc >> (8 * $0)) }, as: UTF8.self)
    }
}

/// How Y'CbCr values map to RGB (from the driver's colorspace, ycbcr_enc and quantization).
public struct ColorEncoding: Sendable, Equatable {
    public enum Matrix: Int32, Sendable { case bt601 = 0, bt709 = 1 }
    public var matrix: Matrix
    public var fullRange: Bool
    public init(matrix: Matrix = .bt601, fullRange: Bool = false) { self.matrix = matrix; self.fullRange = fullRange }
    /// BT.601, limited range: what most webcams send.
    public static let `default` = ColorEncoding()
}

/// The clock of `Frame.timestamp`: CLOCK_MONOTONIC in nanoseconds (V4L2 drivers stamp
/// buffers with it), for every wait, rate and latency measured against frames.
public enum MonotonicClock {
    @inline(__always) public static func nanoseconds() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
    }
}

/// One frame, borrowed: `bytes` is valid only inside the closure it is handed to (for a
/// camera it is the driver's mmapped buffer, given back to the driver right after).
public struct Frame {
    public var format: PixelFormat
    public var width: Int
    public var height: Int
    /// Bytes per row of the first plane (for planar formats the chroma planes follow with
    /// the same stride, halved for 4:2:0 as V4L2's single-planar layouts define).
    public var bytesPerLine: Int
    public var bytes: UnsafeRawBufferPointer
    public var color: ColorEncoding
    /// CLOCK_MONOTONIC nanoseconds of capture (driver timestamp for cameras).
    public var timestamp: UInt64
    /// Per-source frame number; a gap means frames were dropped before they reached us.
    public var sequence: UInt64

    public init(format: PixelFormat, width: Int, height: Int, bytesPerLine: Int, bytes: UnsafeRawBufferPointer,
                color: ColorEncoding = .default, timestamp: UInt64, sequence: UInt64) {
        self.format = format; self.width = width; self.height = height; self.bytesPerLine = bytesPerLine
        self.bytes = bytes; self.color = color; self.timestamp = timestamp; self.sequence = sequence
    }
}

/// What a source is doing now.
public enum SourceState: Equatable, Sendable, CustomStringConvertible {
    case idle
    case streaming
    /// The device is absent or was lost; it is being reopened with backoff.
    case waitingForDevice(String)
    /// Configuration that will not fix itself (no usable format, unreadable folder).
    case failed(String)
    case closed

    public var description: String {
        switch self {
        case .idle: return "idle"
        case .streaming: return "streaming"
        case .waitingForDevice(let why): return "waiting for device: \(why)"
        case .failed(let why): return "failed: \(why)"
        case .closed: return "closed"
        }
    }
}

/// Running totals of a source.
public struct SourceCounters: Sendable, Equatable {
    /// Frames handed to a consumer.
    public var frames: UInt64 = 0
    /// Frames lost before they reached a consumer (driver sequence gaps).
    public var dropped: UInt64 = 0
    /// Frames skipped as bad: V4L2_BUF_FLAG_ERROR, corrupt JPEG, unreadable image file.
    public var errors: UInt64 = 0
    /// Stream restarts (no frame within the timeout) and reopens after a device loss.
    public var restarts: UInt64 = 0
    /// Device losses (ENODEV, EIO, POLLERR).
    public var disconnects: UInt64 = 0
    public init() {}
}

/// Something that produces frames: a V4L2 camera or image files. One consumer thread calls
/// `next` in a loop; a source never blocks other sources (each camera has its own thread,
/// see `CaptureThread`).
public protocol FrameSource: AnyObject {
    /// Name for logs and the wire ("/dev/video0", "samples/").
    var name: String { get }
    var state: SourceState { get }
    var counters: SourceCounters { get }
    /// Waits up to `timeout` seconds for the next frame and hands it, borrowed, to `body`.
    /// Returns false when no frame came (timeout, device absent, skipped bad frame): the
    /// caller just calls again. Device trouble is handled inside (restart, reopen with
    /// backoff) and shows in `state` and `counters`, never as a thrown error; errors
    /// thrown by `body` are passed through after the buffer is given back.
    func next(timeout: Double, _ body: (Frame) throws -> Void) rethrows -> Bool
    /// Releases the device (buffers, mappings, file descriptor). Idempotent.
    func close()
}

/// Runs one source on its own thread, handing every frame to `handler` on that thread.
public final class CaptureThread: @unchecked Sendable {
    public let source: FrameSource
    private let handler: (Frame) -> Void
    private let lock = NSLock()
    private var stopping = false
    private var thread: Thread?
    private let done = DispatchSemaphore(value: 0)

    public init(source: FrameSource, handler: @escaping (Frame) -> Void) {
        self.source = source
        self.handler = handler
    }

    public func start() {
        let t = Thread { [self] in
            while !lock.withLock({ stopping }) { _ = source.next(timeout: 0.25, handler) }
            source.close()
            done.signal()
        }
        t.name = "capture \(source.name)"
        thread = t
        t.start()
    }

    /// Asks the thread to stop and waits until it has closed the source.
    public func stop() {
        lock.withLock { stopping = true }
        if thread != nil { done.wait(); thread = nil }
    }
}
