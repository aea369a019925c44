import EffCapture
import Foundation
import Logging
import TOMLKit

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// TOML → DaemonConfig.
//
// Every key is optional; a missing key keeps the DaemonConfig default. Everything else is
// strict: an unknown table or key, a value of the wrong type or out of range stops the load
// with one ConfigError, so a typo never turns silently into a default.
//
// Keys in errors are written "model.path", "socket.mode", "camera[2].fps": cameras are
// counted from 1 in the order of their [[camera]] tables (a name may be missing or be the
// very thing that is wrong, so the index is what errors use).
//
// A config with no [[camera]] table is valid: the daemon then runs without pipelines and
// serves status only.

extension DaemonConfig {
    /// Reads and checks a config file. Relative paths in it (model, labels, socket, a
    /// camera's device or images) are taken relative to the file's folder and made
    /// absolute, so `effnetd --config config/demo.toml` works from any working directory.
    public static func load(path: String) throws -> DaemonConfig {
        let bytes: [UInt8]
        do {
            bytes = try readFile(path, limit: maxFileSize)
        } catch let reason as ReadFailure {
            throw ConfigError(file: path, message: "cannot read the file: \(reason.text)")
        }
        return try parse(decodeUTF8(bytes, file: path), file: path)
    }

    /// Parses TOML text; `file` is used in errors and to resolve relative paths (with
    /// `file` empty they are taken relative to the working directory).
    public static func parse(_ text: String, file: String) throws -> DaemonConfig {
        let map = TextMap(text)
        let root = try parseTOML(text, file: file, map: map)
        let doc = Document(file: file, map: map)
        try checkTopLevel(root, doc)

        var config = DaemonConfig()
        config.file = file
        if let s = try doc.section(root, "model") { try readModel(s, into: &config) }
        if let s = try doc.section(root, "inference") { try readInference(s, into: &config) }
        if let s = try doc.section(root, "socket") { try readSocket(s, into: &config) }
        if let s = try doc.section(root, "log") { try readLog(s, into: &config) }
        if let s = try doc.section(root, "mqtt") { config.mqtt = try readMQTT(s) }
        config.cameras = try readCameras(root, doc)
        return config
    }

    /// Larger than any real config; it keeps `--config /dev/zero` from reading forever.
    static let maxFileSize = 1 << 20
    /// Kernel tables CEffKernels can be asked for by name (availability is checked when
    /// the engine starts, not here: a config may be written on another machine).
    static let knownISAs = ["scalar", "avx2", "avx512vnni", "neon", "neondot"]
    /// sun_path holds 108 bytes, one of them the terminating NUL.
    static let maxSocketPathBytes = 107
    /// glibc's cpu_set_t (CPU_SETSIZE), what pthread_setaffinity_np can pin to.
    static let maxCPU = 1023
}

// MARK: - Sections

extension DaemonConfig {
    private static let topLevel = ["model", "inference", "socket", "log", "mqtt", "camera"]

    private static func checkTopLevel(_ root: TOMLTable, _ doc: Document) throws {
        for key in root.keys.sorted() where !topLevel.contains(key) {
            let isTable = root[key]?.type == .table || root[key]?.type == .array
            // A key above the first header is usually a forgotten [table] line, so say so.
            let message = isTable
                ? "unknown table \"\(key)\"; expected one of \(topLevel.joined(separator: ", "))"
                : "unknown key \"\(key)\" outside any table; expected the tables [model], [inference], [socket], [log], [mqtt], [[camera]]"
            throw ConfigError(file: doc.file, line: doc.map.line(of: [.key(key)]), key: key, message: message)
        }
    }

    private static func readModel(_ s: Section, into c: inout DaemonConfig) throws {
        try s.checkKeys(["path", "labels", "isa"])
        if let v = try s.path("path") { c.modelPath = v }
        if let v = try s.path("labels") { c.labelsPath = v }
        if let v = try s.string("isa") {
            guard v == "auto" || knownISAs.contains(v) else {
                throw s.error("isa", "unknown instruction set \"\(v)\"; expected auto or one of \(knownISAs.joined(separator: ", "))")
            }
            c.isa = v == "auto" ? nil : v
        }
    }

    private static func readInference(_ s: Section, into c: inout DaemonConfig) throws {
        try s.checkKeys(["threads", "cpus", "top_k", "min_score"])
        if let v = try s.int("threads", in: 0...1024) { c.threads = v }
        if let v = try s.cpuList("cpus") { c.cpus = v.isEmpty ? nil : v }
        if let v = try s.int("top_k", in: 1...1000) { c.topK = v }
        if let v = try s.number("min_score", from: 0, to: 1) { c.minScore = v }
    }

    private static func readSocket(_ s: Section, into c: inout DaemonConfig) throws {
        try s.checkKeys(["path", "mode", "group", "max_clients", "queue", "stall_timeout_s"])
        if let v = try s.path("path") {
            // Checked after resolving: the resolved path is what bind() gets.
            guard v.utf8.count <= maxSocketPathBytes else {
                throw s.error("path", "\"\(v)\" is \(v.utf8.count) bytes; a Unix socket path holds at most \(maxSocketPathBytes)")
            }
            c.socketPath = v
        }
        if let v = try s.fileMode("mode") { c.socketMode = v }
        if let v = try s.string("group") { c.socketGroup = v.isEmpty ? nil : v }
        if let v = try s.int("max_clients", in: 1...10_000) { c.maxClients = v }
        if let v = try s.int("queue", in: 1...100_000) { c.clientQueue = v }
        if let v = try s.number("stall_timeout_s", above: 0, to: 86_400) { c.clientStallTimeout = v }
    }

    private static func readLog(_ s: Section, into c: inout DaemonConfig) throws {
        try s.checkKeys(["level"])
        if let v = try s.string("level") {
            guard let level = Logger.Level(rawValue: v) else {
                let names = Logger.Level.allCases.map(\.rawValue).joined(separator: ", ")
                throw s.error("level", "unknown log level \"\(v)\"; expected one of \(names)")
            }
            c.logLevel = level
        }
    }

    static let mqttKeys = ["host", "port", "client_id", "topic_prefix", "qos", "username", "password_file", "tls_ca_file",
                           "tls_cert_file", "tls_key_file", "keepalive_s", "publish", "heartbeat_s", "queue",
                           "homeassistant", "discovery_prefix"]

    private static func readMQTT(_ s: Section) throws -> MQTTConfig {
        try s.checkKeys(mqttKeys)
        guard let host = try s.string("host") else {
            throw s.error(nil, "[mqtt] needs host, the broker's name or address (leave out [mqtt] to run without MQTT)",
                          missingKey: "host")
        }
        guard !host.isEmpty, !host.unicodeScalars.contains(where: { $0.properties.isWhitespace || $0.value < 0x20 }) else {
            throw s.error("host", "expected the broker's host name or address (found \"\(host)\")")
        }
        var m = MQTTConfig(host: host)
        if let v = try s.int("port", in: 1...65535) { m.port = v }
        if let v = try s.string("client_id"), !v.isEmpty {
            // MQTT strings are UTF-8 up to 65535 bytes, without NUL.
            guard v.utf8.count <= 65535, !v.utf8.contains(0) else {
                throw s.error("client_id", "must be at most 65535 bytes of UTF-8 without NUL characters")
            }
            m.clientID = v
        }
        if let v = try s.string("topic_prefix"), !v.isEmpty { m.topicPrefix = try s.topicName("topic_prefix", v) }
        if let v = try s.int("qos", in: 0...1) { m.qos = v }
        if let v = try s.string("username"), !v.isEmpty {
            guard v.utf8.count <= 65535, !v.utf8.contains(0) else {
                throw s.error("username", "must be at most 65535 bytes of UTF-8 without NUL characters")
            }
            m.username = v
        }
        if let file = try s.optionalPath("password_file") {
            guard m.username != nil else { throw s.error("password_file", "a password needs a user name: set username too") }
            m.passwordFile = file
            m.password = try s.secret("password_file", file)
        }
        m.tlsCAFile = try s.readablePath("tls_ca_file")
        m.tlsCertFile = try s.readablePath("tls_cert_file")
        m.tlsKeyFile = try s.readablePath("tls_key_file")
        if (m.tlsCertFile == nil) != (m.tlsKeyFile == nil) {
            let missing = m.tlsCertFile == nil ? "tls_cert_file" : "tls_key_file"
            throw s.error(m.tlsCertFile == nil ? "tls_key_file" : "tls_cert_file",
                          "a client certificate needs both tls_cert_file and tls_key_file; \(missing) is not set")
        }
        if m.tlsCertFile != nil, m.tlsCAFile == nil {
            throw s.error("tls_cert_file", "a client certificate is used only with TLS: set tls_ca_file too")
        }
        if let v = try s.int("keepalive_s", in: 5...65535) { m.keepalive = v }
        if let v = try s.string("publish") {
            guard let mode = MQTTConfig.PublishMode(rawValue: v) else {
                throw s.error("publish", "expected \"change\" or \"every\" (found \"\(v)\")")
            }
            m.publish = mode
        }
        if let v = try s.number("heartbeat_s", above: 0, to: 86_400) { m.heartbeat = v }
        if let v = try s.int("queue", in: 1...1_000_000) { m.queue = v }
        if let v = try s.bool("homeassistant") { m.homeAssistant = v }
        if let v = try s.string("discovery_prefix") { m.discoveryPrefix = try s.topicName("discovery_prefix", v) }
        return m
    }

    private static func readCameras(_ root: TOMLTable, _ doc: Document) throws -> [CameraConfig] {
        guard let value = root["camera"] else { return [] }
        guard let list = value.array else {
            throw ConfigError(file: doc.file, line: doc.map.line(of: [.key("camera")]), key: "camera",
                              message: "expected [[camera]] tables (an array of tables), found \(describe(value.type))")
        }
        var cameras: [CameraConfig] = []
        var firstUse: [String: Int] = [:]
        for i in 0..<list.count {
            let s = try doc.cameraSection(list[i], index: i)
            let camera = try readCamera(s)
            if let earlier = firstUse[camera.name] {
                throw s.error("name", "camera name \"\(camera.name)\" is already used by camera[\(earlier)]; names must be unique")
            }
            firstUse[camera.name] = i + 1
            cameras.append(camera)
        }
        return cameras
    }

    private static func readCamera(_ s: Section) throws -> CameraConfig {
        try s.checkKeys(["name", "device", "images", "width", "height", "fps", "format"])
        guard let name = try s.string("name") else {
            throw s.error(nil, "a camera needs a name (name = \"front\")", missingKey: "name")
        }
        guard isCameraName(name) else {
            throw s.error("name", "\"\(name)\" is not a camera name: use 1 to 64 of A-Z a-z 0-9 . _ -")
        }
        let device = try s.path("device"), images = try s.path("images")
        let source: CameraConfig.Source
        switch (device, images) {
        case (let d?, nil): source = .device(d)
        case (nil, let p?): source = .images(p)
        case (.some, .some): throw s.error("images", "set either device or images, not both")
        case (nil, nil):
            throw s.error(nil, "a camera needs a source: device (a V4L2 device) or images (an image file or folder)")
        }
        var camera = CameraConfig(name: name, source: source)
        if let v = try s.int("width", in: 16...8192) { camera.width = v }
        if let v = try s.int("height", in: 16...8192) { camera.height = v }
        if let v = try s.number("fps", above: 0, to: 1000) { camera.fps = v }
        if let v = try s.string("format"), v != "auto" {
            guard let format = PixelFormat(name: v) else {
                let names = PixelFormat.allCases.map { "\($0.fourccName) (\($0.rawValue))" }.joined(separator: ", ")
                throw s.error("format", "unknown pixel format \"\(v)\"; expected auto or one of \(names)")
            }
            camera.format = format
        }
        return camera
    }

    private static func isCameraName(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        return (1...64).contains(bytes.count) && bytes.allSatisfy { b in
            switch b {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "-"):
                return true
            default:
                return false
            }
        }
    }
}

// MARK: - Reading values

/// The parsed text with what errors need: the file name, where its keys are written, and
/// the folder relative paths are resolved against.
private struct Document {
    let file: String
    let map: TextMap
    let folder: String

    init(file: String, map: TextMap) {
        self.file = file
        self.map = map
        // Made absolute now, so the paths stay right if the daemon changes directory later.
        // ("" becomes "cwd/", whose folder is the working directory.)
        let absolute = file.hasPrefix("/") ? file : FileManager.default.currentDirectoryPath + "/" + file
        let slash = absolute.lastIndex(of: "/")!
        folder = slash == absolute.startIndex ? "/" : String(absolute[..<slash])
    }

    /// `[name]` at the top level, nil when absent.
    func section(_ root: TOMLTable, _ name: String) throws -> Section? {
        guard let value = root[name] else { return nil }
        let path: [TextMap.Part] = [.key(name)]
        guard let table = value.table else {
            throw ConfigError(file: file, line: map.line(of: path), key: name,
                              message: "expected a table ([\(name)]), found \(describe(value.type))")
        }
        return Section(doc: self, table: table, keyPrefix: name, title: "[\(name)]", path: path)
    }

    /// The index-th (from 0) element of the camera array.
    func cameraSection(_ value: TOMLValueConvertible, index: Int) throws -> Section {
        let name = "camera[\(index + 1)]"
        let path: [TextMap.Part] = [.key("camera"), .index(index)]
        guard let table = value.table else {
            throw ConfigError(file: file, line: map.line(of: path), key: name,
                              message: "expected a table, found \(describe(value.type))")
        }
        return Section(doc: self, table: table, keyPrefix: name, title: name, path: path)
    }

    /// Absolute paths as written; relative ones joined to the config file's folder.
    func resolve(_ path: String) -> String {
        path.hasPrefix("/") ? path : (folder == "/" ? "" : folder) + "/" + path
    }
}

/// One table of the config, with typed getters that return nil for an absent key and
/// throw a ConfigError naming the key and its line for a wrong one.
private struct Section {
    let doc: Document
    let table: TOMLTable
    /// What keys in errors start with: "model", "camera[2]".
    let keyPrefix: String
    /// How messages name the table: "[model]", "camera[2]".
    let title: String
    /// Where TextMap finds the table.
    let path: [TextMap.Part]

    /// An error about `key` (at its line), or about the whole table (at its header) when
    /// `key` is nil; `missingKey` names a required key that is absent.
    func error(_ key: String?, _ message: String, missingKey: String? = nil) -> ConfigError {
        let named = key ?? missingKey
        let line = key.map { doc.map.line(of: path + [.key($0)]) } ?? doc.map.line(of: path)
        return ConfigError(file: doc.file, line: line, key: named.map { "\(keyPrefix).\($0)" } ?? keyPrefix,
                           message: message)
    }

    func checkKeys(_ allowed: [String]) throws {
        for key in table.keys.sorted() where !allowed.contains(key) {
            throw error(key, "unknown key \"\(key)\" in \(title); expected one of \(allowed.joined(separator: ", "))")
        }
    }

    private func value(_ key: String, expected: String, is type: TOMLType...) throws -> TOMLValueConvertible? {
        guard let v = table[key] else { return nil }
        guard type.contains(v.type) else { throw error(key, "expected \(expected), found \(describe(v.type))") }
        return v
    }

    func string(_ key: String) throws -> String? {
        try value(key, expected: "a string", is: .string)?.string
    }

    func bool(_ key: String) throws -> Bool? {
        try value(key, expected: "true or false", is: .bool)?.bool
    }

    /// A path, resolved against the config file's folder; "" (or absent) is nil.
    func optionalPath(_ key: String) throws -> String? {
        guard let p = try string(key), !p.isEmpty else { return nil }
        return doc.resolve(p)
    }

    /// An optional path to a file this process can read now.
    func readablePath(_ key: String) throws -> String? {
        guard let p = try optionalPath(key) else { return nil }
        let fd = open(p, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw error(key, "\(p): \(String(cString: strerror(errno)))") }
        close(fd)
        return p
    }

    /// The first line of a file that must not be readable by its group or others.
    func secret(_ key: String, _ path: String) throws -> String {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw error(key, "\(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw error(key, "\(path): \(String(cString: strerror(errno)))") }
        guard st.st_mode & S_IFMT == S_IFREG else { throw error(key, "\(path) is not a regular file") }
        let mode = st.st_mode & 0o777
        guard mode & 0o044 == 0 else {
            throw error(key, "\(path) is readable by its group or others (mode 0\(String(mode, radix: 8))); "
                        + "a password file must be readable by its owner only (chmod 600)")
        }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while bytes.count <= 65536 {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw error(key, "\(path): \(String(cString: strerror(errno)))")
            }
            if n == 0 { break }
            bytes += chunk[..<n]
        }
        var line = bytes.prefix { $0 != UInt8(ascii: "\n") }
        if line.last == UInt8(ascii: "\r") { line.removeLast() }
        guard !line.isEmpty, line.count <= 65535, !line.contains(0), let text = String(validating: line, as: UTF8.self) else {
            throw error(key, "\(path): expected the password on the first line (UTF-8, 1 to 65535 bytes)")
        }
        return text
    }

    /// An MQTT topic (or prefix) the daemon publishes under: no wildcards, no '/' at
    /// either end, no NUL.
    func topicName(_ key: String, _ v: String) throws -> String {
        guard !v.isEmpty, v.utf8.count <= 1024, !v.hasPrefix("/"), !v.hasSuffix("/"),
              !v.utf8.contains(where: { $0 == UInt8(ascii: "+") || $0 == UInt8(ascii: "#") || $0 == 0 })
        else {
            throw error(key, "\"\(v)\" is not a topic to publish under: no + or #, no / at the start or end, at most 1024 bytes")
        }
        return v
    }

    /// A non-empty path, resolved against the config file's folder.
    func path(_ key: String) throws -> String? {
        guard let p = try string(key) else { return nil }
        guard !p.isEmpty else { throw error(key, "must not be empty") }
        return doc.resolve(p)
    }

    func int(_ key: String, in range: ClosedRange<Int>) throws -> Int? {
        guard let v = try value(key, expected: "an integer", is: .int)?.int else { return nil }
        guard range.contains(v) else {
            throw error(key, "must be between \(range.lowerBound) and \(range.upperBound) (found \(v))")
        }
        return v
    }

    /// An integer or a float; `above` excludes its bound, `from` includes it (NaN fails both).
    func number(_ key: String, from low: Double? = nil, above open: Double? = nil, to high: Double) throws -> Double? {
        guard let v = try value(key, expected: "a number", is: .int, .double) else { return nil }
        let x = v.double ?? Double(v.int!)
        let ok = (low.map { x >= $0 } ?? true) && (open.map { x > $0 } ?? true) && x <= high
        guard ok else {
            let lower = low.map { "between \(fmt($0)) and" } ?? open.map { "more than \(fmt($0)) and at most" } ?? "at most"
            throw error(key, "must be \(lower) \(fmt(high)) (found \(fmt(x)))")
        }
        return x
    }

    /// Permission bits: an octal string ("0660") or a TOML integer (0o660).
    func fileMode(_ key: String) throws -> UInt32? {
        guard let v = try value(key, expected: "an octal string like \"0660\" or an integer like 0o660", is: .string, .int)
        else { return nil }
        if let n = v.int {
            guard (0...0o777).contains(n) else {
                // Usually 660 written where 0o660 was meant.
                throw error(key, "must be between 0 and 0o777 (found \(n), which is 0o\(String(n, radix: 8))); write 0o660 or \"0660\"")
            }
            return UInt32(n)
        }
        let s = v.string!
        let digits = s.hasPrefix("0o") ? String(s.dropFirst(2)) : s
        guard !digits.isEmpty, digits.utf8.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "7")).contains($0) }),
              let n = Int(digits, radix: 8), n <= 0o777
        else { throw error(key, "expected octal permission bits from \"0000\" to \"0777\" (found \"\(s)\")") }
        return UInt32(n)
    }

    /// CPU numbers: a list of integers, or a string of numbers and ranges ("0-3,6").
    /// Empty means "not set".
    func cpuList(_ key: String) throws -> [Int]? {
        guard let v = try value(key, expected: "a list of CPU numbers or a string like \"0-3,6\"", is: .array, .string)
        else { return nil }
        var cpus: [Int] = []
        if let s = v.string {
            cpus = try parseCPUString(key, s)
        } else {
            for element in v.array! {
                guard let n = element.int else {
                    throw error(key, "expected a list of CPU numbers (integers), found \(describe(element.type)) in it")
                }
                cpus.append(n)
            }
        }
        var seen = Set<Int>()
        for n in cpus {
            try checkCPU(key, n)
            guard seen.insert(n).inserted else { throw error(key, "CPU \(n) is listed twice") }
        }
        return cpus
    }

    private func checkCPU(_ key: String, _ n: Int) throws {
        guard (0...DaemonConfig.maxCPU).contains(n) else {
            throw error(key, "CPU \(n) is out of range; CPU numbers are 0 to \(DaemonConfig.maxCPU)")
        }
    }

    /// "0-3,6" → [0, 1, 2, 3, 6]. A range's ends are checked before it is expanded, so
    /// "0-999999999" cannot allocate a huge array.
    private func parseCPUString(_ key: String, _ s: String) throws -> [Int] {
        if s.trimmingCharacters(in: .whitespaces).isEmpty { return [] }
        var cpus: [Int] = []
        for part in s.split(separator: ",", omittingEmptySubsequences: false) {
            let ends = part.split(separator: "-", omittingEmptySubsequences: false)
                .map { Int($0.trimmingCharacters(in: .whitespaces)) }
            guard (1...2).contains(ends.count), let first = ends.first!, let last = ends.last!, first <= last else {
                throw error(key, "expected CPU numbers and ranges like \"0-3,6\" (found \"\(s)\")")
            }
            try checkCPU(key, first)
            try checkCPU(key, last)
            cpus.append(contentsOf: first...last)
        }
        return cpus
    }

    private func fmt(_ x: Double) -> String {
        x == x.rounded() && abs(x) < 1e15 ? String(Int(x)) : String(x)
    }
}

private func describe(_ type: TOMLType) -> String {
    switch type {
    case .int: return "an integer"
    case .array: return "an array"
    case .bool: return "a boolean"
    default: return "a \(type)"
    }
}

// MARK: - Text

extension DaemonConfig {
    /// TOMLKit's parse, with its error turned into a ConfigError at the reported line.
    private static func parseTOML(_ text: String, file: String, map: TextMap) throws -> TOMLTable {
        // TOMLKit hands the text to C++ as a C string, which would end at a NUL and parse
        // only the part before it.
        if let nul = text.utf8.firstIndex(of: 0) {
            let line = text.utf8[..<nul].reduce(1) { $0 + ($1 == UInt8(ascii: "\n") ? 1 : 0) }
            throw ConfigError(file: file, line: line, message: "not valid TOML: the file contains a NUL character")
        }
        // Text that would stop the process inside the parser instead of failing (see TextMap).
        if let trap = map.trap {
            throw ConfigError(file: file, line: trap.line, message: "not valid TOML: \(trap.message)")
        }
        do {
            return try TOMLTable(string: text)
        } catch let e as TOMLParseError {
            let line = e.source.begin.line
            throw ConfigError(file: file, line: line > 0 ? line : nil,
                              message: "not valid TOML: \(e.description) (column \(e.source.begin.column))")
        }
    }

    /// The bytes as a String, or an error at the line of the first byte that is not UTF-8.
    private static func decodeUTF8(_ bytes: [UInt8], file: String) throws -> String {
        var decoder = UTF8()
        var iterator = bytes.makeIterator()
        var line = 1
        while true {
            switch decoder.decode(&iterator) {
            case .scalarValue(let scalar):
                if scalar == "\n" { line += 1 }
            case .emptyInput:
                return String(decoding: bytes, as: UTF8.self)
            case .error:
                throw ConfigError(file: file, line: line, message: "the file is not valid UTF-8")
            }
        }
    }

    private struct ReadFailure: Error { var text: String }

    /// The whole file through POSIX calls, so the reason for a failure is strerror's
    /// ("No such file or directory", "Permission denied", "Is a directory").
    private static func readFile(_ path: String, limit: Int) throws -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw ReadFailure(text: String(cString: strerror(errno))) }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw ReadFailure(text: String(cString: strerror(errno)))
            }
            if n == 0 { return bytes }
            bytes.append(contentsOf: chunk[..<n])
            if bytes.count > limit { throw ReadFailure(text: "larger than \(limit) bytes; not a config file") }
        }
    }
}

// MARK: - Where things are written

/// One pass over the text, line by line, before TOMLKit sees it. It serves two purposes:
///
/// - Lines for errors. TOMLKit gives positions only for syntax errors, so for a value we
///   reject we find its line ourselves: the pass keeps track of the current [table] or
///   n-th [[array]] header and records the key path of every header and `key =` line.
///   Multi-line strings and arrays are followed so that their contents are not taken for
///   keys; a key with escapes is not recorded. A path it has not recorded gives nil,
///   never a guess.
///
/// - Parser traps. The toml++ 3.4 inside TOMLKit checks some preconditions with assert(),
///   which SwiftPM leaves enabled in release builds too, so a few malformed inputs abort the
///   process instead of raising a parse error: a daemon reloading a mistyped config would
///   die. Each trap below is a construct that is never valid TOML, so refusing it first
///   changes only which error a broken file gets:
///     - a table header whose name starts with anything but a key character, a quote or
///       ']' (`[#`, `[` at the end of a line, `[[[`);
///     - `}`, or a non-ASCII character, where an array expects a value (`[}`, `[1, }`);
///     - a date followed by T and no digit (`1979-05-27T:`), or by a space and a lone
///       digit (`1979-05-27 1`).
private struct TextMap {
    enum Part: Hashable { case key(String), index(Int) }

    private var entries: [(path: [Part], line: Int)] = []
    /// The first trap, if any: its line and what is wrong there.
    private(set) var trap: (line: Int, message: String)? = nil

    /// The first line whose key path starts with `path`: the table's header, its `key =`
    /// line, or a dotted `table.key =` line.
    func line(of path: [Part]) -> Int? {
        entries.first { $0.path.starts(with: path) }?.line
    }

    init(_ text: String) {
        var table: [Part] = []
        var arrayCounts: [[Part]: Int] = [:]
        var scanner = ValueScanner()
        var bytes = Array(text.utf8)
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { bytes.removeFirst(3) }  // the parser skips a BOM too
        let lines = bytes.split(separator: Byte.newline, omittingEmptySubsequences: false)
        for (n, line) in lines.enumerated() {
            let isLast = n == lines.count - 1
            defer { if trap == nil, let message = scanner.trap { trap = (n + 1, message) } }
            guard scanner.atTopLevel else { scanner.consume(line, isLastLine: isLast); continue }
            var i = line.startIndex
            skipBlanks(line, &i)
            guard i < line.endIndex, line[i] != Byte.hash else { continue }
            if line[i] == Byte.openBracket {
                if trap == nil, let message = headerTrap(line, from: i, isLastLine: isLast) { trap = (n + 1, message) }
                guard let header = parseHeader(line, from: i) else { continue }
                if header.isArray {
                    let array = resolve(header.keys.dropLast(), arrayCounts) + [.key(header.keys.last!)]
                    let count = arrayCounts[array, default: 0]
                    arrayCounts[array] = count + 1
                    table = array + [.index(count)]
                } else {
                    table = resolve(header.keys[...], arrayCounts)
                }
                entries.append((table, n + 1))
            } else if let keys = parseKeyPath(line, &i), i < line.endIndex, line[i] == Byte.equals {
                let names = keys.compactMap { $0 }
                if names.count == keys.count { entries.append((table + names.map { .key($0) }, n + 1)) }
                scanner.startValue(line[(i + 1)...], isLastLine: isLast)
            } else if let equals = firstEquals(line) {
                // Not a key we can read; still follow its value so later lines are judged right.
                scanner.startValue(line[(equals + 1)...], isLastLine: isLast)
            }
        }
    }

    /// A header's keys as a path; a key naming an array of tables means its latest element.
    private func resolve(_ keys: ArraySlice<String>, _ arrayCounts: [[Part]: Int]) -> [Part] {
        var path: [Part] = []
        for key in keys {
            path.append(.key(key))
            if let count = arrayCounts[path] { path.append(.index(count - 1)) }
        }
        return path
    }

    /// What toml++ requires after `[` (or `[[`) and blanks before it reads the name.
    private func headerTrap(_ line: ArraySlice<UInt8>, from start: Int, isLastLine: Bool) -> String? {
        var i = start + 1
        var allowed: Set<UInt8> = [Byte.closeBracket, Byte.openBracket]  // "[ [" is an ordinary error
        if i < line.endIndex, line[i] == Byte.openBracket {
            i += 1
            allowed = [Byte.closeBracket]
        }
        while i < line.endIndex, line[i] == Byte.space || line[i] == Byte.tab { i += 1 }
        guard i < line.endIndex else { return isLastLine ? nil : "a table header needs a name after '['" }
        let b = line[i]
        if Byte.isBareKey(b) || b == Byte.quote || b == Byte.apostrophe || allowed.contains(b) { return nil }
        return "a table header needs a name after '['"
    }

    private func parseHeader(_ line: ArraySlice<UInt8>, from start: Int) -> (keys: [String], isArray: Bool)? {
        var i = start + 1
        let isArray = i < line.endIndex && line[i] == Byte.openBracket
        if isArray { i += 1 }
        guard let parts = parseKeyPath(line, &i), i < line.endIndex, line[i] == Byte.closeBracket else { return nil }
        let keys = parts.compactMap { $0 }
        guard keys.count == parts.count else { return nil }
        if isArray { guard i + 1 < line.endIndex, line[i + 1] == Byte.closeBracket else { return nil } }
        return (keys, isArray)
    }

    /// `a.b."c d"` up to the first byte after it and its trailing blanks; a quoted key with
    /// escapes is read past but comes back nil (it would need decoding to compare).
    private func parseKeyPath(_ line: ArraySlice<UInt8>, _ i: inout Int) -> [String?]? {
        var keys: [String?] = []
        while true {
            skipBlanks(line, &i)
            guard let key = parseKey(line, &i) else { return nil }
            keys.append(key)
            skipBlanks(line, &i)
            guard i < line.endIndex, line[i] == Byte.dot else { return keys }
            i += 1
        }
    }

    /// One key: .some(name), or .some(nil) for a quoted key with escapes; nil when there
    /// is no key here.
    private func parseKey(_ line: ArraySlice<UInt8>, _ i: inout Int) -> String?? {
        guard i < line.endIndex else { return nil }
        let quote = line[i]
        if quote == Byte.quote || quote == Byte.apostrophe {
            var j = i + 1
            var escaped = false
            while j < line.endIndex, line[j] != quote {
                if quote == Byte.quote, line[j] == Byte.backslash { escaped = true; j += 1 }
                j += 1
            }
            guard j < line.endIndex else { return nil }
            defer { i = j + 1 }
            return .some(escaped ? nil : String(decoding: line[(i + 1)..<j], as: UTF8.self))
        }
        let start = i
        while i < line.endIndex, Byte.isBareKey(line[i]) { i += 1 }
        return i > start ? .some(String(decoding: line[start..<i], as: UTF8.self)) : nil
    }

    /// The first `=` outside quotes.
    private func firstEquals(_ line: ArraySlice<UInt8>) -> Int? {
        var quote: UInt8? = nil
        var i = line.startIndex
        while i < line.endIndex {
            let b = line[i]
            if let q = quote {
                if q == Byte.quote, b == Byte.backslash { i += 1 } else if b == q { quote = nil }
            } else if b == Byte.quote || b == Byte.apostrophe {
                quote = b
            } else if b == Byte.equals {
                return i
            }
            i += 1
        }
        return nil
    }

    private func skipBlanks(_ line: ArraySlice<UInt8>, _ i: inout Int) {
        while i < line.endIndex, line[i] == Byte.space || line[i] == Byte.tab || line[i] == Byte.cr { i += 1 }
    }
}

/// Follows values across lines: which multi-line string is open, which brackets, and
/// whether a value comes next; it skips strings and comments, and notes the first
/// parser trap at the start of a value.
private struct ValueScanner {
    private var openString: UInt8? = nil  // the quote of an open """ or ''' string
    private var brackets: [UInt8] = []
    private var expectValue = false
    private(set) var trap: String? = nil

    var atTopLevel: Bool { openString == nil && brackets.isEmpty }

    /// The text after a `key =`.
    mutating func startValue(_ text: ArraySlice<UInt8>, isLastLine: Bool) {
        expectValue = true
        consume(text, isLastLine: isLastLine)
    }

    mutating func consume(_ text: ArraySlice<UInt8>, isLastLine: Bool) {
        var i = text.startIndex
        func triple(_ q: UInt8, at j: Int) -> Bool {
            j + 2 < text.endIndex && text[j] == q && text[j + 1] == q && text[j + 2] == q
        }
        while i < text.endIndex {
            let b = text[i]
            if let q = openString {
                if q == Byte.quote && b == Byte.backslash { i += 2; continue }
                if triple(q, at: i) { openString = nil; i += 3 } else { i += 1 }
                continue
            }
            if b == Byte.space || b == Byte.tab || b == Byte.cr { i += 1; continue }
            if b == Byte.hash { return }
            if expectValue {
                expectValue = false
                if trap == nil {
                    trap = Self.trapAtValue(text[i...], inArray: brackets.last == Byte.openBracket, isLastLine: isLastLine)
                }
            }
            switch b {
            case Byte.quote, Byte.apostrophe:
                if triple(b, at: i) { openString = b; i += 3; continue }
                i += 1
                while i < text.endIndex, text[i] != b {
                    i += (b == Byte.quote && text[i] == Byte.backslash) ? 2 : 1
                }
            case Byte.openBracket:
                brackets.append(b)
                expectValue = true
            case Byte.openBrace:
                brackets.append(b)
            case Byte.closeBracket, Byte.closeBrace:
                _ = brackets.popLast()
            case Byte.comma:
                expectValue = brackets.last == Byte.openBracket
            case Byte.equals:
                expectValue = brackets.last == Byte.openBrace  // a key = value inside { }
            default:
                break
            }
            i += 1
        }
    }

    /// `text` starts where the parser expects a value.
    private static func trapAtValue(_ text: ArraySlice<UInt8>, inArray: Bool, isLastLine: Bool) -> String? {
        let b = text.first!
        // After '=' the parser checks for these itself; inside an array it does not.
        if inArray && (b == Byte.closeBrace || b >= 0x80) { return "expected a value after '[' or ','" }
        guard Byte.isDigit(b) else { return nil }

        // The byte after the first `count` bytes of text: nil at the end of the line, or
        // a newline there when more lines follow.
        func after(_ count: Int) -> UInt8?? {
            let j = text.startIndex + count
            return j < text.endIndex ? text[j] : (isLastLine ? nil : Byte.newline)
        }
        func isDate(_ d: [UInt8]) -> Bool {
            d.count >= 10 && [0, 1, 2, 3, 5, 6, 8, 9].allSatisfy { Byte.isDigit(d[$0]) } && d[4] == Byte.dash && d[7] == Byte.dash
        }
        // "1979-05-27T" and then no digit: the time parser assumes one.
        let head = Array(text.prefix(11))
        if isDate(head), head.count == 11, head[10] == UInt8(ascii: "T") || head[10] == UInt8(ascii: "t"),
           case let next?? = after(11), !Byte.isDigit(next) {
            return "a date-time needs a time (HH:MM) after the 'T'"
        }
        // A 10-character word (underscores do not count) shaped like a date, a space and one
        // digit: the parser reads on after the digit assuming a time follows. Its word ends
        // only at its own terminators (Unicode whitespace among them), so count scalars.
        let scalars = Array(String(decoding: text, as: UTF8.self).unicodeScalars)
        let wordLength = scalars.firstIndex(where: Byte.endsParserWord) ?? scalars.count
        let word = scalars[..<wordLength].filter { $0 != "_" }
        func scalar(_ k: Int) -> Unicode.Scalar?? {
            k < scalars.count ? scalars[k] : (isLastLine ? nil : "\n")
        }
        if word.count == 10, word[4] == "-", word[7] == "-",
           scalar(wordLength) == " ", case let digit?? = scalar(wordLength + 1), Byte.isDigit(digit),
           case let next?? = scalar(wordLength + 2), !Byte.isDigit(next) {
            return "a date-time needs a time (HH:MM) after the space"
        }
        return nil
    }
}

private enum Byte {
    static let newline = UInt8(ascii: "\n"), cr = UInt8(ascii: "\r"), space = UInt8(ascii: " "), tab = UInt8(ascii: "\t")
    static let quote = UInt8(ascii: "\""), apostrophe = UInt8(ascii: "'"), backslash = UInt8(ascii: "\\")
    static let openBracket = UInt8(ascii: "["), closeBracket = UInt8(ascii: "]")
    static let openBrace = UInt8(ascii: "{"), closeBrace = UInt8(ascii: "}")
    static let hash = UInt8(ascii: "#"), equals = UInt8(ascii: "="), comma = UInt8(ascii: ","), dot = UInt8(ascii: ".")
    static let dash = UInt8(ascii: "-"), underscore = UInt8(ascii: "_")

    static func isDigit(_ b: UInt8) -> Bool { b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9") }

    static func isBareKey(_ b: UInt8) -> Bool {
        isDigit(b) || (b >= UInt8(ascii: "A") && b <= UInt8(ascii: "Z")) || (b >= UInt8(ascii: "a") && b <= UInt8(ascii: "z"))
            || b == underscore || b == dash
    }

    static func isDigit(_ c: Unicode.Scalar) -> Bool { c >= "0" && c <= "9" }

    /// Where the parser's look-ahead over a number or date stops: its whitespace
    /// (toml++'s is_whitespace, Unicode spaces and line breaks included), ] } , and #.
    static func endsParserWord(_ c: Unicode.Scalar) -> Bool {
        switch c.value {
        case 0x09, 0x0A...0x0D, 0x20, 0x85, 0xA0, 0x1680, 0x180E, 0x2000...0x200B, 0x2028, 0x2029, 0x202F,
             0x205F, 0x2060, 0x3000, 0xFEFF:
            return true
        default:
            return c == "]" || c == "}" || c == "," || c == "#"
        }
    }
}
