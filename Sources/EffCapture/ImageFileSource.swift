import Foundation

/// Image files as a camera: one image, or every JPEG/PNG/PPM/PGM in a folder (sorted by
/// name), delivered as RGB24 frames in a loop at `fps`. The daemon's source on machines
/// without a camera (the bundled `samples/` by default), and the tests' source everywhere.
public final class ImageFileSource: FrameSource {
    public let name: String
    public let fps: Double
    public private(set) var state: SourceState = .idle
    public private(set) var counters = SourceCounters()
    /// The files in the order they are delivered.
    public let files: [String]
    private var images: [String: RGBImage] = [:]
    private var index = 0
    private var sequence: UInt64 = 0
    private var due: UInt64 = 0
    /// Decoded images are kept (up to this many pixels in all) so a loop decodes each once.
    public var cachePixels = 50_000_000

    public static let extensions: Set<String> = ["jpg", "jpeg", "png", "ppm", "pgm", "pnm"]

    /// `path`: an image file or a folder of them. Throws when there is no image to deliver.
    public init(path: String, fps: Double = 5) throws {
        precondition(fps > 0, "ImageFileSource: fps must be positive")
        name = path
        self.fps = fps
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
            throw ImageError(file: path, reason: "no such file or folder")
        }
        if isDir.boolValue {
            let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
            files = names.filter { ImageFileSource.extensions.contains(($0 as NSString).pathExtension.lowercased()) }
                .sorted().map { (path as NSString).appendingPathComponent($0) }
            guard !files.isEmpty else { throw ImageError(file: path, reason: "no JPEG, PNG or PPM files in the folder") }
        } else {
            files = [path]
        }
    }


    public func next(timeout: Double, _ body: (Frame) throws -> Void) rethrows -> Bool {
        if state == .closed { return false }
        let start = MonotonicClock.nanoseconds()
        if due == 0 { due = start }
        if due > start {
            let wait = due - start
            let limit = UInt64(max(0, timeout) * 1e9)
            usleep(UInt32(min(wait, limit) / 1000))
            if wait > limit { return false }
        }
        let interval = UInt64(1e9 / fps)
        due += interval
        let now = MonotonicClock.nanoseconds()
        if due + interval < now { due = now }  // a slow consumer: do not burst to catch up
        let path = files[index]
        index = (index + 1) % files.count
        let image: RGBImage
        if let cached = images[path] {
            image = cached
        } else {
            do { image = try ImageDecoder.decode(path: path) } catch {
                counters.errors += 1
                if counters.errors >= UInt64(files.count), counters.frames == 0 {
                    state = .failed("no file could be decoded (last: \(error))")
                }
                return false
            }
            let cached = images.values.reduce(0) { $0 + $1.width * $1.height }
            if cached + image.width * image.height <= cachePixels { images[path] = image }
        }
        state = .streaming
        sequence += 1
        counters.frames += 1
        try image.pixels.withUnsafeBytes { raw in
            try body(Frame(format: .rgb24, width: image.width, height: image.height, bytesPerLine: image.width * 3,
                           bytes: raw, color: .default, timestamp: now, sequence: sequence))
        }
        return true
    }

    public func close() {
        images = [:]
        state = .closed
    }
}
