/// What a camera offers (one pixel format at one size, with its frame rates) and how the
/// capture settings are chosen from that: pure functions, tested without a camera.
public struct ModeOffer: Sendable, Equatable {
    public var fourcc: UInt32
    public var width: Int
    public var height: Int
    /// Frame intervals in seconds as fractions (numerator, denominator); empty when the
    /// driver does not say.
    public var intervals: [Interval]
    public var compressed: Bool
    /// Converted in user space by libv4l2 rather than sent by the device (never chosen).
    public var emulated: Bool

    public struct Interval: Sendable, Equatable {
        public var numerator: UInt32
        public var denominator: UInt32
        public init(_ n: UInt32, _ d: UInt32) { numerator = n; denominator = d }
        public var fps: Double { numerator == 0 ? 0 : Double(denominator) / Double(numerator) }
    }

    public init(fourcc: UInt32, width: Int, height: Int, intervals: [Interval] = [], compressed: Bool = false, emulated: Bool = false) {
        self.fourcc = fourcc; self.width = width; self.height = height
        self.intervals = intervals; self.compressed = compressed; self.emulated = emulated
    }

    public var format: PixelFormat? { PixelFormat(fourcc: fourcc) }
}

/// The capture settings asked for (config or command line).
public struct CaptureRequest: Sendable, Equatable {
    public var width: Int
    public var height: Int
    public var fps: Double
    /// nil: the cheapest format to convert.
    public var format: PixelFormat?
    public init(width: Int = 640, height: Int = 480, fps: Double = 15, format: PixelFormat? = nil) {
        self.width = width; self.height = height; self.fps = fps; self.format = format
    }
}

/// The settings chosen.
public struct CaptureChoice: Sendable, Equatable {
    public var format: PixelFormat
    public var width: Int
    public var height: Int
    public var interval: ModeOffer.Interval?
}

public enum CameraModes {
    /// Formats from cheapest to convert to dearest. Colour before GREY (the model wants
    /// colour), MJPEG last: it is chosen only when nothing else is offered at the chosen size.
    public static let preference: [PixelFormat] = [.nv12, .yu12, .yuyv, .uyvy, .nv21, .yv12, .rgb24, .bgr24, .grey, .mjpeg]

    /// How far a size is from the request: 0 exact, then sizes that cover it (smallest
    /// first), then sizes smaller than it (largest first).
    static func sizeCost(_ w: Int, _ h: Int, _ r: CaptureRequest) -> Double {
        if w == r.width && h == r.height { return 0 }
        let area = Double(w * h), want = Double(max(1, r.width * r.height))
        if w >= r.width && h >= r.height { return 1 + area / want }
        return 1_000_000 - area
    }

    /// Frame rate closest to the request, at or above it first.
    static func rateCost(_ fps: Double, _ want: Double) -> Double {
        fps >= want ? fps - want : 10_000 + (want - fps)
    }

    /// Picks size first (the configured resolution, else the smallest that covers it), then
    /// the cheapest format at that size, then the frame rate. nil: nothing usable offered.
    public static func negotiate(_ offers: [ModeOffer], _ request: CaptureRequest) -> CaptureChoice? {
        let usable = offers.filter { o in
            guard let f = o.format, !o.emulated, o.width > 0, o.height > 0 else { return false }
            return request.format == nil || request.format == f
        }
        guard let bestSize = usable.map({ sizeCost($0.width, $0.height, request) }).min() else { return nil }
        let atSize = usable.filter { sizeCost($0.width, $0.height, request) == bestSize }
        let rank = { (o: ModeOffer) in preference.firstIndex(of: o.format!) ?? preference.count }
        guard let pick = atSize.min(by: { (rank($0), $0.width * $0.height) < (rank($1), $1.width * $1.height) }) else { return nil }
        let interval = pick.intervals.filter { $0.numerator > 0 && $0.denominator > 0 }
            .min { rateCost($0.fps, request.fps) < rateCost($1.fps, request.fps) }
        return CaptureChoice(format: pick.format!, width: pick.width, height: pick.height, interval: interval)
    }
}
