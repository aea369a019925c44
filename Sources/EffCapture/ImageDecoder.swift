import CPNG
import CTurboJPEG
import Foundation

/// A packed 8-bit RGB image (3 bytes a pixel, rows without padding).
public struct RGBImage: Sendable {
    public var width: Int
    public var height: Int
    public var pixels: [UInt8]

    public init(width: Int, height: Int, pixels: [UInt8]) {
        precondition(pixels.count == width * height * 3, "RGBImage: pixel count does not match size")
        self.width = width
        self.height = height
        self.pixels = pixels
    }
}

public struct ImageError: Error, CustomStringConvertible {
    public var file: String
    public var reason: String
    public init(file: String, reason: String) { self.file = file; self.reason = reason }
    public var description: String { "\(file): \(reason)" }
}

/// Decodes JPEG (libturbojpeg), PNG (libpng) and binary PPM/PGM, chosen by the file's
/// first bytes, not its name.
public enum ImageDecoder {
    /// Images larger than this are refused before any pixel buffer is allocated.
    public static let maxPixels = 100_000_000

    public static func decode(path: String) throws -> RGBImage {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ImageError(file: path, reason: "cannot read the file")
        }
        return try decode(data, name: path)
    }

    public static func decode(_ data: Data, name: String = "image") throws -> RGBImage {
        let bytes = [UInt8](data.prefix(8))
        if bytes.starts(with: [0xFF, 0xD8, 0xFF]) { return try decodeJPEG(data, name: name) }
        if bytes.starts(with: [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) { return try decodePNG(data, name: name) }
        if bytes.count >= 2, bytes[0] == UInt8(ascii: "P"), bytes[1] == UInt8(ascii: "6") || bytes[1] == UInt8(ascii: "5") {
            return try decodePNM(data, name: name)
        }
        throw ImageError(file: name, reason: "not a JPEG, PNG or binary PPM/PGM file (first bytes \(bytes.prefix(4).map { String(format: "%02x", $0) }.joined(separator: " ")))")
    }

    static func checkSize(_ w: Int, _ h: Int, _ name: String) throws {
        guard w > 0, h > 0, w <= maxPixels / h else {
            throw ImageError(file: name, reason: "image size \(w)×\(h) is empty or larger than \(maxPixels) pixels")
        }
    }

    static func decodeJPEG(_ data: Data, name: String) throws -> RGBImage {
        guard let handle = tjInitDecompress() else { throw ImageError(file: name, reason: "cannot initialise libturbojpeg") }
        defer { tjDestroy(handle) }
        func message() -> String { String(cString: tjGetErrorStr2(handle)) }
        return try data.withUnsafeBytes { raw -> RGBImage in
            let src = raw.bindMemory(to: UInt8.self).baseAddress!
            var w: Int32 = 0, h: Int32 = 0, subsamp: Int32 = 0, colorspace: Int32 = 0
            guard tjDecompressHeader3(handle, src, UInt(raw.count), &w, &h, &subsamp, &colorspace) == 0 else {
                throw ImageError(file: name, reason: "JPEG header: \(message())")
            }
            try checkSize(Int(w), Int(h), name)
            var pixels = [UInt8](repeating: 0, count: Int(w) * Int(h) * 3)
            let rc = pixels.withUnsafeMutableBufferPointer {
                tjDecompress2(handle, src, UInt(raw.count), $0.baseAddress, w, 0, h, Int32(TJPF_RGB.rawValue), Int32(TJFLAG_ACCURATEDCT))
            }
            // A warning (e.g. premature end of data) still yields an image; an error does not.
            if rc != 0, tjGetErrorCode(handle) == Int32(TJERR_FATAL.rawValue) {
                throw ImageError(file: name, reason: "JPEG data: \(message())")
            }
            return RGBImage(width: Int(w), height: Int(h), pixels: pixels)
        }
    }

    static func decodePNG(_ data: Data, name: String) throws -> RGBImage {
        var image = png_image()
        image.version = UInt32(PNG_IMAGE_VERSION)
        defer { png_image_free(&image) }
        func message() -> String {
            withUnsafeBytes(of: image.message) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
        }
        return try data.withUnsafeBytes { raw -> RGBImage in
            guard png_image_begin_read_from_memory(&image, raw.baseAddress, raw.count) != 0 else {
                throw ImageError(file: name, reason: "PNG: \(message())")
            }
            try checkSize(Int(image.width), Int(image.height), name)
            image.format = UInt32(PNG_FORMAT_RGB)
            var pixels = [UInt8](repeating: 0, count: Int(image.width) * Int(image.height) * 3)
            // Transparent pixels are composited onto white, as image viewers show them.
            var white = png_color(red: 255, green: 255, blue: 255)
            let ok = pixels.withUnsafeMutableBytes {
                png_image_finish_read(&image, &white, $0.baseAddress, 0, nil)
            }
            guard ok != 0 else { throw ImageError(file: name, reason: "PNG: \(message())") }
            return RGBImage(width: Int(image.width), height: Int(image.height), pixels: pixels)
        }
    }

    /// Binary PPM (P6) and PGM (P5), maxval up to 65535.
    static func decodePNM(_ data: Data, name: String) throws -> RGBImage {
        let bytes = [UInt8](data)
        var pos = 2
        func field(_ what: String) throws -> Int {
            // Whitespace and '#' comments separate header fields.
            while pos < bytes.count {
                if bytes[pos] == UInt8(ascii: "#") {
                    while pos < bytes.count, bytes[pos] != 0x0A { pos += 1 }
                } else if [0x20, 0x09, 0x0A, 0x0D].contains(bytes[pos]) {
                    pos += 1
                } else { break }
            }
            var value = 0, digits = 0
            while pos < bytes.count, bytes[pos] >= 0x30, bytes[pos] <= 0x39, digits < 9 {
                value = value * 10 + Int(bytes[pos] - 0x30); pos += 1; digits += 1
            }
            guard digits > 0 else { throw ImageError(file: name, reason: "PNM header: bad \(what) at byte \(pos)") }
            return value
        }
        let color = bytes[1] == UInt8(ascii: "6")
        let w = try field("width"), h = try field("height"), maxval = try field("maxval")
        guard maxval > 0, maxval < 65536 else { throw ImageError(file: name, reason: "PNM header: maxval \(maxval) out of range") }
        try checkSize(w, h, name)
        pos += 1  // the single whitespace byte before the raster
        let channels = color ? 3 : 1, sampleBytes = maxval > 255 ? 2 : 1
        let need = w * h * channels * sampleBytes
        guard pos + need <= bytes.count else {
            throw ImageError(file: name, reason: "PNM raster truncated: needs \(need) bytes from byte \(pos), file has \(bytes.count)")
        }
        var pixels = [UInt8](repeating: 0, count: w * h * 3)
        for i in 0..<(w * h * channels) {
            let s = sampleBytes == 2 ? Int(bytes[pos + 2 * i]) << 8 | Int(bytes[pos + 2 * i + 1]) : Int(bytes[pos + i])
            let v = UInt8((s * 255 + maxval / 2) / maxval)
            if color { pixels[i] = v } else { pixels[3 * i] = v; pixels[3 * i + 1] = v; pixels[3 * i + 2] = v }
        }
        return RGBImage(width: w, height: h, pixels: pixels)
    }
}
