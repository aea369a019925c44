import Foundation

/// The socket protocol (docs/PROTOCOL.md): newline-delimited JSON objects, each with a
/// `"type"`. Unknown fields are ignored in both directions, so either side can grow.
public enum Wire {
    /// Bumped only for changes an old client would misread.
    public static let protocolVersion = 1
    /// A client line longer than this (without its newline) is an error.
    public static let maxLineBytes = 64 * 1024
    /// The daemon's socket when none is configured.
    public static let defaultSocketPath = "/run/effnetd/effnetd.sock"
}

/// One class of a prediction.
public struct TopClass: Codable, Sendable, Equatable {
    public var `class`: Int
    public var label: String
    public var score: Double
    public init(class c: Int, label: String, score: Double) { self.class = c; self.label = label; self.score = score }
}

/// Server → client, first line of every connection.
public struct Hello: Codable, Sendable, Equatable {
    public var type = "hello"
    public var `protocol`: Int = Wire.protocolVersion
    public var version: String
    public var model: String
    public var cameras: [String]
    public init(version: String, model: String, cameras: [String]) {
        self.version = version; self.model = model; self.cameras = cameras
    }
}

/// Client → server: start receiving predictions. Every field is optional: all cameras,
/// the daemon's top-k and minimum score.
public struct Subscribe: Codable, Sendable, Equatable {
    public var type = "subscribe"
    public var cameras: [String]?
    public var top_k: Int?
    public var min_score: Double?
    public init(cameras: [String]? = nil, topK: Int? = nil, minScore: Double? = nil) {
        self.cameras = cameras; top_k = topK; min_score = minScore
    }
}

/// Server → client: the answer to `subscribe`, with what was granted.
public struct Subscribed: Codable, Sendable, Equatable {
    public var type = "subscribed"
    public var cameras: [String]
    public var top_k: Int
    public var min_score: Double
    public init(cameras: [String], topK: Int, minScore: Double) { self.cameras = cameras; top_k = topK; min_score = minScore }
}

/// Server → subscriber: one classified frame.
public struct Prediction: Codable, Sendable, Equatable {
    public var type = "prediction"
    public var camera: String
    /// Per camera, +1 for every prediction the daemon made; a jump means this client missed some.
    public var seq: UInt64
    /// When the frame was captured (RFC 3339, UTC, milliseconds).
    public var captured_at: String
    /// From capture to this line being queued for the client.
    public var latency_ms: Double
    /// The model run alone.
    public var inference_ms: Double
    public var top: [TopClass]
    /// Present when predictions for this client were dropped since its last message
    /// (it did not read fast enough): how many.
    public var dropped: UInt64?
    public init(camera: String, seq: UInt64, capturedAt: String, latencyMs: Double, inferenceMs: Double,
                top: [TopClass], dropped: UInt64? = nil) {
        self.camera = camera; self.seq = seq; captured_at = capturedAt; latency_ms = latencyMs
        inference_ms = inferenceMs; self.top = top; self.dropped = dropped
    }
}

/// Per camera, in a status reply.
public struct CameraStatus: Codable, Sendable, Equatable {
    public var name: String
    /// Device path or image folder.
    public var source: String
    /// "streaming", "idle", "waiting for device: …", "failed: …", "closed".
    public var state: String
    /// Pixel format (V4L2 fourcc) and size of the frames arriving; empty/0 before the first.
    public var format: String
    public var width: Int
    public var height: Int
    /// Rates over the last few seconds.
    public var frames_per_s: Double
    public var inferences_per_s: Double
    /// Totals since the pipeline started.
    public var frames: UInt64
    public var inferences: UInt64
    /// Frames replaced in the newest-frame slot before inference took them, plus frames
    /// the source lost (driver sequence gaps).
    public var dropped: UInt64
    /// Frames skipped as bad (driver error flag, corrupt JPEG, unreadable file).
    public var errors: UInt64
    /// Capture → prediction, over the recent window (0 before the first prediction).
    public var latency_p50_ms: Double
    public var latency_p99_ms: Double
    public var subscribers: Int
    public init(name: String, source: String, state: String, format: String, width: Int, height: Int,
                framesPerS: Double, inferencesPerS: Double, frames: UInt64, inferences: UInt64, dropped: UInt64,
                errors: UInt64, latencyP50Ms: Double, latencyP99Ms: Double, subscribers: Int) {
        self.name = name; self.source = source; self.state = state; self.format = format; self.width = width
        self.height = height; frames_per_s = framesPerS; inferences_per_s = inferencesPerS; self.frames = frames
        self.inferences = inferences; self.dropped = dropped; self.errors = errors; latency_p50_ms = latencyP50Ms
        latency_p99_ms = latencyP99Ms; self.subscribers = subscribers
    }
}

/// Server → client: the answer to `{"type":"status"}`; what `effctl status` shows.
public struct Status: Codable, Sendable, Equatable {
    public var type = "status"
    public var version: String
    public var pid: Int
    public var uptime_s: Double
    public var model: String
    public var isa: String
    public var threads: Int
    /// Connected clients (subscribed or not).
    public var clients: Int
    /// Config reloads that were applied / rejected since start.
    public var reloads: Int
    public var reloads_rejected: Int
    public var cameras: [CameraStatus]
    /// The MQTT publisher; absent when the config has no [mqtt].
    public var mqtt: MQTTStatus?
    public init(version: String, pid: Int, uptimeS: Double, model: String, isa: String, threads: Int, clients: Int,
                reloads: Int, reloadsRejected: Int, cameras: [CameraStatus], mqtt: MQTTStatus? = nil) {
        self.version = version; self.pid = pid; uptime_s = uptimeS; self.model = model; self.isa = isa
        self.threads = threads; self.clients = clients; self.reloads = reloads; reloads_rejected = reloadsRejected
        self.cameras = cameras; self.mqtt = mqtt
    }
}

/// The MQTT publisher, in a status reply.
public struct MQTTStatus: Codable, Sendable, Equatable {
    /// "connecting" (until the broker's first answer), "connected", "disconnected" (waiting to retry).
    public var state: String
    /// "host:port".
    public var broker: String
    public var tls: Bool
    /// Why the last connection attempt failed or the connection was lost; absent while connected.
    public var error: String?
    /// Predictions waiting for the broker.
    public var queued: Int
    /// Predictions dropped (the queue was full: broker away or slow) since the publisher started.
    public var dropped: UInt64
    /// Predictions handed to the broker since the publisher started.
    public var published: UInt64
    /// Successful connections since the publisher started (1 + reconnects).
    public var connects: Int
    public init(state: String, broker: String, tls: Bool, error: String?, queued: Int, dropped: UInt64, published: UInt64,
                connects: Int) {
        self.state = state; self.broker = broker; self.tls = tls; self.error = error; self.queued = queued
        self.dropped = dropped; self.published = published; self.connects = connects
    }
}

/// Server → client: the answer to `{"type":"reload"}`.
public struct Reloaded: Codable, Sendable, Equatable {
    public var type = "reloaded"
    public var ok: Bool
    public var message: String
    public init(ok: Bool, message: String) { self.ok = ok; self.message = message }
}

/// Server → client: the request could not be served. After an error caused by the
/// client's line (not JSON, unknown type, too long, bad field) the server closes the connection.
public struct ErrorMessage: Codable, Sendable, Equatable, Error {
    public var type = "error"
    public var message: String
    public init(_ message: String) { self.message = message }
}

private struct ClientHead: Decodable { var type: String? }
private struct ClientSubscribe: Decodable {
    var cameras: [String]?
    /// Double, so 2.5 is reported as "not an integer" rather than as broken JSON.
    var top_k: Double?
    var min_score: Double?
}

/// What a client may send.
public enum ClientMessage: Sendable, Equatable {
    case subscribe(Subscribe)
    case status
    case reload

    /// Parses one line (without its newline). Throws an `ErrorMessage` that says what is wrong.
    public static func parse(_ line: some Collection<UInt8>) throws -> ClientMessage {
        if line.count > Wire.maxLineBytes {
            throw ErrorMessage("line of \(line.count) bytes is over the limit of \(Wire.maxLineBytes)")
        }
        let data = Data(line)
        let decoder = JSONDecoder()
        let head: ClientHead
        do { head = try decoder.decode(ClientHead.self, from: data) } catch let e as DecodingError {
            throw Self.explain(e)
        }
        guard let typeName = head.type else { throw ErrorMessage("missing \"type\"") }
        switch typeName {
        case "subscribe":
            let body: ClientSubscribe
            do { body = try decoder.decode(ClientSubscribe.self, from: data) } catch let e as DecodingError {
                throw Self.explain(e)
            }
            if let k = body.top_k, !(k >= 1 && k <= 1000 && k == k.rounded()) {
                throw ErrorMessage("\"top_k\" must be an integer from 1 to 1000")
            }
            if let m = body.min_score, !(m >= 0 && m <= 1) { throw ErrorMessage("\"min_score\" must be a number from 0 to 1") }
            return .subscribe(Subscribe(cameras: body.cameras, topK: body.top_k.map { Int($0) }, minScore: body.min_score))
        case "status": return .status
        case "reload": return .reload
        default:
            throw ErrorMessage("unknown type \"\(typeName)\" (expected subscribe, status or reload)")
        }
    }

    private static let expected = [
        "type": "a string", "cameras": "an array of strings", "top_k": "an integer from 1 to 1000",
        "min_score": "a number from 0 to 1",
    ]

    private static func explain(_ error: DecodingError) -> ErrorMessage {
        switch error {
        case .dataCorrupted(let c) where c.codingPath.isEmpty:
            let why = (c.underlyingError as NSError?)?.userInfo[NSDebugDescriptionErrorKey] as? String
            return ErrorMessage("not valid JSON" + (why.map { ": \($0)" } ?? ""))
        case .typeMismatch(_, let c) where c.codingPath.isEmpty:
            return ErrorMessage("expected a JSON object")
        case .typeMismatch(_, let c), .valueNotFound(_, let c), .dataCorrupted(let c), .keyNotFound(_, let c):
            let key = c.codingPath.first?.stringValue ?? "?"
            return ErrorMessage("\"\(key)\" must be \(expected[key] ?? "of another type")")
        @unknown default:
            return ErrorMessage("invalid message")
        }
    }

    /// The line a client sends for this message (without the newline).
    public func line() -> String {
        switch self {
        case .subscribe(let s): return s.line
        case .status: return #"{"type":"status"}"#
        case .reload: return #"{"type":"reload"}"#
        }
    }
}

private struct MessageHead: Decodable { var type: String }

/// What a server may send, decoded by clients.
public enum ServerMessage: Sendable, Equatable {
    case hello(Hello)
    case subscribed(Subscribed)
    case prediction(Prediction)
    case status(Status)
    case reloaded(Reloaded)
    case error(ErrorMessage)
    /// A type this client does not know (a newer server); skip it.
    case unknown(String)

    public static func parse(_ line: some Collection<UInt8>) throws -> ServerMessage {
        let data = Data(line)
        let decoder = JSONDecoder()
        let head = try decoder.decode(MessageHead.self, from: data)
        switch head.type {
        case "hello": return .hello(try decoder.decode(Hello.self, from: data))
        case "subscribed": return .subscribed(try decoder.decode(Subscribed.self, from: data))
        case "prediction": return .prediction(try decoder.decode(Prediction.self, from: data))
        case "status": return .status(try decoder.decode(Status.self, from: data))
        case "reloaded": return .reloaded(try decoder.decode(Reloaded.self, from: data))
        case "error": return .error(try decoder.decode(ErrorMessage.self, from: data))
        default: return .unknown(head.type)
        }
    }
}

/// Splits a byte stream into lines, holding at most `maxLineBytes` of an unfinished line.
public struct LineSplitter: Sendable {
    public let maxLineBytes: Int
    private var pending: [UInt8] = []
    public init(maxLineBytes: Int = Wire.maxLineBytes) { self.maxLineBytes = maxLineBytes }

    public enum Item: Equatable, Sendable {
        case line([UInt8])
        /// A line grew past the limit; the splitter cannot resynchronise after this.
        case tooLong(Int)
    }

    /// Feeds bytes; returns the complete lines found (a trailing "\r" is removed).
    public mutating func feed(_ bytes: some Collection<UInt8>) -> [Item] {
        var out: [Item] = []
        for b in bytes {
            if b == UInt8(ascii: "\n") {
                if pending.last == UInt8(ascii: "\r") { pending.removeLast() }
                out.append(.line(pending))
                pending.removeAll(keepingCapacity: true)
            } else {
                pending.append(b)
                if pending.count > maxLineBytes {
                    out.append(.tooLong(pending.count))
                    pending.removeAll()
                    return out
                }
            }
        }
        return out
    }

    /// Bytes of an unfinished line.
    public var pendingCount: Int { pending.count }
}

/// RFC 3339 timestamps in UTC with milliseconds, e.g. 2026-11-27T02:50:43.123Z.
public enum RFC3339 {
    public static func format(unixNanoseconds ns: UInt64) -> String {
        var secs = time_t(ns / 1_000_000_000)
        let ms = Int((ns / 1_000_000) % 1000)
        var tm = tm()
        gmtime_r(&secs, &tm)
        func pad(_ v: Int32, _ w: Int) -> String {
            let s = String(v)
            return String(repeating: "0", count: max(0, w - s.count)) + s
        }
        return "\(pad(tm.tm_year + 1900, 4))-\(pad(tm.tm_mon + 1, 2))-\(pad(tm.tm_mday, 2))T"
            + "\(pad(tm.tm_hour, 2)):\(pad(tm.tm_min, 2)):\(pad(tm.tm_sec, 2)).\(pad(Int32(ms), 3))Z"
    }

    /// Parses what `format` writes (and any fraction of a second); nil when it is not that shape.
    public static func parse(_ s: String) -> Date? {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let d = f.date(from: s) { return d }
        f.formatOptions = [.withInternetDateTime]
        return f.date(from: s)
    }
}
