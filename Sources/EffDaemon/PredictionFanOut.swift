import EffWire
import Foundation

/// The pipelines' one sink: every prediction goes to the socket server (when someone
/// subscribes) and to the MQTT publisher (when [mqtt] is configured). Neither blocks: the
/// server hands the event to its event loop, the publisher to its bounded queue.
public final class PredictionFanOut: PredictionSink, @unchecked Sendable {
    public let server: SocketServer
    private let lock = NSLock()
    private var mqtt: MQTTPublisher?

    public init(server: SocketServer) { self.server = server }

    public var publisher: MQTTPublisher? { lock.withLock { mqtt } }

    /// Swaps the publisher (reload); the caller stops the old one.
    public func setPublisher(_ p: MQTTPublisher?) { lock.withLock { mqtt = p } }

    public var wantedTopK: Int { server.wantedTopK }

    public var hasSubscribers: Bool { server.hasSubscribers || lock.withLock { mqtt != nil } }

    public func sequence(for camera: String) -> SequenceCounter { server.sequence(for: camera) }

    public func publish(_ event: PredictionEvent) {
        if server.hasSubscribers { server.publish(event) }
        lock.withLock { mqtt }?.offer(event)
    }
}
