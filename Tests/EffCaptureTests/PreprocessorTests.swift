import EffCapture
import Foundation
import XCTest

final class PreprocessorTests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let reference = root.appendingPathComponent("Tests/Fixtures/reference")

    func lite0(_ name: String, _ ext: String) throws -> Data {
        try Data(contentsOf: Self.reference.appendingPathComponent("efficientnet-lite0-int8__\(name).\(ext)"))
    }

    /// The bundled PNG samples are lossless, so crop + resize must equal the Pillow
    /// output that the reference vectors were made from, byte for byte.
    func testCropAndResizeMatchPillow() throws {
        for name in ["astronaut", "rocket"] {
            let image = try ImageDecoder.decode(path: Self.root.appendingPathComponent("samples/\(name).png").path)
            let pre = Preprocessor(width: 224, height: 224, scale: 1.0 / 128, zeroPoint: -1)
            let input = pre.run(image)
            let want = try lite0(name, "rgb.u8")
            let diff = zip(pre.resized, want).filter { $0 != $1 }.count
            XCTAssertEqual(diff, 0, "\(name): \(diff) of \(want.count) resized bytes differ from Pillow")
            let wantInput = try lite0(name, "input.i8").map { Int8(bitPattern: $0) }
            XCTAssertEqual(input, wantInput, "\(name): quantized input differs")
        }
    }

    /// Quantization alone: the reference RGB bytes → the reference int8 input, for all four photos.
    func testQuantizationMatchesReferenceInputs() throws {
        for name in ["chelsea", "coffee", "astronaut", "rocket"] {
            let rgb = try [UInt8](lite0(name, "rgb.u8"))
            let image = RGBImage(width: 224, height: 224, pixels: rgb)
            // A 224×224 image with crop fraction 1 is passed through unchanged.
            let pre = Preprocessor(width: 224, height: 224, scale: 1.0 / 128, zeroPoint: -1, cropFraction: 1)
            XCTAssertEqual(pre.run(image), try lite0(name, "input.i8").map { Int8(bitPattern: $0) }, name)
            XCTAssertEqual(pre.resized, rgb)
        }
    }

    func testCropIsCentredOnTheShorterSide() {
        let pre = Preprocessor(width: 224, height: 224, scale: 1, zeroPoint: 0)
        let c = pre.crop(width: 640, height: 480)
        XCTAssertEqual(c.w, 420); XCTAssertEqual(c.h, 420)
        XCTAssertEqual(c.x, 110); XCTAssertEqual(c.y, 30)
    }
}
