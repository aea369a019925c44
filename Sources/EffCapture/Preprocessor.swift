import CEffKernels

/// Turns an RGB image into the model's int8 input: centre crop of `cropFraction` of the
/// shorter side, bilinear resize to the model's size, normalisation (u - mean) / std, and
/// quantisation with the model's input scale and zero point.
/// Buffers are sized on first use for a given image size and reused after that.
public final class Preprocessor {
    public let width: Int
    public let height: Int
    public let cropFraction: Double
    private var table = [Int8](repeating: 0, count: 256)
    private var scratch: [UInt8] = []
    /// The resized RGB image of the last call: what the model sees, before quantisation.
    public private(set) var resized: [UInt8]

    public init(width: Int, height: Int, scale: Float, zeroPoint: Int32,
                mean: Float = 127, std: Float = 128, cropFraction: Double = 0.875) {
        precondition(width > 0 && height > 0, "Preprocessor: empty output size")
        self.width = width
        self.height = height
        self.cropFraction = cropFraction
        resized = [UInt8](repeating: 0, count: width * height * 3)
        effk_qs8_input_table(mean, std, scale, zeroPoint, &table)
    }

    /// The centre crop of an image, as (x, y, width, height).
    public func crop(width w: Int, height h: Int) -> (x: Int, y: Int, w: Int, h: Int) {
        // Square crop of the shorter side (as the reference preprocessing does), scaled to
        // the model's aspect ratio when the model input is not square.
        let side = max(1, Int(Double(min(w, h)) * cropFraction))
        var cw = side, ch = side
        if width != height {
            if width > height { ch = max(1, side * height / width) } else { cw = max(1, side * width / height) }
        }
        return ((w - cw) / 2, (h - ch) / 2, cw, ch)
    }

    /// Writes width × height × 3 int8 values into `output`.
    public func run(_ image: RGBImage, into output: UnsafeMutableBufferPointer<Int8>) {
        precondition(output.count == width * height * 3, "Preprocessor: output buffer size")
        let c = crop(width: image.width, height: image.height)
        let need = effk_rgb8_resize_scratch_size(Int32(c.w), Int32(c.h), Int32(width), Int32(height))
        if scratch.count < need { scratch = [UInt8](repeating: 0, count: need) }
        image.pixels.withUnsafeBufferPointer { src in
            resized.withUnsafeMutableBufferPointer { dst in
                scratch.withUnsafeMutableBytes { s in
                    effk_rgb8_resize_bilinear__scalar(src.baseAddress, Int32(image.width * 3), Int32(c.x), Int32(c.y),
                                                      Int32(c.w), Int32(c.h), dst.baseAddress, Int32(width), Int32(height),
                                                      s.baseAddress)
                }
            }
        }
        resized.withUnsafeBufferPointer { src in
            effk_u8_lookup_qs8__scalar(table, src.baseAddress, output.baseAddress, src.count)
        }
    }

    public func run(_ image: RGBImage) -> [Int8] {
        var out = [Int8](repeating: 0, count: width * height * 3)
        out.withUnsafeMutableBufferPointer { run(image, into: $0) }
        return out
    }
}
