import EffWire
import XCTest

final class WireTests: XCTestCase {
    func parse(_ s: String) throws -> ClientMessage { try ClientMessage.parse(Array(s.utf8)) }

    func error(_ s: String) -> String? {
        do { _ = try parse(s); return nil } catch let e as ErrorMessage { return e.message } catch { return "\(error)" }
    }

    func testSubscribeFields() throws {
        XCTAssertEqual(try parse(#"{"type":"subscribe"}"#), .subscribe(Subscribe()))
        XCTAssertEqual(try parse(#"{"type":"subscribe","cameras":["a","b"],"top_k":3,"min_score":0.25,"future":1}"#),
                       .subscribe(Subscribe(cameras: ["a", "b"], topK: 3, minScore: 0.25)))
        XCTAssertEqual(try parse(#"{"type":"status"}"#), .status)
        XCTAssertEqual(try parse(#"{"type":"reload"}"#), .reload)
    }

    func testErrorsSayWhatIsWrong() {
        let cases: [(String, String)] = [
            ("{", "not valid JSON"), ("", "not valid JSON"), ("[1]", "expected a JSON object"), ("42", "expected a JSON object"),
            (#"{"cameras":[]}"#, "missing \"type\""), (#"{"type":7}"#, "\"type\" must be a string"),
            (#"{"type":"dance"}"#, "unknown type \"dance\""),
            (#"{"type":"subscribe","top_k":true}"#, "\"top_k\" must be"), (#"{"type":"subscribe","top_k":0}"#, "\"top_k\" must be"),
            (#"{"type":"subscribe","top_k":2.5}"#, "\"top_k\" must be"), (#"{"type":"subscribe","min_score":2}"#, "\"min_score\" must be"),
            (#"{"type":"subscribe","cameras":"front"}"#, "\"cameras\" must be an array of strings"),
            (#"{"type":"subscribe","cameras":[1]}"#, "\"cameras\" must be"),
        ]
        for (line, want) in cases {
            let got = error(line)
            XCTAssertNotNil(got, line)
            XCTAssertTrue(got?.contains(want) == true, "\(line): \(got ?? "accepted")")
        }
        XCTAssertTrue(error(String(repeating: " ", count: Wire.maxLineBytes + 1))?.contains("over the limit") == true)
    }

    func testPredictionRoundTripAndKeyOrder() throws {
        let p = Prediction(camera: "front", seq: 7, capturedAt: RFC3339.format(unixNanoseconds: 1_795_000_000_123_000_000),
                           latencyMs: 12.5, inferenceMs: 4.25, top: [TopClass(class: 282, label: "tiger cat", score: 0.5)])
        let line = p.line
        XCTAssertTrue(line.hasPrefix(#"{"type":"prediction","camera":"front","seq":7,"#), line)
        XCTAssertFalse(line.contains("dropped"), "absent when nothing was dropped: \(line)")
        XCTAssertEqual(try ServerMessage.parse(Array(line.utf8)), .prediction(p))
        XCTAssertEqual(p.captured_at, "2026-11-18T11:06:40.123Z")
        XCTAssertEqual(RFC3339.parse(p.captured_at)?.timeIntervalSince1970 ?? 0, 1_795_000_000.123, accuracy: 0.0005)
    }

    func testWriterEscapesAndEveryServerMessageParses() throws {
        let tricky = "a\"b\\c\n\u{01}é/"
        let hello = Hello(version: "1", model: tricky, cameras: ["x", tricky])
        XCTAssertEqual(try ServerMessage.parse(hello.lineBytes), .hello(hello))
        let cam = CameraStatus(name: "c", source: "/dev/video0", state: "streaming", format: "YUYV", width: 640, height: 480,
                               framesPerS: 15, inferencesPerS: 14.5, frames: 10, inferences: 9, dropped: 1, errors: 0,
                               latencyP50Ms: 5.5, latencyP99Ms: 9.25, subscribers: 2)
        let status = Status(version: "1", pid: 42, uptimeS: 3.5, model: "m", isa: "avx2", threads: 2, clients: 3,
                            reloads: 1, reloadsRejected: 0, cameras: [cam])
        XCTAssertEqual(try ServerMessage.parse(status.lineBytes), .status(status))
        XCTAssertEqual(try ServerMessage.parse(Reloaded(ok: false, message: tricky).lineBytes), .reloaded(Reloaded(ok: false, message: tricky)))
        XCTAssertEqual(try ServerMessage.parse(ErrorMessage(tricky).lineBytes), .error(ErrorMessage(tricky)))
        let sub = Subscribed(cameras: ["a"], topK: 3, minScore: 0.125)
        XCTAssertEqual(try ServerMessage.parse(sub.lineBytes), .subscribed(sub))
        XCTAssertEqual(try ServerMessage.parse(Array(#"{"type":"future","x":1}"#.utf8)), .unknown("future"))
        // What a client writes, the server reads back.
        let want = Subscribe(cameras: ["a"], topK: 2, minScore: 0.5)
        XCTAssertEqual(try ClientMessage.parse(Array(ClientMessage.subscribe(want).line().utf8)), .subscribe(want))
    }

    /// docs/PROTOCOL.md's compatibility rules, as a client relies on them: unknown fields in a
    /// server line are ignored, and `dropped` comes through when present.
    func testClientsIgnoreUnknownFieldsAndReadDropped() throws {
        let p = Prediction(camera: "a", seq: 9, capturedAt: "2026-11-27T02:50:43.123Z", latencyMs: 1, inferenceMs: 1,
                           top: [], dropped: 3)
        XCTAssertTrue(p.line.hasSuffix(#""top":[],"dropped":3}"#), p.line)
        XCTAssertEqual(try ServerMessage.parse(p.lineBytes), .prediction(p))
        let newer = #"{"type":"hello","protocol":1,"version":"9","model":"m","cameras":["a"],"gpu":{"name":"x"},"tags":[1]}"#
        XCTAssertEqual(try ServerMessage.parse(Array(newer.utf8)), .hello(Hello(version: "9", model: "m", cameras: ["a"])))
        let reply = #"{"ok":true,"message":"done","type":"reloaded","took_ms":12.5}"#
        XCTAssertEqual(try ServerMessage.parse(Array(reply.utf8)), .reloaded(Reloaded(ok: true, message: "done")))
    }

    func testLineSplitter() {
        var s = LineSplitter(maxLineBytes: 8)
        XCTAssertEqual(s.feed(Array("ab\ncd".utf8)), [.line(Array("ab".utf8))])
        XCTAssertEqual(s.feed(Array("e\r\n\n".utf8)), [.line(Array("cde".utf8)), .line([])])
        XCTAssertEqual(s.feed(Array("123456789".utf8)), [.tooLong(9)])
    }
}
