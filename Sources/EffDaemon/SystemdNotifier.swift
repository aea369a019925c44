import CSystemd
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Tells systemd how the service is doing (sd_notify(3)): ready, reloading, stopping, a status
/// line, and watchdog pings. Every call is a no-op when the service was not started with a
/// notification socket, and none of them fails loudly: a missing or unreachable socket only
/// makes the call return false.
///
/// `environment` decides whether notifications are sent at all (`NOTIFY_SOCKET` present) and
/// whether a watchdog is expected; pass `[:]` for a notifier that never sends. The datagrams
/// themselves go through libsystemd, which reads `NOTIFY_SOCKET` (and `WATCHDOG_*`) from the
/// process environment, so the default argument is the one that makes sense outside tests.
/// Safe to call from several threads: it keeps no mutable state, and libsystemd opens a socket
/// per call.
public final class SystemdNotifier: Sendable {
    /// `NOTIFY_SOCKET` as given, nil when unset or empty.
    public let socketPath: String?
    /// Seconds between the pings systemd expects at the latest (`WatchdogSec=`); nil when the
    /// watchdog is off or meant for another process (`WATCHDOG_PID`). Ping at half of it.
    public let watchdogInterval: Double?

    public init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        let path = environment["NOTIFY_SOCKET"].flatMap { $0.isEmpty ? nil : $0 }
        socketPath = path
        if path != nil, environment["WATCHDOG_USEC"] != nil {
            var usec: UInt64 = 0
            // > 0: enabled for this process; 0: off or another process's; < 0: malformed.
            watchdogInterval = sd_watchdog_enabled(0, &usec) > 0 ? Double(usec) / 1_000_000 : nil
        } else {
            watchdogInterval = nil
        }
    }

    /// True when systemd gave the service a notification socket.
    public var isEnabled: Bool { socketPath != nil }

    /// Start-up finished: systemd moves the unit to "active" (Type=notify).
    @discardableResult
    public func ready(status: String? = nil) -> Bool {
        send(status.map { "READY=1\nSTATUS=\(Self.oneLine($0))" } ?? "READY=1")
    }

    /// A free-form line `systemctl status` shows.
    @discardableResult
    public func status(_ text: String) -> Bool {
        send("STATUS=\(Self.oneLine(text))")
    }

    /// A reload (SIGHUP) has begun. MONOTONIC_USEC lets systemd 253+ tie the READY=1 that follows
    /// to this reload; older versions ignore it.
    @discardableResult
    public func reloading() -> Bool {
        send("RELOADING=1\nMONOTONIC_USEC=\(Self.monotonicMicroseconds())")
    }

    /// The reload finished (successfully or not: the old config stays in force on failure).
    @discardableResult
    public func readyAfterReload(status: String? = nil) -> Bool {
        ready(status: status)
    }

    /// Shutdown has begun; systemd then waits up to TimeoutStopSec= for the process to exit.
    @discardableResult
    public func stopping() -> Bool {
        send("STOPPING=1")
    }

    /// The watchdog ping. Send it only while the service makes progress.
    @discardableResult
    public func watchdog() -> Bool {
        send("WATCHDOG=1")
    }

    /// Sends one notification (newline-separated `KEY=value` assignments). Returns whether
    /// libsystemd delivered it.
    @discardableResult
    public func send(_ state: String) -> Bool {
        guard isEnabled else { return false }
        return sd_notify(0, state) > 0
    }

    /// CLOCK_MONOTONIC in microseconds, the clock systemd's MONOTONIC_USEC uses.
    static func monotonicMicroseconds() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000 + UInt64(ts.tv_nsec) / 1_000
    }

    /// A value must stay on its line: a newline would start another assignment.
    private static func oneLine(_ s: String) -> String {
        s.contains(where: \.isNewline) ? String(s.map { $0.isNewline ? " " : $0 }) : s
    }
}
