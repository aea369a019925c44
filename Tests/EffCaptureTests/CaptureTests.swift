import CEffKernels
@testable import EffCapture
import Foundation
import XCTest

/// What runs without a camera: image-file sources, format negotiation, and the fused
/// frame conversion against a float reference (the VM tests do the same on vivid's frames).
final class ImageFileSourceTests: XCTestCase {
    static let samples = PreprocessorTests.root.appendingPathComponent("samples").path

    func testFolderLoopsInNameOrder() throws {
        let src = try ImageFileSource(path: Self.samples, fps: 200)
        XCTAssertEqual(src.files.map { ($0 as NSString).lastPathComponent }, ["astronaut.png", "chelsea.jpg", "coffee.jpg", "rocket.png"])
        var seen: [(Int, Int, UInt64)] = []
        while seen.count < 6 {
            _ = src.next(timeout: 1) { f in
                XCTAssertEqual(f.format, .rgb24)
                XCTAssertEqual(f.bytes.count, f.width * f.height * 3)
                seen.append((f.width, f.height, f.sequence))
            }
        }
        XCTAssertEqual(seen.map { $0.2 }, [1, 2, 3, 4, 5, 6])
        XCTAssertEqual(seen[0].0, seen[4].0)  // looped back to the first file
        XCTAssertEqual(seen[1].1, seen[5].1)
        XCTAssertEqual(src.state, .streaming)
        XCTAssertEqual(src.counters.frames, 6)
        src.close()
        XCTAssertEqual(src.state, .closed)
        XCTAssertFalse(src.next(timeout: 0) { _ in XCTFail("frame after close") })
    }

    func testFrameRateIsKept() throws {
        let src = try ImageFileSource(path: Self.samples + "/rocket.png", fps: 40)
        let start = Date()
        var n = 0
        while n < 9 { if src.next(timeout: 1, { _ in }) { n += 1 } }
        // 9 frames at 40 fps: the first at once, then 8 intervals of 25 ms.
        XCTAssertGreaterThanOrEqual(Date().timeIntervalSince(start), 0.19)
    }

    func testShortTimeoutReturnsWithoutAFrame() throws {
        let src = try ImageFileSource(path: Self.samples + "/rocket.png", fps: 2)
        XCTAssertTrue(src.next(timeout: 1) { _ in })
        XCTAssertFalse(src.next(timeout: 0.01) { _ in XCTFail("too early") })
    }

    func testMissingOrEmptyFolderThrows() throws {
        XCTAssertThrowsError(try ImageFileSource(path: "/nonexistent/folder"))
        let empty = FileManager.default.temporaryDirectory.appendingPathComponent("effnetd-empty-\(getpid())")
        try FileManager.default.createDirectory(at: empty, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: empty) }
        XCTAssertThrowsError(try ImageFileSource(path: empty.path))
    }

    func testUndecodableFilesAreCountedAndSkipped() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("effnetd-bad-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try Data("not a png".utf8).write(to: dir.appendingPathComponent("a.png"))
        try FileManager.default.copyItem(atPath: Self.samples + "/rocket.png", toPath: dir.appendingPathComponent("b.png").path)
        let src = try ImageFileSource(path: dir.path, fps: 500)
        var frames = 0
        for _ in 0..<4 { if src.next(timeout: 1, { _ in }) { frames += 1 } }
        XCTAssertEqual(frames, 2)
        XCTAssertEqual(src.counters.errors, 2)
    }
}

final class CameraModesTests: XCTestCase {
    typealias I = ModeOffer.Interval
    let fps = [I(1, 30), I(1, 15), I(1, 5)]

    func offer(_ f: PixelFormat, _ w: Int, _ h: Int, emulated: Bool = false) -> ModeOffer {
        ModeOffer(fourcc: f.fourcc, width: w, height: h, intervals: fps, compressed: f == .mjpeg, emulated: emulated)
    }

    func testExactSizeCheapestFormat() {
        let offers = [offer(.mjpeg, 640, 480), offer(.yuyv, 640, 480), offer(.nv12, 640, 480), offer(.yuyv, 1280, 720)]
        let c = CameraModes.negotiate(offers, CaptureRequest(width: 640, height: 480, fps: 15))
        XCTAssertEqual(c, CaptureChoice(format: .nv12, width: 640, height: 480, interval: I(1, 15)))
    }

    func testMJPEGOnlyWhenNothingElseAtThatSize() {
        let offers = [offer(.yuyv, 640, 480), offer(.mjpeg, 1280, 720), offer(.yuyv, 320, 240)]
        XCTAssertEqual(CameraModes.negotiate(offers, CaptureRequest(width: 1280, height: 720))?.format, .mjpeg)
        XCTAssertEqual(CameraModes.negotiate(offers + [offer(.yuyv, 1280, 720)], CaptureRequest(width: 1280, height: 720))?.format, .yuyv)
    }

    func testSmallestCoveringSizeThenLargestSmaller() {
        let offers = [offer(.yuyv, 320, 240), offer(.yuyv, 1920, 1080), offer(.yuyv, 1280, 720)]
        let c = CameraModes.negotiate(offers, CaptureRequest(width: 800, height: 600))
        XCTAssertEqual(c.map { [$0.width, $0.height] }, [1280, 720])
        let small = CameraModes.negotiate([offer(.yuyv, 320, 240), offer(.yuyv, 160, 120)], CaptureRequest(width: 800, height: 600))
        XCTAssertEqual(small.map { [$0.width, $0.height] }, [320, 240])
    }

    func testRequestedFormatEmulatedAndUnknown() {
        let offers = [offer(.nv12, 640, 480, emulated: true), ModeOffer(fourcc: PixelFormat.code("H264"), width: 640, height: 480),
                      offer(.yuyv, 640, 480), offer(.grey, 640, 480)]
        XCTAssertEqual(CameraModes.negotiate(offers, CaptureRequest())?.format, .yuyv)
        XCTAssertEqual(CameraModes.negotiate(offers, CaptureRequest(format: .grey))?.format, .grey)
        XCTAssertNil(CameraModes.negotiate(offers, CaptureRequest(format: .rgb24)))
        XCTAssertNil(CameraModes.negotiate([], CaptureRequest()))
    }

    func testFrameRateAtOrAboveRequestFirst() {
        let o = [offer(.yuyv, 640, 480)]
        XCTAssertEqual(CameraModes.negotiate(o, CaptureRequest(fps: 10))?.interval, I(1, 15))
        XCTAssertEqual(CameraModes.negotiate(o, CaptureRequest(fps: 60))?.interval, I(1, 30))
        XCTAssertEqual(CameraModes.negotiate(o, CaptureRequest(fps: 5))?.interval, I(1, 5))
    }

    func testFourccNames() {
        XCTAssertEqual(PixelFormat.yuyv.fourcc, 0x5659_5559)
        XCTAssertEqual(PixelFormat(name: "RGB3"), .rgb24)
        XCTAssertEqual(PixelFormat(name: "mjpeg"), .mjpeg)
        XCTAssertEqual(PixelFormat.name(PixelFormat.nv12.fourcc), "NV12")
    }

    func testColorEncodingFromDriverFields() {
        // (colorspace, ycbcr_enc, quantization) as videodev2.h numbers them.
        XCTAssertEqual(V4L2Camera.colorEncoding(colorspace: 8, ycbcrEnc: 0, quantization: 0), ColorEncoding(matrix: .bt601, fullRange: false))  // sRGB
        XCTAssertEqual(V4L2Camera.colorEncoding(colorspace: 3, ycbcrEnc: 0, quantization: 0), ColorEncoding(matrix: .bt709, fullRange: false))  // Rec.709
        XCTAssertEqual(V4L2Camera.colorEncoding(colorspace: 7, ycbcrEnc: 0, quantization: 0), ColorEncoding(matrix: .bt601, fullRange: true))  // JPEG
        XCTAssertEqual(V4L2Camera.colorEncoding(colorspace: 8, ycbcrEnc: 2, quantization: 1), ColorEncoding(matrix: .bt709, fullRange: true))
    }
}

final class FrameConverterTests: XCTestCase {
    /// Deterministic pseudo-random bytes, smooth enough to look like an image.
    static func bytes(_ n: Int, seed: UInt64) -> [UInt8] {
        var s = seed, out = [UInt8](repeating: 0, count: n)
        for i in 0..<n {
            s = s &* 6364136223846793005 &+ 1442695040888963407
            out[i] = UInt8(truncatingIfNeeded: (s >> 33) % 200) &+ UInt8(truncatingIfNeeded: i % 56)
        }
        return out
    }

    /// Textbook Y'CbCr → RGB in doubles, reading each layout on its own.
    static func reference(_ f: Frame) -> RGBImage {
        let w = f.width, h = f.height, bpl = f.bytesPerLine
        let b = Array(f.bytes)
        var px = [UInt8](repeating: 0, count: w * h * 3)
        let (kr, kb) = f.color.matrix == .bt709 ? (0.2126, 0.0722) : (0.299, 0.114)
        let full = f.color.fullRange
        func c(_ x: Double) -> UInt8 { UInt8(max(0, min(255, x.rounded()))) }
        for y in 0..<h {
            for x in 0..<w {
                var yv = 0, u = 128, v = 128
                switch f.format {
                case .rgb24:
                    for k in 0..<3 { px[(y * w + x) * 3 + k] = b[y * bpl + 3 * x + k] }
                    continue
                case .grey:
                    for k in 0..<3 { px[(y * w + x) * 3 + k] = b[y * bpl + x] }
                    continue
                case .yuyv: let p = y * bpl + (x / 2) * 4; yv = Int(b[p + (x % 2) * 2]); u = Int(b[p + 1]); v = Int(b[p + 3])
                case .uyvy: let p = y * bpl + (x / 2) * 4; yv = Int(b[p + (x % 2) * 2 + 1]); u = Int(b[p]); v = Int(b[p + 2])
                case .nv12, .nv21:
                    let p = bpl * h + (y / 2) * bpl + (x / 2) * 2
                    yv = Int(b[y * bpl + x])
                    (u, v) = f.format == .nv12 ? (Int(b[p]), Int(b[p + 1])) : (Int(b[p + 1]), Int(b[p]))
                case .yu12, .yv12:
                    let cs = bpl / 2, p1 = bpl * h, p2 = p1 + cs * ((h + 1) / 2), i = (y / 2) * cs + x / 2
                    yv = Int(b[y * bpl + x])
                    (u, v) = f.format == .yu12 ? (Int(b[p1 + i]), Int(b[p2 + i])) : (Int(b[p2 + i]), Int(b[p1 + i]))
                default: XCTFail("no reference for \(f.format)")
                }
                let Y = full ? Double(yv) : (Double(yv) - 16) * 255 / 219
                let cb = (Double(u) - 128) * (full ? 1 : 255.0 / 224), cr = (Double(v) - 128) * (full ? 1 : 255.0 / 224)
                let R = Y + 2 * (1 - kr) * cr, B = Y + 2 * (1 - kb) * cb, G = (Y - kr * R - kb * B) / (1 - kr - kb)
                px[(y * w + x) * 3] = c(R); px[(y * w + x) * 3 + 1] = c(G); px[(y * w + x) * 3 + 2] = c(B)
            }
        }
        return RGBImage(width: w, height: h, pixels: px)
    }

    static func frameBytes(_ f: PixelFormat, _ w: Int, _ h: Int, _ bpl: Int) -> Int {
        switch f {
        case .yuyv, .uyvy, .rgb24, .bgr24, .grey: return bpl * h
        case .nv12, .nv21: return bpl * h + bpl * ((h + 1) / 2)
        case .yu12, .yv12: return bpl * h + 2 * (bpl / 2) * ((h + 1) / 2)
        case .mjpeg: return 0
        }
    }

    func check(_ format: PixelFormat, _ w: Int, _ h: Int, color: ColorEncoding = .default, pad: Int = 0) throws {
        let bpl = (format == .yuyv || format == .uyvy ? 2 * w : format == .rgb24 ? 3 * w : w) + pad
        let data = Self.bytes(Self.frameBytes(format, w, h, bpl), seed: UInt64(w * 31 + h + Int(format.fourcc)))
        let conv = FrameConverter(width: 224, height: 224, scale: 1.0 / 128, zeroPoint: -1)
        let pre = Preprocessor(width: 224, height: 224, scale: 1.0 / 128, zeroPoint: -1)
        try data.withUnsafeBytes { raw in
            let frame = Frame(format: format, width: w, height: h, bytesPerLine: bpl, bytes: raw, color: color, timestamp: 0, sequence: 1)
            let got = try conv.convert(frame)
            let want = pre.run(Self.reference(frame))
            let worst = zip(got, want).map { abs(Int($0) - Int($1)) }.max()!
            let name = "\(format) \(w)×\(h) \(color)"
            if format == .rgb24 || format == .grey {
                XCTAssertEqual(got, want, "\(name): not byte-identical to Preprocessor")
            } else {
                XCTAssertLessThanOrEqual(worst, 1, name)
            }
            // The dispatching entry point and the scalar twin give the same bytes.
            var f = FrameConverter.describe(frame)!
            let c = conv.crop(width: w, height: h)
            var table = [Int8](repeating: 0, count: 256)
            effk_qs8_input_table(127, 128, 1.0 / 128, -1, &table)
            var twin = [Int8](repeating: 0, count: got.count)
            var scratch = [UInt8](repeating: 0, count: effk_frame_to_qs8_scratch_size(Int32(c.w), Int32(c.h), 224, 224))
            effk_frame_to_qs8__scalar(&f, Int32(c.x), Int32(c.y), Int32(c.w), Int32(c.h), table, &twin, nil, 224, 224, &scratch)
            XCTAssertEqual(twin, got, name)
        }
    }

    func testEveryFormatAgainstFloatReference() throws {
        for f: PixelFormat in [.yuyv, .uyvy, .nv12, .nv21, .yu12, .yv12, .grey, .rgb24] {
            try check(f, 320, 240)
            try check(f, 226, 230, pad: 6)  // crop = output size on one axis: Pillow's skipped pass
        }
    }

    func testBT709AndFullRange() throws {
        try check(.yuyv, 320, 180, color: ColorEncoding(matrix: .bt709, fullRange: false))
        try check(.nv12, 320, 180, color: ColorEncoding(matrix: .bt709, fullRange: true))
        try check(.yu12, 320, 180, color: ColorEncoding(matrix: .bt601, fullRange: true))
    }

    func testShortBufferIsRefused() throws {
        let data = [UInt8](repeating: 0, count: 100)
        let conv = FrameConverter(width: 224, height: 224, scale: 1.0 / 128, zeroPoint: -1)
        try data.withUnsafeBytes { raw in
            let frame = Frame(format: .yuyv, width: 64, height: 64, bytesPerLine: 128, bytes: raw, timestamp: 0, sequence: 0)
            XCTAssertThrowsError(try conv.convert(frame))
        }
    }

    func testMJPEGScaledDecodeAndCorruptFrames() throws {
        let jpeg = try [UInt8](Data(contentsOf: URL(fileURLWithPath: ImageFileSourceTests.samples + "/chelsea.jpg")))
        let conv = FrameConverter(width: 224, height: 224, scale: 1.0 / 128, zeroPoint: -1)
        // chelsea.jpg is 451×300: scaled 7/8 (395×263) its 87.5 % crop (230) still covers 224; 3/4 would not.
        XCTAssertTrue(conv.jpegScale(width: 451, height: 300) == (7, 8))
        XCTAssertEqual(conv.jpegScale(width: 1920, height: 1080).num * 4, conv.jpegScale(width: 1920, height: 1080).denom)  // 1/4: 480×270
        try jpeg.withUnsafeBytes { raw in
            let frame = Frame(format: .mjpeg, width: 451, height: 300, bytesPerLine: 0, bytes: raw, timestamp: 0, sequence: 0)
            let got = try conv.convert(frame)
            let want = Preprocessor(width: 224, height: 224, scale: 1.0 / 128, zeroPoint: -1).run(try ImageDecoder.decode(Data(jpeg)))
            // Decoded at 7/8 scale vs full size then resized: close, not identical.
            let mean = zip(got, want).map { abs(Double($0) - Double($1)) }.reduce(0, +) / Double(got.count)
            XCTAssertLessThan(mean, 4)
        }
        var corrupt = jpeg
        for i in stride(from: 600, to: corrupt.count, by: 7) { corrupt[i] = 0xFF }
        let truncated = Array(jpeg.prefix(jpeg.count / 3))
        for bad in [corrupt, truncated, [0xFF, 0xD8, 0xFF, 0x00]] {
            try bad.withUnsafeBytes { raw in
                let frame = Frame(format: .mjpeg, width: 451, height: 300, bytesPerLine: 0, bytes: raw, timestamp: 0, sequence: 0)
                XCTAssertThrowsError(try conv.convert(frame))
            }
        }
    }
}
