import EffWire
import Foundation
import XCTest

/// The real effnetd publishing to a real mosquitto broker on loopback, started by each test
/// (MQTTHarness.swift); what arrives is read with mosquitto_sub.
final class MQTTEndToEndTests: XCTestCase {
    let samples = repoRoot.appendingPathComponent("samples").path

    /// `[mqtt]` for a broker on 127.0.0.1 with a topic prefix of the test's own.
    func mqtt(port: Int, prefix: String, _ more: String = "") -> String {
        """
        [mqtt]
        host = "127.0.0.1"
        port = \(port)
        client_id = "effnetd-test-\(prefix.split(separator: "/").last!)"
        topic_prefix = "\(prefix)"
        \(more)
        """
    }

    func camera(_ name: String, images: String, fps: Double) -> String {
        "[[camera]]\nname = \"\(name)\"\nimages = \"\(images)\"\nfps = \(fps)\n"
    }

    func uniquePrefix() -> String { "t\(UUID().uuidString.prefix(8).lowercased())" }

    /// Predictions arrive on <prefix>/<camera>/prediction in order with the documented
    /// payload (the socket's prediction object); the retained status says online with
    /// per-camera figures; effctl status shows the publisher.
    func testPredictionsArriveWithRisingSeqAndTheDocumentedPayload() throws {
        let broker = try MosquittoBroker()
        let prefix = uniquePrefix()
        let sub = try MQTTSubscriber(port: broker.port, topic: "\(prefix)/#")
        let d = try DaemonProcess(cameras: camera("a", images: samples, fps: 10) + camera("b", images: "\(samples)/coffee.jpg", fps: 5),
                                  extra: mqtt(port: broker.port, prefix: prefix, "publish = \"every\"\nheartbeat_s = 1"))
        try d.waitReady()
        let got = sub.wait(for: 20) { $0.topic == "\(prefix)/a/prediction" }
        XCTAssertEqual(got.count, 20, "predictions of camera a; log:\n\(d.stderr)")
        let preds = got.compactMap(\.prediction)
        XCTAssertEqual(preds.count, got.count, "every payload is a prediction object: \(got.first?.payload ?? "")")
        for (i, p) in preds.enumerated() {
            XCTAssertEqual(p.camera, "a")
            XCTAssertEqual(p.top.count, 5)
            XCTAssertNotNil(RFC3339.parse(p.captured_at), p.captured_at)
            XCTAssertGreaterThanOrEqual(p.latency_ms, p.inference_ms)
            XCTAssertNil(p.dropped)
            if i > 0 { XCTAssertEqual(p.seq, preds[i - 1].seq + 1, "rising seq without gaps") }
        }
        XCTAssertFalse(got.contains(where: \.retained), "predictions are not retained")
        // The payload's fields, in the documented order.
        let keys = try XCTUnwrap(got.first?.payload).split(separator: ",").compactMap { part -> String? in
            guard let q = part.firstIndex(of: "\""), let r = part[part.index(after: q)...].firstIndex(of: "\"") else { return nil }
            return String(part[part.index(after: q)..<r])
        }
        XCTAssertEqual(Array(keys.prefix(7)), ["type", "camera", "seq", "captured_at", "latency_ms", "inference_ms", "top"])
        XCTAssertEqual(sub.wait { $0.topic == "\(prefix)/b/prediction" }.first?.prediction?.top.first?.label, "espresso")

        // Status: retained, online, per-camera figures.
        let statusMessages = sub.wait(for: 2) { $0.topic == "\(prefix)/status" && $0.payload.contains("\"online\"") }
        XCTAssertGreaterThanOrEqual(statusMessages.count, 2, "a status every heartbeat_s")
        let status = try XCTUnwrap(try retainedMessage(port: broker.port, topic: "\(prefix)/status"))
        let json = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(status.utf8)) as? [String: Any], status)
        XCTAssertEqual(json["state"] as? String, "online")
        let cams = try XCTUnwrap(json["cameras"] as? [[String: Any]], status)
        XCTAssertEqual(cams.compactMap { $0["name"] as? String }, ["a", "b"])
        for key in ["frames_per_s", "inferences_per_s", "latency_p50_ms", "latency_p99_ms", "dropped", "errors"] {
            XCTAssertNotNil(cams[0][key], "status has \(key): \(status)")
        }

        let st = try daemonStatus(d)
        let m = try XCTUnwrap(st.mqtt)
        XCTAssertEqual(m.state, "connected")
        XCTAssertEqual(m.broker, "127.0.0.1:\(broker.port)")
        XCTAssertNil(m.error)
        XCTAssertGreaterThanOrEqual(m.published, 20)
        XCTAssertEqual(m.connects, 1)
        let json2 = try runEffctl(["status", "--socket", d.socketPath, "--json"])
        XCTAssertTrue(json2.stdout.contains("\"mqtt\":{\"state\":\"connected\",\"broker\":\"127.0.0.1:\(broker.port)\""), json2.stdout)
        let table = try runEffctl(["status", "--socket", d.socketPath])
        XCTAssertTrue(table.stdout.contains("mqtt connected  broker 127.0.0.1:\(broker.port)"), table.stdout)
        XCTAssertTrue(table.stdout.contains("dropped 0"), table.stdout)
        XCTAssertTrue(d.stderrShows("MQTT: connected to 127.0.0.1:\(broker.port)"), d.stderr)
        XCTAssertEqual(d.terminate().status, 0, d.stderr)
    }

    /// `publish = "change"`: a camera whose top-1 never changes publishes once and then only
    /// heartbeats; one whose top-1 changes every frame publishes every change.
    func testChangeModeSendsChangesAndHeartbeats() throws {
        let broker = try MosquittoBroker()
        let prefix = uniquePrefix()
        let sub = try MQTTSubscriber(port: broker.port, topic: "\(prefix)/+/prediction")
        let d = try DaemonProcess(cameras: camera("same", images: "\(samples)/chelsea.jpg", fps: 10)
                                      + camera("cycle", images: samples, fps: 5),
                                  extra: mqtt(port: broker.port, prefix: prefix, "publish = \"change\"\nheartbeat_s = 1.5"))
        try d.waitReady()
        let start = try daemonStatus(d)
        XCTAssertEqual(sub.wait(for: 12) { $0.topic.hasSuffix("/cycle/prediction") }.count, 12, d.stderr)
        let window = Date()
        // Let "same" run for about 4.5 s after its first message.
        _ = sub.wait(for: 1) { $0.topic.hasSuffix("/same/prediction") }
        Thread.sleep(forTimeInterval: 4.5)
        let end = try daemonStatus(d)
        let same = sub.messages.filter { $0.topic.hasSuffix("/same/prediction") }.compactMap(\.prediction)
        let sameInferences = end.cameras[0].inferences - start.cameras[0].inferences
        XCTAssertGreaterThan(sameInferences, 20, "camera same keeps classifying")
        // One class all along: the first and then one per 1.5 s heartbeat, far fewer than inferences.
        XCTAssertGreaterThanOrEqual(same.count, 2, "heartbeats repeat an unchanged class")
        XCTAssertLessThan(same.count, 8, "only heartbeats, not every one of \(sameInferences) predictions: \(same.map(\.seq))")
        XCTAssertEqual(Set(same.compactMap { $0.top.first?.class }).count, 1)
        for (x, y) in zip(same, same.dropFirst()) { XCTAssertGreaterThan(y.seq - x.seq, 1, "seq skips the unchanged ones") }
        // The cycling camera: consecutive messages differ in top-1 (or are a heartbeat apart).
        let cycle = sub.messages.filter { $0.topic.hasSuffix("/cycle/prediction") }.compactMap(\.prediction)
        var changes = 0
        for (x, y) in zip(cycle, cycle.dropFirst()) where x.top.first?.class != y.top.first?.class { changes += 1 }
        XCTAssertGreaterThanOrEqual(changes, cycle.count - 3, "messages of the cycling camera are changes")
        _ = window
        XCTAssertEqual(d.terminate().status, 0, d.stderr)
    }

    /// The broker killed mid-stream and restarted: inference goes on at its rate, the queue
    /// drops its oldest (counted in status and in the next prediction), the daemon
    /// reconnects and predictions resume; one log line per change of state.
    func testBrokerKilledAndRestarted() throws {
        let broker = try MosquittoBroker()
        let prefix = uniquePrefix()
        // 5 frames/s, which inference keeps up with even in a debug or TSan build.
        let d = try DaemonProcess(cameras: camera("a", images: samples, fps: 5),
                                  extra: mqtt(port: broker.port, prefix: prefix, "publish = \"every\"\nqueue = 10"))
        try d.waitReady()
        var sub = try MQTTSubscriber(port: broker.port, topic: "\(prefix)/a/prediction")
        XCTAssertEqual(sub.wait(for: 5) { _ in true }.count, 5, d.stderr)
        let s0 = try daemonStatus(d)
        Thread.sleep(forTimeInterval: 4)
        let s1 = try daemonStatus(d)
        let lastBefore = try XCTUnwrap(sub.messages.last?.prediction?.seq)

        broker.stop(signal: SIGKILL)
        let killedAt = Date()
        let away = try waitForStatus(d) { $0.mqtt?.state == "disconnected" }
        XCTAssertEqual(away.mqtt?.state, "disconnected", "\(String(describing: away.mqtt))")
        XCTAssertNotNil(away.mqtt?.error)
        Thread.sleep(forTimeInterval: 4)
        let s2 = try daemonStatus(d)
        let m2 = try XCTUnwrap(s2.mqtt)
        XCTAssertGreaterThan(m2.dropped, 0, "the queue of 10 overflowed while the broker was away")
        XCTAssertEqual(m2.queued, 10)
        // Inference does not slow down: inferences per frame while the broker is away are
        // what they were before it went.
        let ratioBefore = Double(s1.cameras[0].inferences - s0.cameras[0].inferences) / Double(max(1, s1.cameras[0].frames - s0.cameras[0].frames))
        let during = Double(s2.cameras[0].inferences - s1.cameras[0].inferences) / Double(max(1, s2.cameras[0].frames - s1.cameras[0].frames))
        XCTAssertGreaterThan(s2.cameras[0].inferences - s1.cameras[0].inferences, 5, "inference goes on")
        XCTAssertGreaterThanOrEqual(during, ratioBefore * 0.7, "inferences per frame: \(ratioBefore) before, \(during) while the broker is away")

        try broker.start()
        let before = sub.messages
        sub = try MQTTSubscriber(port: broker.port, topic: "\(prefix)/a/prediction")
        let resumed = sub.wait(for: 12) { _ in true }.compactMap(\.prediction)
        XCTAssertEqual(resumed.count, 12, "predictions resume; log:\n\(d.stderr)")
        let reconnected = Date().timeIntervalSince(killedAt)
        let back = try waitForStatus(d) { $0.mqtt?.state == "connected" }
        let m3 = try XCTUnwrap(back.mqtt)
        XCTAssertEqual(m3.state, "connected")
        XCTAssertEqual(m3.connects, 2)
        XCTAssertNil(m3.error)
        XCTAssertGreaterThan(resumed.first?.seq ?? 0, lastBefore)
        // The first queued prediction sent after the outage says how many were dropped before it.
        let queuedFirst = resumed.first { $0.dropped != nil }
        XCTAssertNotNil(queuedFirst, "a prediction after the gap carries `dropped`: \(resumed.map { ($0.seq, $0.dropped) })")
        // The oldest were dropped: the ones right after the last sent before the outage, so
        // the gap is just before the prediction that reports it (some at-least-once
        // predictions the dead broker took may be missing too, never fewer).
        if let p = queuedFirst, let gap = p.dropped {
            let seen = (before + sub.messages).compactMap(\.prediction?.seq)
            let predecessor = seen.filter { $0 < p.seq }.max() ?? 0
            XCTAssertLessThanOrEqual(predecessor + gap + 1, p.seq, "the \(gap) dropped precede seq \(p.seq); last seen before it \(predecessor)")
        }
        print("MQTT broker restart: predictions resumed \(String(format: "%.1f", reconnected)) s after the kill "
              + "(broker down about 4.5 s), \(m3.dropped) predictions dropped, inferences per frame \(ratioBefore) before, \(during) during")
        // One line for the loss, one for the reconnect: not one per attempt.
        XCTAssertEqual(d.stderr.components(separatedBy: "MQTT: lost the connection").count - 1, 1, d.stderr)
        XCTAssertEqual(d.stderr.components(separatedBy: "MQTT: connected to").count - 1, 2, d.stderr)
        XCTAssertLessThanOrEqual(d.stderr.components(separatedBy: "MQTT: cannot connect").count - 1, 1, d.stderr)
        XCTAssertEqual(d.terminate().status, 0, d.stderr)
    }

    /// A broker, a topic prefix of the test's own and effnetd (one camera at 5 frames/s)
    /// connected to it.
    private func daemonConnectedToABroker() throws -> (MosquittoBroker, String, DaemonProcess) {
        let broker = try MosquittoBroker()
        let prefix = uniquePrefix()
        let d = try DaemonProcess(cameras: camera("a", images: "\(samples)/chelsea.jpg", fps: 5),
                                  extra: mqtt(port: broker.port, prefix: prefix))
        try d.waitReady()
        try waitForStatus(d) { $0.mqtt?.state == "connected" }
        return (broker, prefix, d)
    }

    /// SIGKILL: the broker publishes the Last Will, {"state":"offline"}, retained.
    func testSIGKILLLeavesOfflineRetained() throws {
        let (broker, prefix, d) = try daemonConnectedToABroker()
        let online = try XCTUnwrap(try retainedMessage(port: broker.port, topic: "\(prefix)/status"))
        XCTAssertTrue(online.hasPrefix(#"{"state":"online""#), online)
        d.signal(SIGKILL)
        d.process.waitUntilExit()
        let deadline = Date(timeIntervalSinceNow: 10)
        var last: String?
        repeat {
            last = try retainedMessage(port: broker.port, topic: "\(prefix)/status")
            if last == #"{"state":"offline"}"# { break }
            usleep(100_000)
        } while Date() < deadline
        XCTAssertEqual(last, #"{"state":"offline"}"#)
    }

    /// SIGTERM: the daemon publishes {"state":"offline"} itself and disconnects cleanly.
    func testCleanStopPublishesOffline() throws {
        let (broker, prefix, d) = try daemonConnectedToABroker()
        let sub = try MQTTSubscriber(port: broker.port, topic: "\(prefix)/status")
        let end = d.terminate()
        XCTAssertEqual(end.status, 0, d.stderr)
        XCTAssertLessThan(end.seconds, 4)
        XCTAssertEqual(sub.wait { !$0.retained && $0.payload == #"{"state":"offline"}"# }.count, 1, "offline published live")
        XCTAssertEqual(try retainedMessage(port: broker.port, topic: "\(prefix)/status"), #"{"state":"offline"}"#)
        XCTAssertTrue(d.stderr.contains("MQTT: published offline and disconnected"), d.stderr)
        // A clean DISCONNECT: the broker logs it as such, not as a lost client whose will it sends.
        XCTAssertTrue(broker.log.contains("Client effnetd-test-\(prefix) disconnected."), broker.log)
    }

    /// TLS with the CA that signed the broker's certificate works; with another CA the
    /// connection fails with a clear error in status and the log, and inference goes on.
    func testTLSRightCAConnectsWrongCAIsAClearError() throws {
        let certDir = FileManager.default.temporaryDirectory.appendingPathComponent("effnetd-certs-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: certDir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: certDir) }
        let right = try TestCertificates.make(in: certDir, name: "right")
        let wrong = try TestCertificates.make(in: certDir, name: "wrong")
        let broker = try MosquittoBroker(certificates: right)
        let tlsPort = try XCTUnwrap(broker.tlsPort)
        let prefix = uniquePrefix()
        let sub = try MQTTSubscriber(port: broker.port, topic: "\(prefix)/#")
        func config(_ ca: String) -> String {
            "[mqtt]\nhost = \"localhost\"\nport = \(tlsPort)\ntopic_prefix = \"\(prefix)\"\ntls_ca_file = \"\(ca)\"\npublish = \"every\"\n"
        }
        let good = try DaemonProcess(cameras: camera("a", images: samples, fps: 10), extra: config(right.caCert))
        try good.waitReady()
        XCTAssertEqual(sub.wait(for: 5) { $0.topic == "\(prefix)/a/prediction" }.count, 5, good.stderr)
        let st = try daemonStatus(good)
        XCTAssertEqual(st.mqtt?.state, "connected")
        XCTAssertEqual(st.mqtt?.tls, true)
        XCTAssertTrue(good.stderrShows("(TLS)"), good.stderr)
        XCTAssertEqual(good.terminate().status, 0, good.stderr)

        let bad = try DaemonProcess(cameras: camera("a", images: samples, fps: 10), extra: config(wrong.caCert))
        try bad.waitReady()
        let failed = try waitForStatus(bad) { $0.mqtt?.error != nil }
        let error = try XCTUnwrap(failed.mqtt?.error, "\(String(describing: failed.mqtt))")
        XCTAssertEqual(failed.mqtt?.state, "disconnected")
        XCTAssertTrue(error.contains("TLS") && error.contains("certificate verify failed"), error)
        XCTAssertTrue(bad.stderrShows("cannot connect to localhost:\(tlsPort): \(error)"), bad.stderr)
        let later = try waitForStatus(bad) { $0.cameras[0].inferences > 10 }
        XCTAssertGreaterThan(later.cameras[0].inferences, 10, "inference goes on without the broker")
        XCTAssertEqual(bad.terminate().status, 0, bad.stderr)
    }

    /// A wrong password: the broker's refusal is in status and the log (once), the socket
    /// keeps serving; SIGHUP with the right password file connects.
    func testWrongPasswordIsAClearErrorAndSIGHUPAppliesTheFix() throws {
        let broker = try MosquittoBroker(users: ["cam": "right-password"])
        let prefix = uniquePrefix()
        let sub = try MQTTSubscriber(port: broker.subscriberPort, topic: "\(prefix)/#")
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("effnetd-pw-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let pw = dir.appendingPathComponent("password").path
        try "wrong-password\n".write(toFile: pw, atomically: true, encoding: .utf8)
        chmod(pw, 0o600)
        let cams = camera("a", images: samples, fps: 10)
        let extra = mqtt(port: broker.port, prefix: prefix, "username = \"cam\"\npassword_file = \"\(pw)\"\npublish = \"every\"")
        let d = try DaemonProcess(cameras: cams, extra: extra)
        try d.waitReady()
        let refused = try waitForStatus(d) { $0.mqtt?.error != nil }
        XCTAssertEqual(refused.mqtt?.state, "disconnected")
        XCTAssertEqual(refused.mqtt?.error, "the broker refused the connection: not authorised")
        XCTAssertTrue(d.stderrShows("MQTT: cannot connect to 127.0.0.1:\(broker.port): the broker refused the connection: not authorised"),
                      d.stderr)
        // The socket serves predictions meanwhile.
        let c = try LineClient(path: d.socketPath)
        guard case .hello? = try c.readMessage() else { return XCTFail("no hello") }
        guard case .subscribed = try c.request(#"{"type":"subscribe"}"#) else { return XCTFail("no subscribed") }
        let p1 = try c.readPrediction(), p2 = try c.readPrediction()
        XCTAssertEqual(p2.seq, p1.seq + 1)
        // Retried with backoff (1 s, 2 s, …) but logged once.
        Thread.sleep(forTimeInterval: 3.5)
        XCTAssertEqual(d.stderr.components(separatedBy: "not authorised").count - 1, 1, d.stderr)
        XCTAssertTrue(sub.messages.filter { $0.topic.hasPrefix(prefix) && !$0.payload.contains("offline") }.isEmpty)

        // The fixed password file, applied by SIGHUP.
        try "right-password\n".write(toFile: pw, atomically: true, encoding: .utf8)
        chmod(pw, 0o600)
        d.signal(SIGHUP)
        // A reload plans the model again (slow in a TSan build): wait for its READY=1.
        XCTAssertTrue(d.notify.collect(timeout: 120) { $0.contains("READY=1") }.contains { $0.contains("READY=1") })
        XCTAssertEqual(sub.wait(for: 3) { $0.topic == "\(prefix)/a/prediction" }.count, 3, d.stderr)
        let ok = try waitForStatus(d) { $0.mqtt?.state == "connected" }
        XCTAssertEqual(ok.mqtt?.state, "connected")
        XCTAssertNil(ok.mqtt?.error)
        XCTAssertEqual(ok.reloads, 1)
        XCTAssertTrue(d.stderr.contains("MQTT now to 127.0.0.1:\(broker.port)"), d.stderr)
        XCTAssertEqual(d.terminate().status, 0, d.stderr)
    }

    /// Home Assistant discovery: one retained config per camera with state_topic, unique_id,
    /// availability_topic and a device block; a reload that renames a camera removes the old
    /// config (empty retained message) and adds the new one.
    func testHomeAssistantDiscoveryAndReload() throws {
        let broker = try MosquittoBroker()
        let prefix = uniquePrefix()
        let clientID = "effnetd-test-\(prefix)"
        let sub = try MQTTSubscriber(port: broker.port, topic: "homeassistant/#")
        let d = try DaemonProcess(cameras: camera("front", images: "\(samples)/chelsea.jpg", fps: 5)
                                      + camera("back.door", images: "\(samples)/coffee.jpg", fps: 5),
                                  extra: mqtt(port: broker.port, prefix: prefix))
        try d.waitReady()
        let node = clientID.replacingOccurrences(of: ".", with: "_")
        let configs = sub.wait(for: 2) { $0.topic.hasPrefix("homeassistant/sensor/\(node)_") }
        XCTAssertEqual(Set(configs.map(\.topic)), ["homeassistant/sensor/\(node)_front/config", "homeassistant/sensor/\(node)_back_door/config"])
        for message in configs {
            let json = try XCTUnwrap(message.json, message.payload)
            let camera = message.topic.contains("_front/") ? "front" : "back.door"
            XCTAssertEqual(json["state_topic"] as? String, "\(prefix)/\(camera)/prediction")
            XCTAssertEqual(json["unique_id"] as? String, "\(node)_\(camera.replacingOccurrences(of: ".", with: "_"))")
            XCTAssertEqual(json["availability_topic"] as? String, "\(prefix)/status")
            XCTAssertEqual(json["json_attributes_topic"] as? String, "\(prefix)/\(camera)/prediction")
            XCTAssertNotNil(json["value_template"] as? String)
            let device = try XCTUnwrap(json["device"] as? [String: Any], message.payload)
            XCTAssertEqual(device["identifiers"] as? [String], [node])
            XCTAssertEqual(device["model"] as? String, "efficientnet-lite0-int8.tflite")
            XCTAssertEqual(device["manufacturer"] as? String, "effnetd")
        }
        XCTAssertEqual(try retainedMessage(port: broker.port, topic: "homeassistant/sensor/\(node)_front/config").map { !$0.isEmpty }, true,
                       "discovery configs are retained")

        // Reload: back.door → side. Its config goes (empty retained), side's comes.
        try d.rewriteConfig(cameras: camera("front", images: "\(samples)/chelsea.jpg", fps: 5)
                                + camera("side", images: "\(samples)/coffee.jpg", fps: 5),
                            extra: mqtt(port: broker.port, prefix: prefix))
        d.signal(SIGHUP)
        XCTAssertTrue(d.notify.collect(timeout: 120) { $0.contains("READY=1") }.contains { $0.contains("READY=1") })
        XCTAssertEqual(sub.wait { $0.topic == "homeassistant/sensor/\(node)_back_door/config" && $0.payload.isEmpty }.count, 1, d.stderr)
        XCTAssertEqual(sub.wait { $0.topic == "homeassistant/sensor/\(node)_side/config" }.count, 1, d.stderr)
        XCTAssertNil(try retainedMessage(port: broker.port, topic: "homeassistant/sensor/\(node)_back_door/config"))
        let st = try daemonStatus(d)
        XCTAssertEqual(st.mqtt?.connects, 1, "an unchanged [mqtt] keeps its connection across the reload")
        XCTAssertEqual(d.terminate().status, 0, d.stderr)
    }

    /// [mqtt] under the shipped unit without the MQTT drop-in (only AF_UNIX sockets, as
    /// RestrictAddressFamilies=AF_UNIX; Tests/tools/af-unix-only.c): the publisher says why
    /// it cannot connect, the daemon serves its socket and stops cleanly.
    func testWithoutTheNetworkDropInTheErrorIsClear() throws {
        let launcher = FileManager.default.temporaryDirectory.appendingPathComponent("af-unix-only-mqtt-\(getpid())").path
        let cc = try runCommand("/usr/bin/cc", ["-O2", "-o", launcher, repoRoot.appendingPathComponent("Tests/tools/af-unix-only.c").path])
        XCTAssertEqual(cc.status, 0, cc.stderr)
        defer { unlink(launcher) }
        let broker = try MosquittoBroker()
        let d = try DaemonProcess(cameras: camera("a", images: samples, fps: 5),
                                  extra: mqtt(port: broker.port, prefix: uniquePrefix()), launcher: [launcher])
        try d.waitReady()
        let st = try waitForStatus(d) { $0.mqtt?.error != nil && $0.cameras[0].inferences > 3 }
        XCTAssertEqual(st.mqtt?.state, "disconnected")
        XCTAssertEqual(st.mqtt?.error, "Address family not supported by protocol")
        XCTAssertGreaterThan(st.cameras[0].inferences, 3)
        XCTAssertTrue(d.stderrShows("MQTT: cannot connect to 127.0.0.1:\(broker.port): Address family not supported by protocol"), d.stderr)
        XCTAssertEqual(d.terminate().status, 0, d.stderr)
    }

    /// Bad [mqtt] at startup: exit status 1 and a message naming the file, line and key.
    func testBadMQTTConfigAtStartupExitsNamingTheKey() throws {
        let d = try DaemonProcess(cameras: camera("a", images: samples, fps: 5), extra: "[mqtt]\nhost = \"b\"\nqos = 2\n")
        d.process.waitUntilExit()
        XCTAssertEqual(d.process.terminationStatus, 1)
        XCTAssertTrue(d.stderrShows("\(d.configPath):"), d.stderr)
        XCTAssertTrue(d.stderrShows("mqtt.qos: must be between 0 and 1 (found 2)"), d.stderr)
    }

    /// No broker at all: the daemon runs and serves, the publisher reports why it cannot
    /// connect, its queue stays at its bound and counts what it drops.
    func testNoBrokerNeverBlocksThePipeline() throws {
        let port = try freeLoopbackPort()
        let d = try DaemonProcess(cameras: camera("a", images: samples, fps: 10),
                                  extra: mqtt(port: port, prefix: uniquePrefix(), "publish = \"every\"\nqueue = 5"))
        try d.waitReady()
        let st = try waitForStatus(d) { ($0.mqtt?.dropped ?? 0) > 10 }
        let m = try XCTUnwrap(st.mqtt)
        XCTAssertEqual(m.state == "disconnected" || m.state == "connecting", true, m.state)
        XCTAssertEqual(m.error, "Connection refused")
        XCTAssertEqual(m.queued, 5)
        XCTAssertGreaterThan(m.dropped, 10)
        XCTAssertEqual(m.published, 0)
        XCTAssertGreaterThan(st.cameras[0].inferences, m.dropped)
        let table = try runEffctl(["status", "--socket", d.socketPath])
        XCTAssertTrue(table.stdout.contains("mqtt error: Connection refused"), table.stdout)
        let end = d.terminate()
        XCTAssertEqual(end.status, 0, d.stderr)
        XCTAssertLessThan(end.seconds, 4)
    }
}
