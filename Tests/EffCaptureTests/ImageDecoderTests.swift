import EffCapture
import Foundation
import XCTest

final class ImageDecoderTests: XCTestCase {
    static let samples = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("samples")

    func testDecodesBundledSamples() throws {
        for (file, w, h) in [("chelsea.jpg", 451, 300), ("coffee.jpg", 600, 400), ("astronaut.png", 512, 512), ("rocket.png", 640, 427)] {
            let image = try ImageDecoder.decode(path: Self.samples.appendingPathComponent(file).path)
            XCTAssertEqual(image.width, w, file); XCTAssertEqual(image.height, h, file)
            XCTAssertGreaterThan(Set(image.pixels).count, 100, "\(file) decoded to a nearly flat image")
        }
    }

    /// PPM decoding agrees with PNG decoding of the same pixels.
    func testPPMMatchesPNGPixels() throws {
        let png = try ImageDecoder.decode(path: Self.samples.appendingPathComponent("rocket.png").path)
        var ppm = Data("P6\n# made by a test\n\(png.width) \(png.height)\n255\n".utf8)
        ppm.append(contentsOf: png.pixels)
        let decoded = try ImageDecoder.decode(ppm, name: "rocket.ppm")
        XCTAssertEqual(decoded.pixels, png.pixels)
        XCTAssertEqual(decoded.width, png.width)
    }

    /// Truncated and corrupted files give an error that names the file; never a crash.
    func testDamagedFilesAreErrors() throws {
        for file in ["chelsea.jpg", "astronaut.png"] {
            let data = try Data(contentsOf: Self.samples.appendingPathComponent(file))
            for cut in [0, 3, 8, 40, 200] {
                XCTAssertThrowsError(try ImageDecoder.decode(data.prefix(cut), name: "cut-\(file)")) { e in
                    XCTAssertTrue("\(e)".contains("cut-\(file)"), "\(e)")
                }
            }
            // Fixed seed (SplitMix64), so a failure reproduces.
            var state: UInt64 = 0x5EED
            func next() -> UInt64 {
                state &+= 0x9E37_79B9_7F4A_7C15
                var z = state
                z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
                z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
                return z ^ (z >> 31)
            }
            for _ in 0..<50 {
                var bad = data
                for _ in 0..<8 { bad[Int(next() % UInt64(bad.count))] = UInt8(truncatingIfNeeded: next()) }
                // Either decodes (corruption in pixel data) or throws; must not crash.
                _ = try? ImageDecoder.decode(bad, name: "bad")
            }
        }
        XCTAssertThrowsError(try ImageDecoder.decode(Data("P6\n100000 100000\n255\n".utf8), name: "huge.ppm"))
        XCTAssertThrowsError(try ImageDecoder.decode(Data("P6\n4 4\n255\nabc".utf8), name: "short.ppm")) { e in
            XCTAssertTrue("\(e)".contains("truncated"), "\(e)")
        }
        XCTAssertThrowsError(try ImageDecoder.decode(Data("GIF89a".utf8), name: "x.gif")) { e in
            XCTAssertTrue("\(e)".contains("x.gif"), "\(e)")
        }
    }
}
