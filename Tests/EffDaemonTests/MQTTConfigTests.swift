import EffDaemon
import Foundation
import XCTest

/// The [mqtt] table: defaults, the documented example, and refusals naming file, line and key.
final class MQTTConfigTests: XCTestCase {
    let file = "/etc/effnetd/effnetd.toml"
    var dir: URL!

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("effnetd-mqttconf-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    private func parse(_ text: String) throws -> DaemonConfig { try DaemonConfig.parse(text, file: file) }

    private func assertError(_ text: String, key: String, line: Int, _ fragment: String,
                             file testFile: StaticString = #filePath, line testLine: UInt = #line) {
        do {
            let c = try parse(text)
            XCTFail("parsed, expected an error about \(key): \(String(describing: c.mqtt))", file: testFile, line: testLine)
        } catch let e as ConfigError {
            XCTAssertEqual(e.file, file, "\(e)", file: testFile, line: testLine)
            XCTAssertEqual(e.key, key, "\(e)", file: testFile, line: testLine)
            XCTAssertEqual(e.line, line, "\(e)", file: testFile, line: testLine)
            XCTAssertTrue(e.message.contains(fragment), "\"\(e.message)\" lacks \"\(fragment)\"", file: testFile, line: testLine)
            XCTAssertTrue("\(e)".hasPrefix("\(file):\(line): \(key): "), "\(e)", file: testFile, line: testLine)
        } catch {
            XCTFail("not a ConfigError: \(error)", file: testFile, line: testLine)
        }
    }

    /// The commented-out [mqtt] table of config/effnetd.toml, once uncommented, states every
    /// default of the code (with the host it names): a default changed in one place but not
    /// the other shows up here. Without it there is no MQTT.
    func testExampleTableStatesTheDefaults() throws {
        let example = repoRoot.appendingPathComponent("config/effnetd.toml").path
        let text = try String(contentsOfFile: example, encoding: .utf8)
        XCTAssertNil(try DaemonConfig.load(path: example).mqtt, "the shipped config has no MQTT")
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let start = try XCTUnwrap(lines.firstIndex(of: "#[mqtt]"))
        var i = start
        while i < lines.count, lines[i].hasPrefix("#") {
            lines[i].removeFirst()
            i += 1
        }
        let config = try parse(lines.joined(separator: "\n"))
        let m = try XCTUnwrap(config.mqtt)
        XCTAssertEqual(m, MQTTConfig(host: "broker.example"))
        for key in ["port", "client_id", "topic_prefix", "qos", "username", "password_file", "tls_ca_file", "tls_cert_file",
                    "tls_key_file", "keepalive_s", "publish", "heartbeat_s", "queue", "homeassistant", "discovery_prefix"] {
            XCTAssertTrue(lines[start..<i].contains { $0.hasPrefix(key + " = ") }, "config/effnetd.toml documents \(key)")
        }
    }

    func testDefaultsComeFromTheHostName() throws {
        let m = try XCTUnwrap(parse("[mqtt]\nhost = \"10.0.0.2\"\n").mqtt)
        let host = MQTTConfig.hostname()
        XCTAssertFalse(host.isEmpty)
        XCTAssertEqual(m.clientID, "effnetd-\(host)")
        XCTAssertEqual(m.topicPrefix, "effnetd/\(host)")
        XCTAssertEqual(m.port, 1883)
        XCTAssertEqual(m.qos, 1)
        XCTAssertEqual(m.publish, .change)
        XCTAssertEqual(m.heartbeat, 10)
        XCTAssertEqual(m.queue, 1000)
        XCTAssertTrue(m.homeAssistant)
        XCTAssertEqual(m.broker, "10.0.0.2:1883")
        let set = try XCTUnwrap(parse("""
            [mqtt]
            host = "broker"
            port = 8883
            client_id = "cam-1"
            topic_prefix = "site/cam-1"
            qos = 0
            publish = "every"
            heartbeat_s = 2.5
            queue = 7
            homeassistant = false
            discovery_prefix = "ha"
            """).mqtt)
        XCTAssertEqual(set.port, 8883)
        XCTAssertEqual(set.clientID, "cam-1")
        XCTAssertEqual(set.topicPrefix, "site/cam-1")
        XCTAssertEqual(set.qos, 0)
        XCTAssertEqual(set.publish, .every)
        XCTAssertEqual(set.heartbeat, 2.5)
        XCTAssertEqual(set.queue, 7)
        XCTAssertFalse(set.homeAssistant)
        XCTAssertEqual(set.discoveryPrefix, "ha")
    }

    func testBadValuesAreRefusedWithFileLineAndKey() {
        assertError("[mqtt]\nhost = \"b\"\nport = 0\n", key: "mqtt.port", line: 3, "between 1 and 65535 (found 0)")
        assertError("[mqtt]\nhost = \"b\"\nport = 70000\n", key: "mqtt.port", line: 3, "between 1 and 65535")
        assertError("[mqtt]\nhost = \"b\"\n\nqos = 2\n", key: "mqtt.qos", line: 4, "between 0 and 1 (found 2)")
        assertError("[mqtt]\nhost = \"b\"\nhots = \"c\"\n", key: "mqtt.hots", line: 3, "unknown key \"hots\" in [mqtt]")
        assertError("[log]\nlevel = \"info\"\n[mqtt]\nport = 1883\n", key: "mqtt.host", line: 3, "needs host")
        assertError("[mqtt]\nhost = \"\"\n", key: "mqtt.host", line: 2, "host name or address")
        assertError("[mqtt]\nhost = \"b\"\npublish = \"sometimes\"\n", key: "mqtt.publish", line: 3, "\"change\" or \"every\"")
        assertError("[mqtt]\nhost = \"b\"\ntopic_prefix = \"a/#\"\n", key: "mqtt.topic_prefix", line: 3, "no + or #")
        assertError("[mqtt]\nhost = \"b\"\ntopic_prefix = \"a/\"\n", key: "mqtt.topic_prefix", line: 3, "no / at the start or end")
        assertError("[mqtt]\nhost = \"b\"\ndiscovery_prefix = \"\"\n", key: "mqtt.discovery_prefix", line: 3, "not a topic")
        assertError("[mqtt]\nhost = \"b\"\nkeepalive_s = 1\n", key: "mqtt.keepalive_s", line: 3, "between 5 and 65535")
        assertError("[mqtt]\nhost = \"b\"\nheartbeat_s = 0\n", key: "mqtt.heartbeat_s", line: 3, "more than 0")
        assertError("[mqtt]\nhost = \"b\"\nqueue = 0\n", key: "mqtt.queue", line: 3, "between 1 and 1000000")
        assertError("[mqtt]\nhost = \"b\"\nhomeassistant = \"yes\"\n", key: "mqtt.homeassistant", line: 3, "true or false")
        assertError("[mqtt]\nhost = 5\n", key: "mqtt.host", line: 2, "expected a string")
        assertError("mqtt = 1\n", key: "mqtt", line: 1, "expected a table")
        assertError("[mqtt]\nhost = \"b\"\ntls_ca_file = \"/nonexistent/ca.pem\"\n", key: "mqtt.tls_ca_file", line: 3,
                    "/nonexistent/ca.pem: No such file or directory")
    }

    func testClientCertificateNeedsKeyAndCA() throws {
        let pem = dir.appendingPathComponent("x.pem").path
        _ = FileManager.default.createFile(atPath: pem, contents: Data("x".utf8))
        assertError("[mqtt]\nhost = \"b\"\ntls_ca_file = \"\(pem)\"\ntls_cert_file = \"\(pem)\"\n", key: "mqtt.tls_cert_file",
                    line: 4, "tls_key_file is not set")
        assertError("[mqtt]\nhost = \"b\"\ntls_cert_file = \"\(pem)\"\ntls_key_file = \"\(pem)\"\n", key: "mqtt.tls_cert_file",
                    line: 3, "set tls_ca_file too")
        let m = try XCTUnwrap(parse("[mqtt]\nhost = \"b\"\ntls_ca_file = \"\(pem)\"\n").mqtt)
        XCTAssertEqual(m.tlsCAFile, pem)
    }

    /// The password file: its first line, read at load; refused when group or others may
    /// read it, when missing, empty or without a user name.
    func testPasswordFile() throws {
        let pw = dir.appendingPathComponent("pw").path
        try "s3cret\nsecond line\n".write(toFile: pw, atomically: true, encoding: .utf8)
        chmod(pw, 0o600)
        let ok = try XCTUnwrap(parse("[mqtt]\nhost = \"b\"\nusername = \"cam\"\npassword_file = \"\(pw)\"\n").mqtt)
        XCTAssertEqual(ok.username, "cam")
        XCTAssertEqual(ok.password, "s3cret")
        XCTAssertEqual(ok.passwordFile, pw)

        chmod(pw, 0o640)
        assertError("[mqtt]\nhost = \"b\"\nusername = \"cam\"\npassword_file = \"\(pw)\"\n", key: "mqtt.password_file", line: 4,
                    "readable by its group or others (mode 0640)")
        chmod(pw, 0o604)
        assertError("[mqtt]\nhost = \"b\"\nusername = \"cam\"\npassword_file = \"\(pw)\"\n", key: "mqtt.password_file", line: 4,
                    "(mode 0604)")
        chmod(pw, 0o400)
        XCTAssertEqual(try parse("[mqtt]\nhost = \"b\"\nusername = \"cam\"\npassword_file = \"\(pw)\"\n").mqtt?.password, "s3cret")
        assertError("[mqtt]\nhost = \"b\"\npassword_file = \"\(pw)\"\n", key: "mqtt.password_file", line: 3, "set username too")
        assertError("[mqtt]\nhost = \"b\"\nusername = \"cam\"\npassword_file = \"/nonexistent/pw\"\n", key: "mqtt.password_file",
                    line: 4, "/nonexistent/pw: No such file or directory")
        let empty = dir.appendingPathComponent("empty").path
        _ = FileManager.default.createFile(atPath: empty, contents: Data("\n".utf8), attributes: [.posixPermissions: 0o600])
        assertError("[mqtt]\nhost = \"b\"\nusername = \"cam\"\npassword_file = \"\(empty)\"\n", key: "mqtt.password_file",
                    line: 4, "expected the password on the first line")
        // Unreadable to us (not meaningful as root, who reads anything).
        if getuid() != 0 {
            chmod(pw, 0o000)
            assertError("[mqtt]\nhost = \"b\"\nusername = \"cam\"\npassword_file = \"\(pw)\"\n", key: "mqtt.password_file",
                        line: 4, "Permission denied")
        }
    }
}
