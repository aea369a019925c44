/// A small JSON object writer that keeps keys in the order written ("type" first, as the
/// protocol document shows them; Foundation's encoder orders keys by hash on Linux).
public struct JSONWriter {
    public private(set) var bytes: [UInt8] = []
    private var needsComma: [Bool] = []

    public init(capacity: Int = 256) { bytes.reserveCapacity(capacity) }

    public var string: String { String(decoding: bytes, as: UTF8.self) }

    public mutating func object(_ body: (inout JSONWriter) -> Void) {
        separate()
        enclosed("{", "}", body)
    }

    /// A nested object as the value of `key`.
    public mutating func object(_ key: String, _ body: (inout JSONWriter) -> Void) {
        self.key(key)
        enclosed("{", "}", body)
    }

    /// An array as the value of `key`; `body` writes its elements.
    public mutating func array(_ key: String, _ body: (inout JSONWriter) -> Void) {
        self.key(key)
        enclosed("[", "]", body)
    }

    private mutating func enclosed(_ open: Unicode.Scalar, _ close: Unicode.Scalar, _ body: (inout JSONWriter) -> Void) {
        bytes.append(UInt8(ascii: open))
        needsComma.append(false)
        body(&self)
        needsComma.removeLast()
        bytes.append(UInt8(ascii: close))
    }

    public mutating func field(_ key: String, _ value: String) { self.key(key); quoted(value) }
    public mutating func field(_ key: String, _ value: Int) { self.key(key); raw(String(value)) }
    public mutating func field(_ key: String, _ value: UInt64) { self.key(key); raw(String(value)) }
    public mutating func field(_ key: String, _ value: Bool) { self.key(key); raw(value ? "true" : "false") }
    /// Finite numbers in Swift's shortest round-trip form; NaN and infinities as null.
    public mutating func field(_ key: String, _ value: Double) {
        self.key(key)
        raw(value.isFinite ? (value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : "\(value)") : "null")
    }
    public mutating func field(_ key: String, _ values: [String]) {
        array(key) { w in for v in values { w.separate(); w.quoted(v) } }
    }

    // MARK: -

    private mutating func separate() {
        guard !needsComma.isEmpty else { return }
        if needsComma[needsComma.count - 1] { bytes.append(UInt8(ascii: ",")) }
        needsComma[needsComma.count - 1] = true
    }

    private mutating func key(_ k: String) {
        separate()
        quoted(k)
        bytes.append(UInt8(ascii: ":"))
    }

    private mutating func raw(_ s: String) { bytes.append(contentsOf: s.utf8) }

    private static let hex = Array("0123456789abcdef".utf8)

    private mutating func quoted(_ s: String) {
        bytes.append(UInt8(ascii: "\""))
        for b in s.utf8 {
            switch b {
            case UInt8(ascii: "\""): bytes.append(UInt8(ascii: "\\")); bytes.append(b)
            case UInt8(ascii: "\\"): bytes.append(UInt8(ascii: "\\")); bytes.append(b)
            case UInt8(ascii: "\n"): bytes.append(UInt8(ascii: "\\")); bytes.append(UInt8(ascii: "n"))
            case UInt8(ascii: "\t"): bytes.append(UInt8(ascii: "\\")); bytes.append(UInt8(ascii: "t"))
            case UInt8(ascii: "\r"): bytes.append(UInt8(ascii: "\\")); bytes.append(UInt8(ascii: "r"))
            case 0..<0x20:
                bytes.append(contentsOf: Array("\\u00".utf8))
                bytes.append(Self.hex[Int(b >> 4)]); bytes.append(Self.hex[Int(b & 15)])
            default: bytes.append(b)
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }
}

/// A message the server writes: fields in the protocol document's order.
public protocol WireMessage {
    func write(to w: inout JSONWriter)
}

extension WireMessage {
    /// The message as one JSON line (no newline).
    public var line: String {
        var w = JSONWriter()
        w.object { write(to: &$0) }
        return w.string
    }
    public var lineBytes: [UInt8] {
        var w = JSONWriter()
        w.object { write(to: &$0) }
        return w.bytes
    }
}

extension TopClass: WireMessage {
    public func write(to w: inout JSONWriter) {
        w.field("class", self.class); w.field("label", label); w.field("score", score)
    }
}

extension Hello: WireMessage {
    public func write(to w: inout JSONWriter) {
        w.field("type", type); w.field("protocol", self.protocol); w.field("version", version)
        w.field("model", model); w.field("cameras", cameras)
    }
}

extension Subscribed: WireMessage {
    public func write(to w: inout JSONWriter) {
        w.field("type", type); w.field("cameras", cameras); w.field("top_k", top_k); w.field("min_score", min_score)
    }
}

extension Subscribe: WireMessage {
    public func write(to w: inout JSONWriter) {
        w.field("type", type)
        if let cameras { w.field("cameras", cameras) }
        if let top_k { w.field("top_k", top_k) }
        if let min_score { w.field("min_score", min_score) }
    }
}

extension Prediction: WireMessage {
    public func write(to w: inout JSONWriter) {
        w.field("type", type); w.field("camera", camera); w.field("seq", seq); w.field("captured_at", captured_at)
        w.field("latency_ms", latency_ms); w.field("inference_ms", inference_ms)
        w.array("top") { a in for t in top { a.object { t.write(to: &$0) } } }
        if let dropped { w.field("dropped", dropped) }
    }
}

extension CameraStatus: WireMessage {
    public func write(to w: inout JSONWriter) {
        w.field("name", name); w.field("source", source); w.field("state", state); w.field("format", format)
        w.field("width", width); w.field("height", height); w.field("frames_per_s", frames_per_s)
        w.field("inferences_per_s", inferences_per_s); w.field("frames", frames); w.field("inferences", inferences)
        w.field("dropped", dropped); w.field("errors", errors); w.field("latency_p50_ms", latency_p50_ms)
        w.field("latency_p99_ms", latency_p99_ms); w.field("subscribers", subscribers)
    }
}

extension Status: WireMessage {
    public func write(to w: inout JSONWriter) {
        w.field("type", type); w.field("version", version); w.field("pid", pid); w.field("uptime_s", uptime_s)
        w.field("model", model); w.field("isa", isa); w.field("threads", threads); w.field("clients", clients)
        w.field("reloads", reloads); w.field("reloads_rejected", reloads_rejected)
        w.array("cameras") { a in for c in cameras { a.object { c.write(to: &$0) } } }
        if let mqtt { w.object("mqtt") { mqtt.write(to: &$0) } }
    }
}

extension MQTTStatus: WireMessage {
    public func write(to w: inout JSONWriter) {
        w.field("state", state); w.field("broker", broker); w.field("tls", tls)
        if let error { w.field("error", error) }
        w.field("queued", queued); w.field("dropped", dropped); w.field("published", published); w.field("connects", connects)
    }
}

extension Reloaded: WireMessage {
    public func write(to w: inout JSONWriter) { w.field("type", type); w.field("ok", ok); w.field("message", message) }
}

extension ErrorMessage: WireMessage {
    public func write(to w: inout JSONWriter) { w.field("type", type); w.field("message", message) }
}
