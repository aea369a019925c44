import EffDaemon
import Foundation
import XCTest

final class ConfigTests: XCTestCase {
    static let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    static let example = repo.appendingPathComponent("config/effnetd.toml").path
    static let demo = repo.appendingPathComponent("config/demo.toml").path

    /// The file name parse() is given in these tests; relative paths resolve against its folder.
    let file = "/etc/effnetd/effnetd.toml"

    private func parse(_ text: String) throws -> DaemonConfig {
        try DaemonConfig.parse(text, file: file)
    }

    /// `text` must fail with exactly this key and line, and a message containing `fragment`.
    private func assertError(_ text: String, key: String?, line: Int?, _ fragment: String,
                             file testFile: StaticString = #filePath, line testLine: UInt = #line) {
        do {
            let config = try parse(text)
            XCTFail("parsed, expected an error about \(key ?? "the file"): \(config)", file: testFile, line: testLine)
        } catch let e as ConfigError {
            XCTAssertEqual(e.file, file, "\(e)", file: testFile, line: testLine)
            XCTAssertEqual(e.key, key, "\(e)", file: testFile, line: testLine)
            XCTAssertEqual(e.line, line, "\(e)", file: testFile, line: testLine)
            XCTAssertTrue(e.message.contains(fragment), "\"\(e.message)\" lacks \"\(fragment)\"", file: testFile, line: testLine)
        } catch {
            XCTFail("not a ConfigError: \(error)", file: testFile, line: testLine)
        }
    }

    // MARK: - Shipped files

    /// The installed example sets every key to its default, so it must equal DaemonConfig()
    /// plus its one camera: a default changed in code but not in the file shows up here.
    func testExampleParsesAndStatesTheDefaults() throws {
        let config = try DaemonConfig.load(path: Self.example)
        var expected = DaemonConfig()
        expected.file = Self.example
        expected.cameras = [CameraConfig(name: "front", source: .device("/dev/video0"))]
        XCTAssertEqual(config, expected)
    }

    /// The commented-out second camera in the example is valid once uncommented.
    func testExampleSecondCameraIsValid() throws {
        let text = try String(contentsOfFile: Self.example, encoding: .utf8)
        let marker = try XCTUnwrap(text.range(of: "# A second camera, as an example:"))
        let tail = text[marker.upperBound...].split(separator: "\n").map { $0.hasPrefix("# ") ? $0.dropFirst(2) : $0 }
        let config = try parse(text[..<marker.lowerBound] + tail.joined(separator: "\n"))
        XCTAssertEqual(config.cameras.map(\.name), ["front", "back"])
        XCTAssertEqual(config.cameras[1].format, .mjpeg)
        XCTAssertEqual(config.cameras[1].width, 1280)
    }

    func testDemoParsesAndItsPathsExist() throws {
        let config = try DaemonConfig.load(path: Self.demo)
        XCTAssertTrue(FileManager.default.fileExists(atPath: config.modelPath), config.modelPath)
        XCTAssertTrue(FileManager.default.fileExists(atPath: config.labelsPath), config.labelsPath)
        XCTAssertEqual(config.socketPath, "/tmp/effnetd-demo.sock")
        XCTAssertEqual(config.socketMode, 0o600)
        XCTAssertEqual(config.cameras.count, 2)
        for camera in config.cameras {
            guard case .images(let folder) = camera.source else { return XCTFail("\(camera.name): not images") }
            var isDirectory: ObjCBool = false
            XCTAssertTrue(FileManager.default.fileExists(atPath: folder, isDirectory: &isDirectory) && isDirectory.boolValue, folder)
        }
        XCTAssertEqual(config.cameras.map(\.fps), [5, 2])
    }

    /// `effnetd --config config/demo.toml` from the checkout: a relative config path gives
    /// absolute paths that stay right whatever the working directory is later.
    func testDemoByRelativePathFromTheCheckout() throws {
        let fm = FileManager.default
        let saved = fm.currentDirectoryPath
        XCTAssertTrue(fm.changeCurrentDirectoryPath(Self.repo.path))
        let config: DaemonConfig
        do {
            defer { _ = fm.changeCurrentDirectoryPath(saved) }
            config = try DaemonConfig.load(path: "config/demo.toml")
        }
        XCTAssertEqual(config.file, "config/demo.toml")
        XCTAssertTrue(config.modelPath.hasPrefix("/"), config.modelPath)
        XCTAssertTrue(fm.fileExists(atPath: config.modelPath), config.modelPath)
        XCTAssertTrue(fm.fileExists(atPath: config.cameras[0].sourceDescription))
    }

    // MARK: - Defaults and values

    func testEmptyFileGivesDefaults() throws {
        var expected = DaemonConfig()
        expected.file = file
        XCTAssertEqual(try parse(""), expected)
        XCTAssertEqual(try parse("# nothing\n\n[model]\n[inference]\n[socket]\n[log]\n"), expected)
        XCTAssertEqual(expected.modelPath, "/usr/share/effnetd/models/efficientnet-lite0-int8.tflite")
        XCTAssertNil(expected.isa)
        XCTAssertNil(expected.cpus)
        XCTAssertEqual(expected.socketMode, 0o660)
        XCTAssertEqual(expected.logLevel, .info)
    }

    /// No cameras is valid: the daemon serves status only.
    func testZeroCamerasIsValid() throws {
        XCTAssertEqual(try parse("[model]\nisa = \"auto\"\n").cameras, [])
        XCTAssertEqual(try parse("camera = []\n").cameras, [])
    }

    func testEveryKeyIsRead() throws {
        let config = try parse("""
            [model]
            path = "/opt/m.tflite"
            labels = "/opt/l.txt"
            isa = "neondot"
            [inference]
            threads = 3
            cpus = [2, 0, 1]
            top_k = 7
            min_score = 0.25
            [socket]
            path = "/run/x.sock"
            mode = 0o640
            group = "video"
            max_clients = 9
            queue = 17
            stall_timeout_s = 2.5
            [log]
            level = "debug"
            [[camera]]
            name = "a.b_c-1"
            device = "/dev/video3"
            width = 1280
            height = 720
            fps = 7.5
            format = "YUYV"
            [[camera]]
            name = "b"
            images = "/srv/pics"
            format = "rgb24"
            """)
        XCTAssertEqual(config.modelPath, "/opt/m.tflite")
        XCTAssertEqual(config.labelsPath, "/opt/l.txt")
        XCTAssertEqual(config.isa, "neondot")
        XCTAssertEqual(config.threads, 3)
        XCTAssertEqual(config.cpus, [2, 0, 1])
        XCTAssertEqual(config.topK, 7)
        XCTAssertEqual(config.minScore, 0.25)
        XCTAssertEqual(config.socketPath, "/run/x.sock")
        XCTAssertEqual(config.socketMode, 0o640)
        XCTAssertEqual(config.socketGroup, "video")
        XCTAssertEqual(config.maxClients, 9)
        XCTAssertEqual(config.clientQueue, 17)
        XCTAssertEqual(config.clientStallTimeout, 2.5)
        XCTAssertEqual(config.logLevel, .debug)
        XCTAssertEqual(config.cameras.count, 2)
        let a = config.cameras[0], b = config.cameras[1]
        XCTAssertEqual(a.name, "a.b_c-1")
        XCTAssertEqual(a.source, .device("/dev/video3"))
        XCTAssertEqual([a.width, a.height], [1280, 720])
        XCTAssertEqual(a.fps, 7.5)
        XCTAssertEqual(a.format, .yuyv)
        XCTAssertEqual(b.source, .images("/srv/pics"))
        XCTAssertEqual(b.format, .rgb24)
        XCTAssertEqual([b.width, b.height], [640, 480])
        XCTAssertEqual(b.fps, 15)
    }

    func testSpecialValues() throws {
        XCTAssertNil(try parse("[model]\nisa = \"auto\"").isa)
        XCTAssertNil(try parse("[inference]\ncpus = []").cpus)
        XCTAssertNil(try parse("[inference]\ncpus = \"\"").cpus)
        XCTAssertEqual(try parse("[inference]\ncpus = \"0-3,6\"").cpus, [0, 1, 2, 3, 6])
        XCTAssertEqual(try parse("[inference]\ncpus = \" 1 , 4-5 \"").cpus, [1, 4, 5])
        XCTAssertEqual(try parse("[inference]\nmin_score = 1").minScore, 1)
        XCTAssertEqual(try parse("[inference]\nmin_score = 0").minScore, 0)
        XCTAssertNil(try parse("[socket]\ngroup = \"\"").socketGroup)
        XCTAssertEqual(try parse("[socket]\nmode = \"0o644\"").socketMode, 0o644)
        XCTAssertEqual(try parse("[socket]\nmode = \"600\"").socketMode, 0o600)
        XCTAssertEqual(try parse("[socket]\nmode = 0").socketMode, 0)
        XCTAssertEqual(try parse("[socket]\nstall_timeout_s = 86400").clientStallTimeout, 86400)
        XCTAssertEqual(try parse("[socket]\npath = \"/\(String(repeating: "s", count: 106))\"").socketPath.utf8.count, 107)
        let camera = "[[camera]]\nname = \"c\"\nimages = \"/x\"\n"
        XCTAssertNil(try parse(camera + "format = \"auto\"").cameras[0].format)
        XCTAssertEqual(try parse(camera + "format = \"MJPG\"").cameras[0].format, .mjpeg)
        XCTAssertEqual(try parse(camera + "fps = 1000").cameras[0].fps, 1000)
        XCTAssertEqual(try parse(camera + "width = 16\nheight = 8192").cameras[0].height, 8192)
        XCTAssertEqual(try parse("[[camera]]\nname = \"\(String(repeating: "n", count: 64))\"\ndevice = \"/dev/video0\"").cameras.count, 1)
        for level in ["trace", "debug", "info", "notice", "warning", "error", "critical"] {
            XCTAssertEqual(try parse("[log]\nlevel = \"\(level)\"").logLevel.rawValue, level)
        }
    }

    // MARK: - Relative paths

    func testRelativePathsResolveAgainstTheConfigFolder() throws {
        let config = try parse("""
            [model]
            path = "models/m.tflite"
            labels = "/abs/labels.txt"
            [socket]
            path = "run/s.sock"
            [[camera]]
            name = "a"
            images = "../pics"
            [[camera]]
            name = "b"
            device = "video0"
            [[camera]]
            name = "c"
            device = "/dev/video1"
            """)
        XCTAssertEqual(config.modelPath, "/etc/effnetd/models/m.tflite")
        XCTAssertEqual(config.labelsPath, "/abs/labels.txt")
        XCTAssertEqual(config.socketPath, "/etc/effnetd/run/s.sock")
        XCTAssertEqual(config.cameras.map(\.source), [.images("/etc/effnetd/../pics"), .device("/etc/effnetd/video0"), .device("/dev/video1")])
    }

    func testRelativeConfigFileResolvesAgainstTheWorkingDirectory() throws {
        let cwd = FileManager.default.currentDirectoryPath
        let text = "[model]\npath = \"m.tflite\"\n"
        XCTAssertEqual(try DaemonConfig.parse(text, file: "conf/x.toml").modelPath, cwd + "/conf/m.tflite")
        XCTAssertEqual(try DaemonConfig.parse(text, file: "x.toml").modelPath, cwd + "/m.tflite")
        XCTAssertEqual(try DaemonConfig.parse(text, file: "").modelPath, cwd + "/m.tflite")
        XCTAssertEqual(try DaemonConfig.parse(text, file: "/x.toml").modelPath, "/m.tflite")
    }

    // MARK: - Unknown tables and keys

    func testUnknownTable() {
        assertError("# comment\n\n[modle]\npath = \"x\"\n", key: "modle", line: 3,
                    "unknown table \"modle\"; expected one of model, inference, socket, log, mqtt, camera")
    }

    func testKeyOutsideAnyTable() {
        assertError("# header forgotten\nthreads = 4\n[model]\n", key: "threads", line: 2, "unknown key \"threads\" outside any table")
    }

    func testUnknownKey() {
        let text = """
            [model]
            path = "x.tflite"

            pth = "y"
            """
        assertError(text, key: "model.pth", line: 4, "unknown key \"pth\" in [model]; expected one of path, labels, isa")
        XCTAssertEqual(try XCTUnwrap(catchError(text)).description,
                       "/etc/effnetd/effnetd.toml:4: model.pth: unknown key \"pth\" in [model]; expected one of path, labels, isa")
        assertError("[inference]\nthread = 1\n", key: "inference.thread", line: 2, "expected one of threads, cpus, top_k, min_score")
        assertError("[socket]\n\nqueue_len = 1\n", key: "socket.queue_len", line: 3, "expected one of path, mode, group, max_clients, queue, stall_timeout_s")
        assertError("[log]\nlevl = \"x\"\n", key: "log.levl", line: 2, "unknown key \"levl\" in [log]; expected one of level")
    }

    func testUnknownKeyInTheRightCamera() {
        assertError("""
            [[camera]]
            name = "a"
            images = "/x"
            [[camera]]
            name = "b"
            images = "/x"
            rate = 5
            """, key: "camera[2].rate", line: 7,
            "unknown key \"rate\" in camera[2]; expected one of name, device, images, width, height, fps, format")
    }

    func testUnknownSubtable() {
        assertError("[model]\npath = \"x\"\n[model.extra]\nx = 1\n", key: "model.extra", line: 3, "unknown key \"extra\" in [model]")
        assertError("[[camera]]\nname = \"a\"\nimages = \"/x\"\n[[camera]]\nname = \"b\"\nimages = \"/x\"\n[camera.opts]\nx = 1\n",
                    key: "camera[2].opts", line: 7, "unknown key \"opts\" in camera[2]")
    }

    // MARK: - Wrong types

    func testWrongTypes() {
        assertError("[model]\npath = 5\n", key: "model.path", line: 2, "expected a string, found an integer")
        assertError("[model]\nlabels = [\"a\"]\n", key: "model.labels", line: 2, "expected a string, found an array")
        assertError("[model]\nisa = true\n", key: "model.isa", line: 2, "expected a string, found a boolean")
        assertError("[inference]\nthreads = \"4\"\n", key: "inference.threads", line: 2, "expected an integer, found a string")
        assertError("[inference]\ntop_k = 4.0\n", key: "inference.top_k", line: 2, "expected an integer, found a floating-point number")
        assertError("[inference]\nmin_score = \"0.5\"\n", key: "inference.min_score", line: 2, "expected a number, found a string")
        assertError("[inference]\ncpus = 3\n", key: "inference.cpus", line: 2, "expected a list of CPU numbers or a string like \"0-3,6\"")
        assertError("[inference]\ncpus = [1, \"2\"]\n", key: "inference.cpus", line: 2, "expected a list of CPU numbers (integers), found a string")
        assertError("[socket]\nmode = true\n", key: "socket.mode", line: 2, "expected an octal string like \"0660\" or an integer like 0o660")
        assertError("[socket]\ngroup = 10\n", key: "socket.group", line: 2, "expected a string")
        assertError("[socket]\nmax_clients = \"10\"\n", key: "socket.max_clients", line: 2, "expected an integer")
        assertError("[socket]\nqueue = 1.5\n", key: "socket.queue", line: 2, "expected an integer")
        assertError("[socket]\nstall_timeout_s = \"30s\"\n", key: "socket.stall_timeout_s", line: 2, "expected a number")
        assertError("[log]\nlevel = 3\n", key: "log.level", line: 2, "expected a string")
        assertError("[model]\npath = 1979-05-27\n", key: "model.path", line: 2, "expected a string, found a date")
    }

    func testWrongTypesForTables() {
        assertError("# x\nmodel = \"m.tflite\"\n", key: "model", line: 2, "expected a table ([model]), found a string")
        assertError("inference = [1]\n", key: "inference", line: 1, "expected a table ([inference]), found an array")
        assertError("\n[camera]\nname = \"a\"\n", key: "camera", line: 2, "expected [[camera]] tables (an array of tables), found a table")
        // An inline array has no [[camera]] header to point at, so no line rather than a guess.
        assertError("camera = [\"front\"]\n", key: "camera[1]", line: nil, "expected a table, found a string")
    }

    func testCameraWrongTypes() {
        let head = "[[camera]]\nname = \"a\"\nimages = \"/x\"\n"
        assertError("[[camera]]\nname = 1\nimages = \"/x\"\n", key: "camera[1].name", line: 2, "expected a string")
        assertError("[[camera]]\nname = \"a\"\ndevice = 0\n", key: "camera[1].device", line: 3, "expected a string")
        assertError(head + "width = \"640\"\n", key: "camera[1].width", line: 4, "expected an integer")
        assertError(head + "height = 480.0\n", key: "camera[1].height", line: 4, "expected an integer")
        assertError(head + "fps = \"15\"\n", key: "camera[1].fps", line: 4, "expected a number")
        assertError(head + "format = 1\n", key: "camera[1].format", line: 4, "expected a string")
    }

    // MARK: - Ranges and names

    func testModelValues() {
        assertError("[model]\npath = \"\"\n", key: "model.path", line: 2, "must not be empty")
        assertError("[model]\nlabels = \"\"\n", key: "model.labels", line: 2, "must not be empty")
        assertError("[model]\nisa = \"sse4\"\n", key: "model.isa", line: 2,
                    "unknown instruction set \"sse4\"; expected auto or one of scalar, avx2, avx512vnni, neon, neondot")
        assertError("[model]\nisa = \"AVX2\"\n", key: "model.isa", line: 2, "unknown instruction set")
    }

    func testInferenceRanges() {
        assertError("[inference]\nthreads = -1\n", key: "inference.threads", line: 2, "must be between 0 and 1024 (found -1)")
        assertError("[inference]\nthreads = 1025\n", key: "inference.threads", line: 2, "must be between 0 and 1024 (found 1025)")
        assertError("[inference]\ntop_k = 0\n", key: "inference.top_k", line: 2, "must be between 1 and 1000 (found 0)")
        assertError("[inference]\ntop_k = 1001\n", key: "inference.top_k", line: 2, "must be between 1 and 1000")
        assertError("[inference]\nmin_score = -0.1\n", key: "inference.min_score", line: 2, "must be between 0 and 1 (found -0.1)")
        assertError("[inference]\nmin_score = 1.5\n", key: "inference.min_score", line: 2, "must be between 0 and 1 (found 1.5)")
        assertError("[inference]\nmin_score = 2\n", key: "inference.min_score", line: 2, "must be between 0 and 1 (found 2)")
        assertError("[inference]\nmin_score = nan\n", key: "inference.min_score", line: 2, "must be between 0 and 1 (found nan)")
    }

    func testCPULists() {
        assertError("[inference]\ncpus = [1, 1]\n", key: "inference.cpus", line: 2, "CPU 1 is listed twice")
        assertError("[inference]\ncpus = \"0-3,2\"\n", key: "inference.cpus", line: 2, "CPU 2 is listed twice")
        assertError("[inference]\ncpus = [-1]\n", key: "inference.cpus", line: 2, "CPU -1 is out of range; CPU numbers are 0 to 1023")
        assertError("[inference]\ncpus = [1024]\n", key: "inference.cpus", line: 2, "CPU 1024 is out of range")
        assertError("[inference]\ncpus = \"0-999999999\"\n", key: "inference.cpus", line: 2, "CPU 999999999 is out of range")
        for bad in ["3-1", "a", "1,,2", "1-2-3", "-1", "0-", "1 2"] {
            assertError("[inference]\ncpus = \"\(bad)\"\n", key: "inference.cpus", line: 2, "expected CPU numbers and ranges like \"0-3,6\" (found \"\(bad)\")")
        }
    }

    func testSocketValues() {
        assertError("[socket]\npath = \"\"\n", key: "socket.path", line: 2, "must not be empty")
        let long = "/" + String(repeating: "s", count: 107)
        assertError("[socket]\npath = \"\(long)\"\n", key: "socket.path", line: 2, "is 108 bytes; a Unix socket path holds at most 107")
        assertError("[socket]\nmode = \"0680\"\n", key: "socket.mode", line: 2, "expected octal permission bits from \"0000\" to \"0777\" (found \"0680\")")
        assertError("[socket]\nmode = \"1777\"\n", key: "socket.mode", line: 2, "expected octal permission bits")
        assertError("[socket]\nmode = \"\"\n", key: "socket.mode", line: 2, "expected octal permission bits")
        assertError("[socket]\nmode = 660\n", key: "socket.mode", line: 2, "must be between 0 and 0o777 (found 660, which is 0o1224); write 0o660 or \"0660\"")
        assertError("[socket]\nmode = -1\n", key: "socket.mode", line: 2, "must be between 0 and 0o777")
        assertError("[socket]\nmax_clients = 0\n", key: "socket.max_clients", line: 2, "must be between 1 and 10000")
        assertError("[socket]\nmax_clients = 10001\n", key: "socket.max_clients", line: 2, "must be between 1 and 10000")
        assertError("[socket]\nqueue = 0\n", key: "socket.queue", line: 2, "must be between 1 and 100000")
        assertError("[socket]\nqueue = 100001\n", key: "socket.queue", line: 2, "must be between 1 and 100000")
        assertError("[socket]\nstall_timeout_s = 0\n", key: "socket.stall_timeout_s", line: 2, "must be more than 0 and at most 86400 (found 0)")
        assertError("[socket]\nstall_timeout_s = -5.5\n", key: "socket.stall_timeout_s", line: 2, "must be more than 0 and at most 86400 (found -5.5)")
        assertError("[socket]\nstall_timeout_s = 86401\n", key: "socket.stall_timeout_s", line: 2, "must be more than 0 and at most 86400")
        assertError("[socket]\nstall_timeout_s = inf\n", key: "socket.stall_timeout_s", line: 2, "(found inf)")
    }

    func testLogLevel() {
        assertError("[log]\nlevel = \"verbose\"\n", key: "log.level", line: 2,
                    "unknown log level \"verbose\"; expected one of trace, debug, info, notice, warning, error, critical")
    }

    func testCameraValues() {
        let head = "[[camera]]\nname = \"a\"\nimages = \"/x\"\n"
        assertError(head + "width = 15\n", key: "camera[1].width", line: 4, "must be between 16 and 8192 (found 15)")
        assertError(head + "width = 8193\n", key: "camera[1].width", line: 4, "must be between 16 and 8192")
        assertError(head + "height = 0\n", key: "camera[1].height", line: 4, "must be between 16 and 8192")
        assertError(head + "fps = 0\n", key: "camera[1].fps", line: 4, "must be more than 0 and at most 1000 (found 0)")
        assertError(head + "fps = 1000.5\n", key: "camera[1].fps", line: 4, "must be more than 0 and at most 1000")
        assertError(head + "format = \"H264\"\n", key: "camera[1].format", line: 4, "unknown pixel format \"H264\"; expected auto or one of")
        assertError("[[camera]]\nname = \"a\"\nimages = \"\"\n", key: "camera[1].images", line: 3, "must not be empty")
        assertError("[[camera]]\nname = \"a\"\ndevice = \"\"\n", key: "camera[1].device", line: 3, "must not be empty")
    }

    func testCameraNames() {
        assertError("[[camera]]\nname = \"a\"\nimages = \"/x\"\n\n[[camera]]\ndevice = \"/dev/video0\"\n",
                    key: "camera[2].name", line: 5, "a camera needs a name")
        assertError("[[camera]]\nname = \"front cam\"\nimages = \"/x\"\n", key: "camera[1].name", line: 2,
                    "\"front cam\" is not a camera name: use 1 to 64 of A-Z a-z 0-9 . _ -")
        assertError("[[camera]]\nname = \"\"\nimages = \"/x\"\n", key: "camera[1].name", line: 2, "is not a camera name")
        assertError("[[camera]]\nname = \"kamera-ü\"\nimages = \"/x\"\n", key: "camera[1].name", line: 2, "is not a camera name")
        assertError("[[camera]]\nname = \"\(String(repeating: "n", count: 65))\"\nimages = \"/x\"\n", key: "camera[1].name", line: 2, "is not a camera name")
        assertError("""
            [[camera]]
            name = "front"
            device = "/dev/video0"
            [[camera]]
            name = "back"
            device = "/dev/video2"
            [[camera]]
            device = "/dev/video4"
            name = "front"
            """, key: "camera[3].name", line: 9, "camera name \"front\" is already used by camera[1]; names must be unique")
    }

    func testCameraSource() {
        assertError("[[camera]]\nname = \"a\"\ndevice = \"/dev/video0\"\nimages = \"/x\"\n", key: "camera[1].images", line: 4,
                    "set either device or images, not both")
        assertError("[[camera]]\nname = \"a\"\nimages = \"/x\"\n[[camera]]\nname = \"b\"\nfps = 5\n", key: "camera[2]", line: 4,
                    "a camera needs a source: device (a V4L2 device) or images (an image file or folder)")
    }

    // MARK: - How lines are found

    func testLinesOfDottedQuotedAndInlineKeys() {
        // A dotted key at the top level is found where it is written.
        assertError("# x\nmodel.path = 5\n", key: "model.path", line: 2, "expected a string")
        // Quoted keys, and blanks around the dots of a header.
        assertError("[ model ]\n\"path\" = 5\n", key: "model.path", line: 2, "expected a string")
        assertError("[model]\n'isa' = 5\n", key: "model.isa", line: 2, "expected a string")
        // A key inside an inline table has no line of its own: nil, not a guess.
        assertError("model = { path = 5 }\n", key: "model.path", line: nil, "expected a string")
        // CRLF line ends count the same.
        assertError("[model]\r\npath = \"x\"\r\n\r\nisa = \"z80\"\r\n", key: "model.isa", line: 4, "unknown instruction set")
    }

    /// Text inside multi-line strings and arrays that looks like a header or a key is not
    /// taken for one.
    func testLinesPastMultilineValues() {
        assertError("""
            [socket]
            group = \"\"\"
            [model]
            isa = 1 \\\"\"\"
            \"\"\"
            [model]
            isa = "z80"
            """, key: "model.isa", line: 7, "unknown instruction set")
        assertError("""
            [socket]
            group = '''
            [model]
            isa = 1
            '''
            [model]
            isa = "z80"
            """, key: "model.isa", line: 7, "unknown instruction set")
        assertError("""
            [inference]
            cpus = [
              0, # [model]
              1,
            ]
            top_k = 0
            """, key: "inference.top_k", line: 6, "must be between 1 and 1000")
        assertError("""
            [inference]
            cpus = [
              0,
              1,
            ]
            top_k = [
            1 ]
            """, key: "inference.top_k", line: 6, "expected an integer")
    }

    // MARK: - Syntax errors and unreadable files

    func testSyntaxErrorsReportTheLine() {
        assertError("# x\n[model]\npath = \"unterminated\n", key: nil, line: 3, "not valid TOML")
        assertError("[model\npath = \"x\"\n", key: nil, line: 1, "not valid TOML")
        assertError("[model]\npath = \"a\"\n\npath = \"b\"\n", key: nil, line: 4, "not valid TOML")
        assertError("[inference]\nthreads = 4\ntop_k = = 3\n", key: nil, line: 3, "not valid TOML")
        assertError("[[camera]]\nname = \"a\"\n[camera]\n", key: nil, line: 3, "not valid TOML")
        assertError("[log]\nlevel = \"info\"\n\u{0}\n", key: nil, line: 3, "NUL")
    }

    /// Malformed inputs that would abort the process inside TOMLKit's parser (toml++ 3.4
    /// checks them with assert(), which release builds keep) are refused first, as syntax
    /// errors at their line. A hole here shows up as a crashed test run.
    func testParserTrapsAreRefused() {
        let header = "a table header needs a name after '['"
        let array = "expected a value after '[' or ','"
        let dateT = "a date-time needs a time (HH:MM) after the 'T'"
        let dateSpace = "a date-time needs a time (HH:MM) after the space"
        let cases: [(text: String, line: Int, message: String)] = [
            ("[model]\n[#\n", 2, header),
            ("# x\n[\n", 2, header),
            ("[\r\n", 1, header),
            ("[[ #camera]]\n", 1, header),
            ("[[[camera]]]\n", 1, header),
            ("\u{FEFF}[#\n", 1, header),
            ("[model]\n[\u{2028}\n", 2, header),
            ("[inference]\ncpus = [}]\n", 2, array),
            ("[inference]\ncpus = [1,\n# c\n  }]\n", 4, array),
            ("[inference]\ncpus = [[}]]\n", 2, array),
            ("[inference]\ncpus = [\u{2028}]\n", 2, array),
            ("[model]\npath = 1979-05-27t:\n", 2, dateT),
            ("[model]\npath = 1979-05-27T\"\"\"07:\n", 2, dateT),
            ("[model]\npath = { a = 1979-05-27T: }\n", 2, dateT),
            ("[model]\npath = 1979-05-27 1\n", 2, dateSpace),
            ("[model]\npath = 1979-05-27 1 \n", 2, dateSpace),
            ("[model]\npath = [\n  1979-05-27 1]\n", 3, dateSpace),
            ("[model]\npath = 1979-05-27 1\u{A0}\n", 2, dateSpace),
            ("[model]\npath = 19_79-05-27 1,\n", 2, dateSpace),
            ("[model]\npath = 19\"9-05-27 1\n", 2, dateSpace),
            ("[model]\npath = 19é9-05-27 1#\n", 2, dateSpace),
            ("[model]\npath = 1979-05-27 1\r\n", 2, dateSpace),
        ]
        for c in cases {
            assertError(c.text, key: nil, line: c.line, "not valid TOML: " + c.message)
        }
    }

    /// Valid text that looks like a trap is left to the parser.
    func testParserTrapLookalikesParse() throws {
        XCTAssertEqual(try parse("[socket]\ngroup = \"\"\"\n[#\n}]\"\"\"\n").socketGroup, "[#\n}]")
        XCTAssertEqual(try parse("[socket]\ngroup = '[# 1979-05-27T:'\n").socketGroup, "[# 1979-05-27T:")
        XCTAssertEqual(try parse("[inference]\ncpus = [ # [#\n  1,\n  2, # }\n]\n# [#\n").cpus, [1, 2])
        XCTAssertEqual(try parse("[inference] # [#\n").cpus, nil)
        assertError("[model]\npath = 1979-05-27 07:32:00\n", key: "model.path", line: 2, "expected a string, found a date-time")
        assertError("[model]\npath = 1979-05-27T07:32:00Z\n", key: "model.path", line: 2, "expected a string, found a date-time")
        assertError("[model]\npath = 1979-05-27\n", key: "model.path", line: 2, "expected a string, found a date")
        assertError("[model]\npath = [{ a = 1 }, {}]\n", key: "model.path", line: 2, "expected a string, found an array")
        assertError("[model]\n\"pa\\u0074h\" = 1\n", key: "model.path", line: nil, "expected a string")
    }

    func testUnreadableFiles() throws {
        let missing = "/nonexistent/effnetd.toml"
        XCTAssertThrowsError(try DaemonConfig.load(path: missing)) { e in
            XCTAssertEqual(e as? ConfigError, ConfigError(file: missing, message: "cannot read the file: No such file or directory"))
            XCTAssertEqual("\(e)", "/nonexistent/effnetd.toml: cannot read the file: No such file or directory")
        }
        let folder = NSTemporaryDirectory()
        XCTAssertThrowsError(try DaemonConfig.load(path: folder)) { e in
            XCTAssertEqual((e as? ConfigError)?.message, "cannot read the file: Is a directory")
        }
        XCTAssertThrowsError(try DaemonConfig.load(path: "/dev/zero")) { e in
            XCTAssertTrue((e as? ConfigError)?.message.hasPrefix("cannot read the file: larger than") == true, "\(e)")
        }
    }

    func testNotUTF8() throws {
        let path = try temporaryFile(Data("[model]\npath = \"a\"\nlabels = \"\u{e9}".utf8) + Data([0xE9, 0x22, 0x0A]))
        XCTAssertThrowsError(try DaemonConfig.load(path: path)) { e in
            XCTAssertEqual(e as? ConfigError, ConfigError(file: path, line: 3, message: "the file is not valid UTF-8"))
        }
    }

    // MARK: - Damaged files

    /// Byte flips, insertions and truncations of the example, and values swapped for
    /// others (fixed seed, so a failure reproduces): never a crash, every failure a
    /// ConfigError naming the file. Syntax errors always have a line; an error about a key
    /// has one too (the example has only plain `key =` lines), and it is a line that
    /// names that key or is its table's header.
    func testDamagedExamplesFailCleanly() throws {
        let original = try Array(Data(contentsOf: URL(fileURLWithPath: Self.example)))
        let path = NSTemporaryDirectory() + "effnetd-config-fuzz-\(getpid()).toml"
        defer { try? FileManager.default.removeItem(atPath: path) }
        var state: UInt64 = 0xC0FF_1E
        func next(_ bound: Int) -> Int {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return Int((z ^ (z >> 31)) % UInt64(bound))
        }
        let punctuation: [UInt8] = Array("[]=\"'#\n.,{}0o-_ \\\u{0}".utf8) + [0xFF, 0xC3]
        let values = ["\"\"", "\"x\"", "-1", "0", "1.5", "[]", "[1, 1]", "true", "\"0-3\"", "99999", "0o777", "nan",
                      "\"auto\"", "{}", "1979-05-27", "\"/dev/video9\"", "\"../x\"", "\"debug\"", "\"0644\""]
        var loaded = 0, failed = 0, aboutKeys = 0
        for round in 0..<500 {
            var bytes = original
            switch round % 5 {
            case 0: // flip bits in a few bytes
                for _ in 0...next(3) { bytes[next(bytes.count)] ^= UInt8(1 << next(8)) }
            case 1: // overwrite a few bytes with TOML's punctuation
                for _ in 0...next(3) { bytes[next(bytes.count)] = punctuation[next(punctuation.count)] }
            case 2: // cut it short
                bytes = Array(bytes.prefix(next(bytes.count)))
            case 3: // insert a byte, and delete a run
                bytes.insert(punctuation[next(punctuation.count)], at: next(bytes.count))
                let start = next(bytes.count)
                bytes.removeSubrange(start..<min(bytes.count, start + next(40)))
            default: // give a key another value
                var lines = String(decoding: bytes, as: UTF8.self).components(separatedBy: "\n")
                let settings = lines.indices.filter { !lines[$0].hasPrefix("#") && lines[$0].contains(" = ") }
                let i = settings[next(settings.count)]
                lines[i] = lines[i].components(separatedBy: " = ")[0] + " = " + values[next(values.count)]
                bytes = Array(lines.joined(separator: "\n").utf8)
            }
            try Data(bytes).write(to: URL(fileURLWithPath: path))
            let lines = String(decoding: bytes, as: UTF8.self).components(separatedBy: "\n")
            do {
                _ = try DaemonConfig.load(path: path)
                loaded += 1
            } catch let e as ConfigError {
                failed += 1
                XCTAssertEqual(e.file, path, "round \(round): \(e)")
                if let line = e.line { XCTAssertTrue((1...lines.count).contains(line), "round \(round): \(e)") }
                if e.message.hasPrefix("not valid TOML") { XCTAssertNotNil(e.line, "round \(round): \(e)") }
                if let key = e.key {
                    aboutKeys += 1
                    guard let line = e.line else { XCTFail("round \(round): no line: \(e)"); continue }
                    let text = lines[line - 1].trimmingCharacters(in: .whitespaces)
                    let name = key.split(separator: ".").last.map(String.init) ?? key
                    let namesKey = text.hasPrefix(name) && text.dropFirst(name.count).first.map { " \t=.".contains($0) } == true
                    XCTAssertTrue(namesKey || text.hasPrefix("["), "round \(round): line \(line) is \"\(text)\": \(e)")
                }
            } catch {
                XCTFail("round \(round): not a ConfigError: \(error)")
            }
        }
        // Every outcome is exercised: syntax errors, errors about keys, and damage that
        // lands in comments and loads.
        XCTAssertGreaterThan(failed, 150)
        XCTAssertGreaterThan(aboutKeys, 50)
        XCTAssertGreaterThan(loaded, 10)
    }

    // MARK: - Helpers

    private func catchError(_ text: String) -> ConfigError? {
        do {
            _ = try parse(text)
        } catch {
            return error as? ConfigError
        }
        return nil
    }

    private func temporaryFile(_ data: Data) throws -> String {
        let path = NSTemporaryDirectory() + "effnetd-config-test-\(getpid())-\(UUID().uuidString).toml"
        try data.write(to: URL(fileURLWithPath: path))
        addTeardownBlock { try? FileManager.default.removeItem(atPath: path) }
        return path
    }
}
