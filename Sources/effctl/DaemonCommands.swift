import ArgumentParser
import EffWire
import Foundation

/// How every command that talks to the daemon finds it.
struct ConnectionOptions: ParsableArguments {
    @Option(help: ArgumentHelp("effnetd's socket (default: $EFFNETD_SOCKET, else \(Wire.defaultSocketPath)).", valueName: "path"))
    var socket: String?
    @Option(help: ArgumentHelp("Seconds to wait for the daemon's greeting and for replies.", valueName: "seconds"))
    var timeout: Double = 5

    var socketPath: String {
        if let socket { return socket }
        if let env = ProcessInfo.processInfo.environment["EFFNETD_SOCKET"], !env.isEmpty { return env }
        return Wire.defaultSocketPath
    }

    func validate() throws {
        guard timeout > 0, timeout <= 86400 else { throw ValidationError("--timeout must be more than 0 and at most 86400 seconds") }
        if socket?.isEmpty == true { throw ValidationError("--socket must not be empty") }
    }

    func connect() throws -> DaemonClient { try DaemonClient.connect(path: socketPath, timeout: timeout) }
}

struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show effnetd's state: model, uptime, clients, and per camera rates, drops and latency.")

    @OptionGroup var connection: ConnectionOptions
    @Flag(help: "Print the daemon's status message as it sent it (one JSON object).") var json = false

    func run() throws {
        try reportingErrors {
            let client = try connection.connect()
            defer { client.close() }
            client.send(.status)
            let (status, line) = try client.reply(timeout: connection.timeout, waitingFor: "status reply") {
                if case .status(let s) = $0 { return s } else { return nil }
            }
            if json { try Output.write(line) } else { try Output.write(Self.render(status)) }
        }
    }

    static func render(_ s: Status) -> String {
        var out = "effnetd \(s.version)  pid \(s.pid)  up \(formatUptime(s.uptime_s))  "
            + "clients \(s.clients)  reloads \(s.reloads) (\(s.reloads_rejected) rejected)\n"
        out += "model \(s.model)  isa \(s.isa)  threads \(s.threads)\n"
        if let m = s.mqtt {
            out += "mqtt \(m.state)  broker \(m.broker)\(m.tls ? " (TLS)" : "")  queued \(m.queued)  dropped \(m.dropped)  "
                + "published \(m.published)  connects \(m.connects)\n"
            if let e = m.error { out += "mqtt error: \(e)\n" }
        }
        if s.cameras.isEmpty { return out + "\nno cameras configured" }
        let header = ["CAMERA", "STATE", "FORMAT", "FRAMES/S", "INFER/S", "DROPPED", "ERRORS", "P50 MS", "P99 MS", "SUBS"]
        let rows = s.cameras.map { c -> [String] in
            let format = c.width > 0 && c.height > 0 ? "\(c.format.isEmpty ? "?" : c.format) \(c.width)x\(c.height)" : "-"
            let hasLatency = c.inferences > 0
            return [c.name, c.state, format, fixed(c.frames_per_s), fixed(c.inferences_per_s), "\(c.dropped)", "\(c.errors)",
                    hasLatency ? fixed(c.latency_p50_ms) : "-", hasLatency ? fixed(c.latency_p99_ms) : "-", "\(c.subscribers)"]
        }
        out += "\n" + table([header] + rows, leftAligned: 3)
        return out
    }

    /// Columns padded to their widest cell; the first `leftAligned` columns are text, the rest numbers.
    static func table(_ rows: [[String]], leftAligned: Int) -> String {
        var widths = [Int](repeating: 0, count: rows[0].count)
        for r in rows { for (i, cell) in r.enumerated() { widths[i] = max(widths[i], cell.count) } }
        return rows.map { r in
            r.enumerated().map { i, cell in
                let pad = String(repeating: " ", count: widths[i] - cell.count)
                return i < leftAligned ? (i == r.count - 1 ? cell : cell + pad) : pad + cell
            }.joined(separator: "  ")
        }.joined(separator: "\n")
    }

    static func fixed(_ v: Double) -> String { v.isFinite ? String(format: "%.1f", v) : "-" }
}

/// "2h 03m 05s"; "1d 02h 03m 05s" past a day, "3m 05s" and "5s" below an hour and a minute.
func formatUptime(_ seconds: Double) -> String {
    let t = seconds.isFinite ? max(0, Int(seconds)) : 0
    let d = t / 86400, h = t / 3600 % 24, m = t / 60 % 60, s = t % 60
    func two(_ v: Int) -> String { v < 10 ? "0\(v)" : "\(v)" }
    if d > 0 { return "\(d)d \(two(h))h \(two(m))m \(two(s))s" }
    if h > 0 { return "\(h)h \(two(m))m \(two(s))s" }
    if m > 0 { return "\(m)m \(two(s))s" }
    return "\(s)s"
}

struct WatchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "watch",
        abstract: "Subscribe to effnetd's predictions and print them as they come.",
        discussion: """
            One line per prediction: capture time, camera, sequence number, best class and score, latency. \
            A note follows when the daemon dropped predictions because this client read too slowly, or when \
            a camera's sequence numbers jump. Runs until interrupted unless --count is given.
            """)

    @OptionGroup var connection: ConnectionOptions
    @Option(name: .customLong("camera"), help: ArgumentHelp("Only this camera (repeat for more; default: all).", valueName: "name"))
    var cameras: [String] = []
    @Option(help: "Exit after this many predictions.") var count: Int?
    @Option(help: "Classes per prediction (default: the daemon's top_k). The best one is printed first.") var top: Int?
    @Option(name: .customLong("min-score"), help: "Only classes scoring at least this, 0 to 1 (default: the daemon's).")
    var minScore: Double?
    @Flag(help: "Print each prediction line exactly as the daemon sent it.") var json = false

    func validate() throws {
        if let count, count < 1 { throw ValidationError("--count must be at least 1") }
        if let top, !(1...1000).contains(top) { throw ValidationError("--top must be from 1 to 1000") }
        if let minScore, !(minScore >= 0 && minScore <= 1) { throw ValidationError("--min-score must be from 0 to 1") }
    }

    func run() throws {
        try reportingErrors {
            let client = try connection.connect()
            defer { client.close() }
            client.send(.subscribe(Subscribe(cameras: cameras.isEmpty ? nil : cameras, topK: top, minScore: minScore)))
            let (granted, _) = try client.reply(timeout: connection.timeout, waitingFor: "answer to subscribe") {
                if case .subscribed(let s) = $0 { return s } else { return nil }
            }
            let missing = cameras.filter { !granted.cameras.contains($0) }
            if !missing.isEmpty { warn("effnetd did not subscribe camera \(missing.joined(separator: ", "))") }
            if !json {
                try Output.write("watching \(granted.cameras.isEmpty ? "no cameras" : granted.cameras.joined(separator: ", "))"
                                 + " (top \(granted.top_k), min score \(String(format: "%g", granted.min_score)))")
            }
            var lastSeq: [String: UInt64] = [:]
            var seen = 0
            while count.map({ seen < $0 }) ?? true {
                let (message, line) = try client.next(timeout: nil)
                switch message {
                case .prediction(let p):
                    seen += 1
                    if json { try Output.write(line) } else { try Output.write(Self.render(p, previous: lastSeq[p.camera])) }
                    lastSeq[p.camera] = p.seq
                case .error(let e):
                    throw ClientError.server(e.message)
                default:
                    continue  // a newer daemon's message types; a repeated hello or subscribed
                }
            }
        }
    }

    static func render(_ p: Prediction, previous: UInt64?) -> String {
        var s = "\(localTime(p.captured_at))  \(p.camera)  #\(p.seq)  "
        if let best = p.top.first {
            s += "\(best.label) \(percent(best.score))"
        } else {
            s += "(no class above min score)"
        }
        s += "  latency \(String(format: "%.1f", p.latency_ms)) ms"
        if p.top.count > 1 {
            s += "  (then " + p.top.dropFirst().map { "\($0.label) \(percent($0.score))" }.joined(separator: ", ") + ")"
        }
        var gap: UInt64 = 0
        if let previous {
            if p.seq <= previous { s += "  [seq went back from \(previous): the camera's pipeline restarted]" }
            else { gap = p.seq - previous - 1 }
        }
        if let dropped = p.dropped {
            s += "  [\(dropped) predictions dropped: this client read too slowly]"
            if gap > dropped { s += "  [seq gap: \(gap) missed]" }
        } else if gap > 0 {
            s += "  [seq gap: \(gap) missed]"
        }
        return s
    }

    static func percent(_ score: Double) -> String { String(format: "%.1f%%", score * 100) }

    /// The capture time as HH:MM:SS.mmm in this machine's time zone, or as sent when it is
    /// not the daemon's "YYYY-MM-DDTHH:MM:SS.mmmZ" (read by hand: a formatter per line is slow).
    static func localTime(_ rfc3339: String) -> String {
        let b = Array(rfc3339.utf8)
        func num(_ from: Int, _ n: Int) -> Int32? {
            var v: Int32 = 0
            for i in from..<from + n {
                guard b[i] >= UInt8(ascii: "0"), b[i] <= UInt8(ascii: "9") else { return nil }
                v = v * 10 + Int32(b[i] - UInt8(ascii: "0"))
            }
            return v
        }
        guard b.count == 24, b[10] == UInt8(ascii: "T"), b[19] == UInt8(ascii: "."), b[23] == UInt8(ascii: "Z"),
              let year = num(0, 4), let month = num(5, 2), let day = num(8, 2), let hour = num(11, 2),
              let minute = num(14, 2), let second = num(17, 2), let ms = num(20, 3) else { return rfc3339 }
        var t = tm()
        t.tm_year = year - 1900; t.tm_mon = month - 1; t.tm_mday = day
        t.tm_hour = hour; t.tm_min = minute; t.tm_sec = second
        var secs = timegm(&t)
        var local = tm()
        guard localtime_r(&secs, &local) != nil else { return rfc3339 }
        return String(format: "%02d:%02d:%02d.%03d", local.tm_hour, local.tm_min, local.tm_sec, ms)
    }
}

struct ReloadCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reload",
        abstract: "Ask effnetd to reload its configuration (root or the daemon's user only).",
        discussion: "Prints the daemon's answer; exits 0 when the new configuration was applied, 1 when it was rejected. The answer is awaited for at least 60 s: a reload plans the model again, which takes a while on a small board.")

    @OptionGroup var connection: ConnectionOptions

    func run() throws {
        try reportingErrors {
            let client = try connection.connect()
            defer { client.close() }
            client.send(.reload)
            let (answer, _) = try client.reply(timeout: max(connection.timeout, 60), waitingFor: "answer to reload") {
                if case .reloaded(let r) = $0 { return r } else { return nil }
            }
            if answer.ok {
                try Output.write(answer.message.isEmpty ? "reloaded" : answer.message)
            } else {
                throw Failure("reload: \(answer.message)")
            }
        }
    }
}

func warn(_ message: String) { FileHandle.standardError.write(Data("effctl: \(message)\n".utf8)) }

/// Standard output, flushed per line (watch feeds pipes). NIO ignores SIGPIPE, so a reader
/// that went away (`effctl watch | head`) shows up as a failed write: the command then ends quietly.
enum Output {
    static func write(_ text: String) throws { try write(Array(text.utf8)) }

    static func write(_ bytes: [UInt8]) throws {
        var ok = bytes.withUnsafeBufferPointer { fwrite($0.baseAddress, 1, $0.count, stdout) == $0.count }
        ok = ok && fputc(0x0A, stdout) != EOF && fflush(stdout) == 0
        if !ok { throw ExitCode.success }
    }
}
