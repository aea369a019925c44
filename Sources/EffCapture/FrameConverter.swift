import CEffKernels
import CTurboJPEG
import Foundation

public struct ConvertError: Error, CustomStringConvertible {
    public var description: String
    public init(_ d: String) { description = d }
}

/// Turns a camera `Frame` into the model's int8 input in one pass (`effk_frame_to_qs8`):
/// colour conversion, the same centre crop and Pillow-exact bilinear resize as
/// `Preprocessor`, and quantisation. MJPEG frames are decoded by libturbojpeg straight to
/// the smallest scaled size whose crop still covers the model input, then take the RGB path.
/// Buffers are sized on first use and reused; one converter per camera thread.
public final class FrameConverter {
    public let width: Int
    public let height: Int
    public let cropFraction: Double
    private var table = [Int8](repeating: 0, count: 256)
    private var scratch: [UInt8] = []
    private var jpegPixels: [UInt8] = []
    private var jpeg: tjhandle?
    private let crops: Preprocessor
    /// The resized RGB image of the last conversion: what the model sees, before quantisation.
    public private(set) var resized: [UInt8]

    public init(width: Int, height: Int, scale: Float, zeroPoint: Int32,
                mean: Float = 127, std: Float = 128, cropFraction: Double = 0.875) {
        self.width = width
        self.height = height
        self.cropFraction = cropFraction
        crops = Preprocessor(width: width, height: height, scale: scale, zeroPoint: zeroPoint,
                             mean: mean, std: std, cropFraction: cropFraction)
        resized = [UInt8](repeating: 0, count: width * height * 3)
        effk_qs8_input_table(mean, std, scale, zeroPoint, &table)
    }

    deinit { if let jpeg { tjDestroy(jpeg) } }

    /// The C description of a frame's planes (nil: the buffer is too small for its format).
    public static func describe(_ frame: Frame) -> effk_frame? {
        guard let base = frame.bytes.baseAddress?.assumingMemoryBound(to: UInt8.self),
              frame.width > 0, frame.height > 0, frame.width % 2 == 0 || !frame.format.isSubsampled else { return nil }
        let w = frame.width, h = frame.height, bpl = frame.bytesPerLine
        var f = effk_frame()
        f.width = Int32(w); f.height = Int32(h)
        f.matrix = frame.color.matrix.rawValue
        f.full_range = frame.color.fullRange ? 1 : 0
        let ch = (h + 1) / 2
        switch frame.format {
        case .rgb24, .bgr24, .grey, .yuyv, .uyvy:
            let minBpl = frame.format == .grey ? w : frame.format == .yuyv || frame.format == .uyvy ? 2 * w : 3 * w
            guard bpl >= minBpl else { return nil }
            f.format = Int32(frame.format == .rgb24 ? EFFK_PIX_RGB24.rawValue : frame.format == .bgr24 ? EFFK_PIX_BGR24.rawValue :
                             frame.format == .grey ? EFFK_PIX_GREY.rawValue : frame.format == .yuyv ? EFFK_PIX_YUYV.rawValue : EFFK_PIX_UYVY.rawValue)
            f.plane = (base, nil, nil)
            f.stride = (Int32(bpl), 0, 0)
        case .nv12, .nv21:
            guard bpl >= w else { return nil }
            f.format = Int32(frame.format == .nv12 ? EFFK_PIX_NV12.rawValue : EFFK_PIX_NV21.rawValue)
            f.plane = (base, base + bpl * h, nil)
            f.stride = (Int32(bpl), Int32(bpl), 0)
        case .yu12, .yv12:
            guard bpl >= w else { return nil }
            let cbpl = bpl / 2
            let first = base + bpl * h, second = first + cbpl * ch
            f.format = Int32(frame.format == .yu12 ? EFFK_PIX_YU12.rawValue : EFFK_PIX_YV12.rawValue)
            f.plane = frame.format == .yu12 ? (base, first, second) : (base, second, first)
            f.stride = (Int32(bpl), Int32(cbpl), Int32(cbpl))
        case .mjpeg:
            return nil
        }
        // A plain sum: a map here allocated an array on every frame.
        let need = effk_frame_plane_bytes(&f, 0) + effk_frame_plane_bytes(&f, 1) + effk_frame_plane_bytes(&f, 2)
        return need <= frame.bytes.count ? f : nil
    }

    /// The centre crop of a frame of this size, as `Preprocessor.crop` computes it.
    public func crop(width w: Int, height h: Int) -> (x: Int, y: Int, w: Int, h: Int) { crops.crop(width: w, height: h) }

    /// Writes width × height × 3 int8 values into `output`. Throws for a corrupt JPEG or a
    /// buffer too short for its format (the caller skips and counts the frame).
    public func convert(_ frame: Frame, into output: UnsafeMutableBufferPointer<Int8>) throws {
        precondition(output.count == width * height * 3, "FrameConverter: output buffer size")
        if frame.format == .mjpeg {
            let image = try decodeJPEG(frame.bytes)
            try image.pixels.withUnsafeBytes { raw in
                let rgb = Frame(format: .rgb24, width: image.width, height: image.height, bytesPerLine: image.width * 3,
                                bytes: raw, timestamp: frame.timestamp, sequence: frame.sequence)
                try convert(rgb, into: output)
            }
            return
        }
        guard var f = FrameConverter.describe(frame) else {
            throw ConvertError("\(frame.format.fourccName) \(frame.width)×\(frame.height) frame: \(frame.bytes.count) bytes is too short (bytes per line \(frame.bytesPerLine))")
        }
        let c = crop(width: frame.width, height: frame.height)
        let need = effk_frame_to_qs8_scratch_size(Int32(c.w), Int32(c.h), Int32(width), Int32(height))
        if scratch.count < need { scratch = [UInt8](repeating: 0, count: need) }
        resized.withUnsafeMutableBufferPointer { rgb in
            scratch.withUnsafeMutableBytes { s in
                effk_frame_to_qs8(&f, Int32(c.x), Int32(c.y), Int32(c.w), Int32(c.h), table, output.baseAddress,
                                  rgb.baseAddress, Int32(width), Int32(height), s.baseAddress)
            }
        }
    }

    public func convert(_ frame: Frame) throws -> [Int8] {
        var out = [Int8](repeating: 0, count: width * height * 3)
        try out.withUnsafeMutableBufferPointer { try convert(frame, into: $0) }
        return out
    }

    /// The smallest libturbojpeg scaling factor whose centre crop still covers the model input.
    public func jpegScale(width w: Int, height h: Int) -> (num: Int, denom: Int) {
        var count: Int32 = 0
        guard let factors = tjGetScalingFactors(&count), count > 0 else { return (1, 1) }
        var best = (num: 1, denom: 1, pixels: w * h)
        for i in 0..<Int(count) {
            let n = Int(factors[i].num), d = Int(factors[i].denom)
            guard n <= d else { continue }  // never upscale
            let sw = (w * n + d - 1) / d, sh = (h * n + d - 1) / d
            let c = crop(width: sw, height: sh)
            if c.w >= width, c.h >= height, sw * sh < best.pixels { best = (n, d, sw * sh) }
        }
        return (best.num, best.denom)
    }

    /// Scaled decode of one JPEG frame (any libturbojpeg error, warnings included, is corrupt).
    func decodeJPEG(_ bytes: UnsafeRawBufferPointer) throws -> RGBImage {
        if jpeg == nil { jpeg = tjInitDecompress() }
        guard let handle = jpeg, let src = bytes.baseAddress?.assumingMemoryBound(to: UInt8.self) else {
            throw ConvertError("cannot initialise libturbojpeg")
        }
        var w: Int32 = 0, h: Int32 = 0, subsamp: Int32 = 0, cs: Int32 = 0
        guard tjDecompressHeader3(handle, src, UInt(bytes.count), &w, &h, &subsamp, &cs) == 0, w > 0, h > 0,
              Int(w) * Int(h) <= ImageDecoder.maxPixels else {
            throw ConvertError("corrupt JPEG frame: \(String(cString: tjGetErrorStr2(handle)))")
        }
        let s = jpegScale(width: Int(w), height: Int(h))
        let sw = (Int(w) * s.num + s.denom - 1) / s.denom, sh = (Int(h) * s.num + s.denom - 1) / s.denom
        if jpegPixels.count != sw * sh * 3 { jpegPixels = [UInt8](repeating: 0, count: sw * sh * 3) }
        let rc = jpegPixels.withUnsafeMutableBufferPointer {
            tjDecompress2(handle, src, UInt(bytes.count), $0.baseAddress, Int32(sw), 0, Int32(sh), Int32(TJPF_RGB.rawValue), 0)
        }
        guard rc == 0 else { throw ConvertError("corrupt JPEG frame: \(String(cString: tjGetErrorStr2(handle)))") }
        return RGBImage(width: sw, height: sh, pixels: jpegPixels)
    }
}

extension PixelFormat {
    /// Chroma at half horizontal resolution: such frames need an even width.
    var isSubsampled: Bool {
        switch self {
        case .yuyv, .uyvy, .nv12, .nv21, .yu12, .yv12: return true
        default: return false
        }
    }
}
