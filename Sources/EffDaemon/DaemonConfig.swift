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

    // [[camera]]
    public var cameras: [CameraConfig] = []

    public init() {}

    /// Where a package installs the model and labels.
    public static let installedModelDir = "/usr/share/effnetd/models"
    /// Where systemd's unit points the daemon.
    public static let defaultPath = "/etc/effnetd/effnetd.toml"
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
