import CV4L2
import Foundation

/// A V4L2 capture device (USB webcam, board camera, vivid) through libv4l2: format
/// negotiation, mmap streaming, and recovery. Not thread-safe: one thread calls `next`
/// (see `CaptureThread`); cameras do not share anything, so one camera's trouble never
/// blocks another.
///
/// Failures are normal life here: an absent device is retried with backoff; a lost one
/// (ENODEV/EIO from DQBUF, POLLERR/POLLHUP) is released completely (buffers unmapped,
/// file descriptor closed) and reopened when it returns; a stream that delivers nothing
/// within `frameTimeout` is restarted; frames flagged V4L2_BUF_FLAG_ERROR are skipped.
public final class V4L2Camera: FrameSource {
    public struct Config: Sendable {
        public var device: String
        public var request: CaptureRequest
        /// mmap buffers queued to the driver.
        public var buffers: Int = 4
        /// Seconds without a frame before the stream is restarted.
        public var frameTimeout: Double = 2
        /// Backoff between reopen attempts: starts at `minBackoff`, doubles up to `maxBackoff`.
        public var minBackoff: Double = 0.1
        public var maxBackoff: Double = 5
        public init(device: String, request: CaptureRequest = CaptureRequest()) {
            self.device = device; self.request = request
        }
    }

    public let config: Config
    public var name: String { config.device }
    public private(set) var state: SourceState = .idle
    public private(set) var counters = SourceCounters()
    /// The negotiated mode, once the device has been opened.
    public private(set) var choice: CaptureChoice?
    public private(set) var color = ColorEncoding.default
    public private(set) var bytesPerLine = 0
    public private(set) var sizeImage = 0
    /// Called with one line for every state change (absent, lost, restarted, streaming).
    public var log: ((String) -> Void)?

    private var fd: Int32 = -1
    private var maps: [(base: UnsafeMutableRawPointer, length: Int)] = []
    private var streaming = false
    private var lastSequence: UInt32?
    private var lastFrameAt: UInt64 = 0
    private var retryAt: UInt64 = 0
    private var backoff: Double = 0

    public init(_ config: Config) {
        self.config = config
        backoff = config.minBackoff
    }

    deinit { teardown() }


    // MARK: FrameSource

    public func next(timeout: Double, _ body: (Frame) throws -> Void) rethrows -> Bool {
        if state == .closed { return false }
        if case .failed = state { usleep(UInt32(max(0, timeout) * 1e6)); return false }
        let start = MonotonicClock.nanoseconds()
        let deadline = start + UInt64(max(0, timeout) * 1e9)
        if fd < 0 {
            if start < retryAt {
                usleep(UInt32(min(retryAt - start, deadline - start) / 1000))
                if MonotonicClock.nanoseconds() < retryAt { return false }
            }
            guard setup() else { return false }
        }
        while true {
            let now = MonotonicClock.nanoseconds()
            if now - lastFrameAt > UInt64(config.frameTimeout * 1e9) {
                counters.restarts += 1
                say("\(name): no frame for \(config.frameTimeout) s, restarting the stream")
                teardown()
                guard setup() else { return false }
                continue
            }
            let remaining = deadline > now ? deadline - now : 0
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ms = Int32(min(remaining / 1_000_000, UInt64(config.frameTimeout * 1000)))
            let r = poll(&p, 1, ms)
            if r < 0 {
                if errno == EINTR { continue }
                lose("poll: \(String(cString: strerror(errno)))")
                return false
            }
            if r == 0 {
                if MonotonicClock.nanoseconds() >= deadline { return false }
                continue
            }
            var buf = v4l2_buffer()
            buf.type = V4L2_BUF_TYPE_VIDEO_CAPTURE.rawValue
            buf.memory = V4L2_MEMORY_MMAP.rawValue
            if ioctl(EFFV4L2_VIDIOC_DQBUF, &buf) != 0 {
                let e = errno
                if e == EAGAIN && p.revents & Int16(POLLERR | POLLHUP) == 0 { continue }
                lose("VIDIOC_DQBUF: \(String(cString: strerror(e)))\(p.revents & Int16(POLLERR | POLLHUP) != 0 ? " (POLLERR)" : "")")
                return false
            }
            lastFrameAt = MonotonicClock.nanoseconds()
            if let last = lastSequence, buf.sequence > last &+ 1 { counters.dropped += UInt64(buf.sequence - last - 1) }
            lastSequence = buf.sequence
            let index = Int(buf.index)
            guard index < maps.count else { lose("driver returned buffer \(index) of \(maps.count)"); return false }
            if buf.flags & EFFV4L2_BUF_FLAG_ERROR != 0 {
                counters.errors += 1
                requeue(&buf)
                if MonotonicClock.nanoseconds() >= deadline { return false }
                continue
            }
            let used = choice?.format == .mjpeg ? Int(buf.bytesused) : min(maps[index].length, max(Int(buf.bytesused), sizeImage))
            let frame = Frame(format: choice!.format, width: choice!.width, height: choice!.height, bytesPerLine: bytesPerLine,
                              bytes: UnsafeRawBufferPointer(start: maps[index].base, count: min(used, maps[index].length)), color: color,
                              timestamp: UInt64(buf.timestamp.tv_sec) * 1_000_000_000 + UInt64(buf.timestamp.tv_usec) * 1000,
                              sequence: UInt64(buf.sequence))
            counters.frames += 1
            defer { requeue(&buf) }
            try body(frame)
            return true
        }
    }

    public func close() {
        teardown()
        state = .closed
    }

    // MARK: device handling

    private func say(_ s: String) { log?(s) }

    @discardableResult
    private func ioctl<T>(_ request: UInt, _ arg: inout T) -> Int32 {
        var r: Int32
        repeat { r = withUnsafeMutablePointer(to: &arg) { effv4l2_ioctl(fd, request, $0) } } while r == -1 && errno == EINTR
        return r
    }

    private func requeue(_ buf: inout v4l2_buffer) {
        if fd >= 0, ioctl(EFFV4L2_VIDIOC_QBUF, &buf) != 0 {
            lose("VIDIOC_QBUF: \(String(cString: strerror(errno)))")
        }
    }

    /// The device went away or broke: release everything, reopen later.
    private func lose(_ why: String) {
        counters.disconnects += 1
        say("\(name): lost (\(why)); releasing it and waiting for it to return")
        teardown()
        state = .waitingForDevice(why)
        retryAt = MonotonicClock.nanoseconds() + UInt64(config.minBackoff * 1e9)
        backoff = config.minBackoff
    }

    private func retryLater(_ why: String) {
        if state != .waitingForDevice(why) { say("\(name): \(why); retrying every ≤ \(config.maxBackoff) s") }
        teardown()
        state = .waitingForDevice(why)
        retryAt = MonotonicClock.nanoseconds() + UInt64(backoff * 1e9)
        backoff = min(config.maxBackoff, backoff * 2)
    }

    /// Releases buffers, mappings and the file descriptor; safe to call at any time.
    private func teardown() {
        if fd >= 0 {
            if streaming {
                var type = Int32(V4L2_BUF_TYPE_VIDEO_CAPTURE.rawValue)
                ioctl(EFFV4L2_VIDIOC_STREAMOFF, &type)
            }
            for m in maps { effv4l2_munmap(m.base, m.length) }
            maps = []
            var req = v4l2_requestbuffers()
            req.count = 0
            req.type = V4L2_BUF_TYPE_VIDEO_CAPTURE.rawValue
            req.memory = V4L2_MEMORY_MMAP.rawValue
            ioctl(EFFV4L2_VIDIOC_REQBUFS, &req)
            effv4l2_close(fd)
            fd = -1
        }
        maps = []
        streaming = false
        lastSequence = nil
    }

    /// Opens, negotiates, maps and starts streaming. false: state says why.
    private func setup() -> Bool {
        fd = effv4l2_open(config.device, O_RDWR | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else {
            retryLater("cannot open: \(String(cString: strerror(errno)))")
            return false
        }
        func fail(_ what: String) -> Bool {
            retryLater("\(what): \(String(cString: strerror(errno)))")
            return false
        }
        var cap = v4l2_capability()
        guard ioctl(EFFV4L2_VIDIOC_QUERYCAP, &cap) == 0 else { return fail("VIDIOC_QUERYCAP") }
        let caps = cap.capabilities & EFFV4L2_CAP_DEVICE_CAPS != 0 ? cap.device_caps : cap.capabilities
        guard caps & EFFV4L2_CAP_VIDEO_CAPTURE != 0, caps & EFFV4L2_CAP_STREAMING != 0 else {
            teardown()
            state = .failed("not a streaming video capture device")
            say("\(name): \(state)")
            return false
        }
        let offers = V4L2Camera.modes(fd: fd, request: config.request)
        guard let pick = CameraModes.negotiate(offers, config.request) else {
            teardown()
            let offered = Set(offers.map { PixelFormat.name($0.fourcc) }).sorted().joined(separator: ", ")
            state = .failed("no usable format (offered: \(offered))")
            say("\(name): \(state)")
            return false
        }
        var fmt = v4l2_format()
        fmt.type = V4L2_BUF_TYPE_VIDEO_CAPTURE.rawValue
        fmt.fmt.pix.width = UInt32(pick.width)
        fmt.fmt.pix.height = UInt32(pick.height)
        fmt.fmt.pix.pixelformat = pick.format.fourcc
        fmt.fmt.pix.field = V4L2_FIELD_NONE.rawValue
        guard ioctl(EFFV4L2_VIDIOC_S_FMT, &fmt) == 0 else { return fail("VIDIOC_S_FMT") }
        guard let got = PixelFormat(fourcc: fmt.fmt.pix.pixelformat) else {
            retryLater("driver switched to unsupported format \(PixelFormat.name(fmt.fmt.pix.pixelformat))")
            return false
        }
        choice = CaptureChoice(format: got, width: Int(fmt.fmt.pix.width), height: Int(fmt.fmt.pix.height), interval: pick.interval)
        bytesPerLine = Int(fmt.fmt.pix.bytesperline)
        if bytesPerLine == 0 { bytesPerLine = got == .yuyv || got == .uyvy ? 2 * choice!.width : got == .rgb24 || got == .bgr24 ? 3 * choice!.width : choice!.width }
        sizeImage = Int(fmt.fmt.pix.sizeimage)
        color = V4L2Camera.colorEncoding(colorspace: fmt.fmt.pix.colorspace, ycbcrEnc: fmt.fmt.pix.ycbcr_enc,
                                         quantization: fmt.fmt.pix.quantization)
        if let iv = pick.interval {
            var parm = v4l2_streamparm()
            parm.type = V4L2_BUF_TYPE_VIDEO_CAPTURE.rawValue
            parm.parm.capture.timeperframe = v4l2_fract(numerator: iv.numerator, denominator: iv.denominator)
            if ioctl(EFFV4L2_VIDIOC_S_PARM, &parm) == 0 {
                let t = parm.parm.capture.timeperframe
                choice!.interval = ModeOffer.Interval(t.numerator, t.denominator)
            }
        }
        var req = v4l2_requestbuffers()
        req.count = UInt32(max(2, config.buffers))
        req.type = V4L2_BUF_TYPE_VIDEO_CAPTURE.rawValue
        req.memory = V4L2_MEMORY_MMAP.rawValue
        guard ioctl(EFFV4L2_VIDIOC_REQBUFS, &req) == 0, req.count >= 1 else { return fail("VIDIOC_REQBUFS") }
        for i in 0..<req.count {
            var buf = v4l2_buffer()
            buf.type = V4L2_BUF_TYPE_VIDEO_CAPTURE.rawValue
            buf.memory = V4L2_MEMORY_MMAP.rawValue
            buf.index = i
            guard ioctl(EFFV4L2_VIDIOC_QUERYBUF, &buf) == 0 else { return fail("VIDIOC_QUERYBUF") }
            let p = effv4l2_mmap(nil, Int(buf.length), PROT_READ | PROT_WRITE, MAP_SHARED, fd, Int64(buf.m.offset))
            guard let base = p, base != MAP_FAILED else { return fail("mmap") }
            maps.append((base, Int(buf.length)))
            guard ioctl(EFFV4L2_VIDIOC_QBUF, &buf) == 0 else { return fail("VIDIOC_QBUF") }
        }
        var type = Int32(V4L2_BUF_TYPE_VIDEO_CAPTURE.rawValue)
        guard ioctl(EFFV4L2_VIDIOC_STREAMON, &type) == 0 else { return fail("VIDIOC_STREAMON") }
        streaming = true
        lastFrameAt = MonotonicClock.nanoseconds()
        if state != .streaming {
            if case .waitingForDevice = state { counters.restarts += 1 }
            let c = choice!
            say("\(name): streaming \(c.format.fourccName) \(c.width)×\(c.height)" +
                (c.interval.map { String(format: " @ %.3g fps", $0.fps) } ?? "") + ", \(maps.count) buffers")
        }
        state = .streaming
        backoff = config.minBackoff
        return true
    }

    /// The Y'CbCr → RGB conversion a format's colorspace fields call for
    /// (V4L2_MAP_YCBCR_ENC_DEFAULT and V4L2_MAP_QUANTIZATION_DEFAULT of videodev2.h).
    public static func colorEncoding(colorspace: UInt32, ycbcrEnc: UInt32, quantization: UInt32) -> ColorEncoding {
        var enc = ycbcrEnc
        if enc == V4L2_YCBCR_ENC_DEFAULT.rawValue {
            enc = colorspace == V4L2_COLORSPACE_REC709.rawValue || colorspace == V4L2_COLORSPACE_DCI_P3.rawValue
                ? V4L2_YCBCR_ENC_709.rawValue : V4L2_YCBCR_ENC_601.rawValue
        }
        let matrix: ColorEncoding.Matrix = enc == V4L2_YCBCR_ENC_709.rawValue || enc == V4L2_YCBCR_ENC_XV709.rawValue ? .bt709 : .bt601
        var full: Bool
        switch quantization {
        case V4L2_QUANTIZATION_FULL_RANGE.rawValue: full = true
        case V4L2_QUANTIZATION_LIM_RANGE.rawValue: full = false
        default: full = colorspace == V4L2_COLORSPACE_JPEG.rawValue
        }
        if enc == V4L2_YCBCR_ENC_XV601.rawValue || enc == V4L2_YCBCR_ENC_XV709.rawValue { full = false }
        return ColorEncoding(matrix: matrix, fullRange: full)
    }

    // MARK: enumeration

    /// What a device is, for `effctl cameras`.
    public struct DeviceInfo: Sendable {
        public var path: String
        public var driver: String
        public var card: String
        public var bus: String
        public var isCapture: Bool
        public var modes: [ModeOffer]
    }

    static func cString<T>(_ tuple: T) -> String {
        withUnsafeBytes(of: tuple) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
    }

    /// QUERYCAP and every format × size × interval of one device node.
    public static func info(device: String) throws -> DeviceInfo {
        let fd = effv4l2_open(device, O_RDWR | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else { throw ConvertError("\(device): \(String(cString: strerror(errno)))") }
        defer { effv4l2_close(fd) }
        var cap = v4l2_capability()
        guard effv4l2_ioctl(fd, EFFV4L2_VIDIOC_QUERYCAP, &cap) == 0 else {
            throw ConvertError("\(device): VIDIOC_QUERYCAP: \(String(cString: strerror(errno)))")
        }
        let caps = cap.capabilities & EFFV4L2_CAP_DEVICE_CAPS != 0 ? cap.device_caps : cap.capabilities
        let isCapture = caps & EFFV4L2_CAP_VIDEO_CAPTURE != 0
        return DeviceInfo(path: device, driver: cString(cap.driver), card: cString(cap.card), bus: cString(cap.bus_info),
                          isCapture: isCapture, modes: isCapture ? modes(fd: fd, request: nil) : [])
    }

    /// The /dev/video* nodes, in numeric order.
    public static func deviceNodes() -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: "/dev")) ?? []
        return names.filter { $0.hasPrefix("video") && Int($0.dropFirst(5)) != nil }
            .sorted { Int($0.dropFirst(5))! < Int($1.dropFirst(5))! }.map { "/dev/" + $0 }
    }

    /// Enumerates formats, sizes and intervals. Stepwise/continuous sizes are offered as
    /// their minimum, maximum and (when a request is given) the requested size fitted in.
    static func modes(fd: Int32, request: CaptureRequest?) -> [ModeOffer] {
        var result: [ModeOffer] = []
        var fi: UInt32 = 0
        while true {
            var desc = v4l2_fmtdesc()
            desc.index = fi
            desc.type = V4L2_BUF_TYPE_VIDEO_CAPTURE.rawValue
            guard effv4l2_ioctl(fd, EFFV4L2_VIDIOC_ENUM_FMT, &desc) == 0 else { break }
            fi += 1
            let compressed = desc.flags & EFFV4L2_FMT_FLAG_COMPRESSED != 0
            let emulated = desc.flags & EFFV4L2_FMT_FLAG_EMULATED != 0
            var sizes: [(Int, Int)] = []
            var si: UInt32 = 0
            while true {
                var fs = v4l2_frmsizeenum()
                fs.index = si
                fs.pixel_format = desc.pixelformat
                guard effv4l2_ioctl(fd, EFFV4L2_VIDIOC_ENUM_FRAMESIZES, &fs) == 0 else { break }
                si += 1
                if fs.type == V4L2_FRMSIZE_TYPE_DISCRETE.rawValue {
                    sizes.append((Int(fs.discrete.width), Int(fs.discrete.height)))
                } else {
                    let s = fs.stepwise
                    sizes.append((Int(s.min_width), Int(s.min_height)))
                    sizes.append((Int(s.max_width), Int(s.max_height)))
                    if let r = request {
                        func fit(_ v: Int, _ lo: UInt32, _ hi: UInt32, _ step: UInt32) -> Int {
                            let st = max(1, Int(step)), c = min(max(v, Int(lo)), Int(hi))
                            return Int(lo) + (c - Int(lo)) / st * st
                        }
                        sizes.append((fit(r.width, s.min_width, s.max_width, s.step_width),
                                      fit(r.height, s.min_height, s.max_height, s.step_height)))
                    }
                    break
                }
            }
            for (w, h) in sizes {
                var intervals: [ModeOffer.Interval] = []
                var ii: UInt32 = 0
                while true {
                    var fiv = v4l2_frmivalenum()
                    fiv.index = ii
                    fiv.pixel_format = desc.pixelformat
                    fiv.width = UInt32(w)
                    fiv.height = UInt32(h)
                    guard effv4l2_ioctl(fd, EFFV4L2_VIDIOC_ENUM_FRAMEINTERVALS, &fiv) == 0 else { break }
                    ii += 1
                    if fiv.type == V4L2_FRMIVAL_TYPE_DISCRETE.rawValue {
                        intervals.append(ModeOffer.Interval(fiv.discrete.numerator, fiv.discrete.denominator))
                    } else {
                        intervals.append(ModeOffer.Interval(fiv.stepwise.min.numerator, fiv.stepwise.min.denominator))
                        intervals.append(ModeOffer.Interval(fiv.stepwise.max.numerator, fiv.stepwise.max.denominator))
                        break
                    }
                }
                result.append(ModeOffer(fourcc: desc.pixelformat, width: w, height: h, intervals: intervals,
                                        compressed: compressed, emulated: emulated))
            }
        }
        return result
    }

    /// Sets a control by its name as the driver reports it (case-insensitive), through a
    /// separate file descriptor: for tests (vivid's "Disconnect", "Inject V4L2_BUF_FLAG_ERROR").
    public static func setControl(device: String, name: String, value: Int32) throws {
        let fd = open(device, O_RDWR | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else { throw ConvertError("\(device): \(String(cString: strerror(errno)))") }
        defer { _ = Glibc.close(fd) }
        var q = v4l2_queryctrl()
        q.id = EFFV4L2_FLAG_NEXT_CTRL
        while ioctl_queryctrl(fd, &q) {
            if cString(q.name).lowercased() == name.lowercased() {
                var c = v4l2_control(id: q.id, value: value)
                guard effv4l2_sys_ioctl(fd, EFFV4L2_VIDIOC_S_CTRL, &c) == 0 else {
                    throw ConvertError("\(device): VIDIOC_S_CTRL \(name): \(String(cString: strerror(errno)))")
                }
                return
            }
            q.id |= EFFV4L2_FLAG_NEXT_CTRL
        }
        throw ConvertError("\(device): no control named \(name)")
    }

    private static func ioctl_queryctrl(_ fd: Int32, _ q: inout v4l2_queryctrl) -> Bool {
        effv4l2_sys_ioctl(fd, EFFV4L2_VIDIOC_QUERYCTRL, &q) == 0
    }
}
