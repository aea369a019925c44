import EffCapture
import Foundation
import Logging

/// Everything effnetd reads from its TOML file (config/effnetd.toml documents each key and
/// its default). Values here are already checked: paths are non-empty, numbers in range,
/// camera names unique.
public struct DaemonConfig: Sendable, Equatable {
    /// The file this was read from ("" when built in code).
    public var file: String = ""

    // [model]
    public var modelPath: String = DaemonConfig.installedModelDir + "/efficientnet-lite0-int8.tflite"
    public var labelsPath: String = DaemonConfig.installedModelDir + "/imagenet-labels.txt"
    /// nil: the best kernel table this CPU has.
    public var isa: String? = nil

    // [inference]
    /// Worker lanes of the shared pool; 0 = one per CPU of `cpus`.
    public var threads: Int = 0
    /// CPUs the pool's workers are pinned to; nil = every online CPU.
    public var cpus: [Int]? = nil
    /// Classes per prediction, and the lowest score published, unless a subscriber asks otherwise.
    public var topK: Int = 5
    public var minScore: Double = 0

    // [socket]
    public var socketPath: String = "/run/effnetd/effnetd.sock"
    /// Permission bits of the socket file.
    public var socketMode: UInt32 = 0o660
    /// Group of the socket file; nil = the daemon's own group.
    public var socketGroup: String? = nil
    /// Connections beyond this are refused with an error line.
    public var maxClients: Int = 64
    /// Predictions held for a subscriber that reads slower than they come; past it the
    /// oldest are dropped (the subscriber sees the gap).
    public var clientQueue: Int = 256
    /// A subscriber that has taken no bytes for this long while predictions wait is disconnected.
    public var clientStallTimeout: Double = 30

    // [log]
    public var logLevel: Logger.Level = .info

    // [mqtt]; nil (no [mqtt] table): no MQTT at all.
    public var mqtt: MQTTConfig? = nil

    // [[camera]]
    public var cameras: [CameraConfig] = []

    public init() {}

    /// Where a package installs the model and labels.
    public static let installedModelDir = "/usr/share/effnetd/models"
    /// Where systemd's unit points the daemon.
    public static let defaultPath = "/etc/effnetd/effnetd.toml"
}

/// The `[mqtt]` table: publishing predictions and health to an MQTT broker.
public struct MQTTConfig: Sendable, Equatable {
    public enum PublishMode: String, Sendable, Equatable, CaseIterable {
        /// Every prediction.
        case every
        /// When a camera's top-1 class changes, and at least every `heartbeat` seconds.
        case change
    }
    /// The broker's host name or address.
    public var host: String
    public var port: Int = 1883
    /// Default "effnetd-<hostname>".
    public var clientID: String
    /// Default "effnetd/<hostname>"; topics are `<topicPrefix>/<camera>/prediction` and `<topicPrefix>/status`.
    public var topicPrefix: String
    public var qos: Int = 1
    public var username: String? = nil
    /// The file the password came from (nil: none).
    public var passwordFile: String? = nil
    /// Read from `passwordFile` at each (re)load, first line, without its line ending.
    public var password: String? = nil
    /// Set: TLS, the broker's certificate verified against this CA file.
    public var tlsCAFile: String? = nil
    /// A client certificate and its key (both or neither; only with `tlsCAFile`).
    public var tlsCertFile: String? = nil
    public var tlsKeyFile: String? = nil
    public var keepalive: Int = 30
    public var publish: PublishMode = .change
    /// Seconds between retained status messages, and the longest gap between predictions
    /// of one camera in `change` mode.
    public var heartbeat: Double = 10
    /// Predictions held while the broker is away or slow; beyond it the oldest are dropped.
    public var queue: Int = 1000
    public var homeAssistant: Bool = true
    public var discoveryPrefix: String = "homeassistant"

    public init(host: String, hostname: String = MQTTConfig.hostname()) {
        self.host = host
        clientID = "effnetd-" + hostname
        topicPrefix = "effnetd/" + hostname
    }

    /// "host:port", for status and logs.
    public var broker: String { (host.contains(":") ? "[\(host)]" : host) + ":\(port)" }

    /// This machine's host name (gethostname), "localhost" when it has none.
    public static func hostname() -> String {
        var buf = [CChar](repeating: 0, count: 256)
        guard gethostname(&buf, buf.count - 1) == 0 else { return "localhost" }
        let name = String(cString: buf)
        return name.isEmpty ? "localhost" : name
    }
}

/// One `[[camera]]` table.
public struct CameraConfig: Sendable, Equatable {
    public enum Source: Sendable, Equatable {
        /// A V4L2 capture device, e.g. /dev/video0 or /dev/v4l/by-id/….
        case device(String)
        /// An image file or a folder of images, delivered in a loop at `fps`.
        case images(String)
    }
    /// Unique; names the camera on the wire, in logs and in `effctl status`.
    public var name: String
    public var source: Source
    public var width: Int = 640
    public var height: Int = 480
    public var fps: Double = 15
    /// nil: the cheapest format the camera offers at that size.
    public var format: PixelFormat? = nil

    public init(name: String, source: Source) { self.name = name; self.source = source }

    public var sourceDescription: String {
        switch source {
        case .device(let p): return p
        case .images(let p): return p
        }
    }
}

/// A configuration that cannot be used. The description names the file, the line when
/// known, the key, and what was expected.
public struct ConfigError: Error, CustomStringConvertible, Equatable {
    public var file: String
    public var line: Int?
    public var key: String?
    public var message: String
    public init(file: String, line: Int? = nil, key: String? = nil, message: String) {
        self.file = file; self.line = line; self.key = key; self.message = message
    }
    public var description: String {
        var s = file
        if let line { s += ":\(line)" }
        s += ": "
        if let key { s += "\(key): " }
        return s + message
    }
}
