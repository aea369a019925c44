import ArgumentParser
import EffDaemon
import Foundation
import Logging
import ServiceLifecycle

@main
struct Effnetd: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "effnetd",
        abstract: "Classifies camera frames with an int8 EfficientNet and publishes the predictions on a Unix socket.",
        discussion: """
            Runs until SIGTERM or SIGINT (drains and exits 0). SIGHUP reloads the config and the model; a bad \
            new config is rejected and the running one kept. Under systemd (Type=notify) it reports readiness \
            and status, and sends watchdog pings only while every pipeline makes progress. The protocol is in \
            docs/PROTOCOL.md; `effctl status` and `effctl watch` are its clients.
            """,
        version: EffnetdVersion.string)

    @Option(help: "Config file (TOML; config/effnetd.toml documents every key).")
    var config: String = DaemonConfig.defaultPath

    @Option(help: "Socket path, overriding the config's socket.path (for tests and unprivileged runs).")
    var socket: String?

    @Flag(help: "Check the config and the model, then exit (0 when both are usable).")
    var checkConfig = false

    func run() async throws {
        DaemonLogging.bootstrap(level: .info)
        let logger = Logger(label: "effnetd")
        let daemon: Daemon
        do {
            if checkConfig {
                let c = try DaemonConfig.load(path: config)
                _ = try ModelRuntime(config: c)
                print("\(config): OK (\(c.cameras.count) camera\(c.cameras.count == 1 ? "" : "s"))")
                return
            }
            daemon = try Daemon(configPath: config, socketOverride: socket, logger: logger)
        } catch {
            FileHandle.standardError.write(Data("effnetd: \(error)\n".utf8))
            throw ExitCode.failure
        }
        let group = ServiceGroup(configuration: .init(services: [daemon], gracefulShutdownSignals: [.sigterm, .sigint],
                                                      logger: logger))
        do { try await group.run() } catch {
            FileHandle.standardError.write(Data("effnetd: \(error)\n".utf8))
            daemon.stop()
            throw ExitCode.failure
        }
    }
}
