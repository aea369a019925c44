import ArgumentParser
import CPNG
import EffCapture
import EffEngine
import Foundation

struct Cameras: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List V4L2 video devices with driver, card, bus, and format × size × frame-rate choices.")

    @Argument(help: "Device nodes (default: every /dev/video*).") var devices: [String] = []
    @Flag(help: "One JSON array of devices.") var json = false
    @Flag(help: "Also list nodes that cannot capture (metadata, output).") var all = false

    func run() throws {
        let nodes = devices.isEmpty ? V4L2Camera.deviceNodes() : devices
        var infos: [V4L2Camera.DeviceInfo] = []
        var failed = false
        for n in nodes {
            do {
                let i = try V4L2Camera.info(device: n)
                if i.isCapture || all || !devices.isEmpty { infos.append(i) }
            } catch {
                FileHandle.standardError.write(Data("effctl: \(error)\n".utf8))
                failed = true
            }
        }
        if json {
            let arr: [[String: Any]] = infos.map { i in
                ["device": i.path, "driver": i.driver, "card": i.card, "bus": i.bus, "capture": i.isCapture,
                 "modes": i.modes.map { m -> [String: Any] in
                     ["fourcc": PixelFormat.name(m.fourcc), "supported": m.format != nil && !m.emulated, "width": m.width, "height": m.height,
                      "fps": m.intervals.map { ($0.fps * 1000).rounded() / 1000 }, "compressed": m.compressed, "emulated": m.emulated]
                 }]
            }
            let data = try JSONSerialization.data(withJSONObject: arr, options: [.sortedKeys, .withoutEscapingSlashes, .prettyPrinted])
            print(String(decoding: data, as: UTF8.self))
        } else if infos.isEmpty {
            print("no video capture devices\(nodes.isEmpty ? " (no /dev/video* nodes)" : "")")
        } else {
            for i in infos {
                print("\(i.path)  \(i.card)  (driver \(i.driver), bus \(i.bus))\(i.isCapture ? "" : "  not a capture device")")
                var byFormat: [(String, [ModeOffer])] = []
                for m in i.modes where !m.emulated {
                    let f = PixelFormat.name(m.fourcc)
                    if let k = byFormat.firstIndex(where: { $0.0 == f }) { byFormat[k].1.append(m) } else { byFormat.append((f, [m])) }
                }
                for (f, modes) in byFormat {
                    let note = PixelFormat(fourcc: modes[0].fourcc) == nil ? "  (not supported)" : ""
                    print("  \(f)\(note)")
                    for m in modes {
                        let rates = m.intervals.map { String(format: "%g", ($0.fps * 100).rounded() / 100) }.joined(separator: " ")
                        print("    \(m.width)×\(m.height)\(rates.isEmpty ? "" : "  fps: \(rates)")")
                    }
                }
            }
        }
        if failed { throw ExitCode.failure }
    }
}

func parseSize(_ s: String) throws -> (Int, Int) {
    let parts = s.lowercased().split(whereSeparator: { $0 == "x" || $0 == "×" })
    guard parts.count == 2, let w = Int(parts[0]), let h = Int(parts[1]), w > 0, h > 0, w <= 16384, h <= 16384 else {
        throw ValidationError("--size wants WIDTHxHEIGHT, e.g. 1280x720")
    }
    return (w, h)
}

/// Writes packed RGB8 as PNG with libpng's simplified API.
func writePNG(_ path: String, width: Int, height: Int, rgb: [UInt8]) throws {
    var image = png_image()
    image.version = UInt32(PNG_IMAGE_VERSION)
    image.width = UInt32(width)
    image.height = UInt32(height)
    image.format = UInt32(PNG_FORMAT_RGB)
    let ok = rgb.withUnsafeBytes { png_image_write_to_file(&image, path, 0, $0.baseAddress, Int32(width * 3), nil) }
    png_image_free(&image)
    guard ok != 0 else { throw Failure("\(path): cannot write the PNG file") }
}

/// The model's input spec, or a 224×224 EfficientNet-Lite-like one when no model is there.
func inputSpec(_ options: EngineOptions, needModel: Bool) throws -> (w: Int, h: Int, scale: Float, zp: Int32, engine: Engine?) {
    if options.model != nil || needModel || FileManager.default.fileExists(atPath: options.modelPath) {
        let engine = try options.engine()
        let s = engine.plan.input
        guard s.type == .int8, s.shape.count == 4, s.shape[0] == 1, s.shape[3] == 3 else {
            throw Failure("\(options.modelPath): needs an int8 input of shape [1, H, W, 3]; this model's is \(s.type) \(s.shape)")
        }
        return (s.shape[2], s.shape[1], s.scale, s.zeroPoint, engine)
    }
    return (224, 224, 0.0078125, -1, nil)
}

struct Snapshot: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Grab one camera frame and write what the model sees (cropped, resized, quantized, dequantized back to RGB) as a PNG.")

    @Option(help: "V4L2 device node.") var device: String = "/dev/video0"
    @Option(help: "Pixel format (fourcc, e.g. YUYV, NV12, YU12, RGB3, GREY, MJPG); default: the cheapest offered.") var format: String?
    @Option(help: "Capture size WIDTHxHEIGHT.") var size: String = "640x480"
    @Option(help: "Frame rate to ask for.") var fps: Double = 15
    @Option(help: "Frames to skip before the one kept (let exposure settle).") var skip: Int = 2
    @Option(help: "PNG file to write.") var output: String
    @Option(help: "Also write the int8 input tensor (HWC) to this file.") var raw: String?
    @Option(help: "Also print the top K classes.") var top: Int?
    @Option(help: "Labels file, one class name a line.") var labels: String?
    @Option(help: ArgumentHelp("Also write the camera frame's bytes to this file.", visibility: .hidden)) var dumpFrame: String?
    @OptionGroup var options: EngineOptions

    func run() throws {
        try reportingErrors {
            let (w, h) = try parseSize(size)
            var pf: PixelFormat?
            if let format {
                guard let f = PixelFormat(name: format) else { throw Failure("unknown format \(format); known: \(PixelFormat.allCases.map { $0.fourccName }.joined(separator: " "))") }
                pf = f
            }
            let spec = try inputSpec(options, needModel: top != nil)
            let conv = FrameConverter(width: spec.w, height: spec.h, scale: spec.scale, zeroPoint: spec.zp)
            var cfg = V4L2Camera.Config(device: device, request: CaptureRequest(width: w, height: h, fps: fps, format: pf))
            cfg.maxBackoff = 0.5
            let cam = V4L2Camera(cfg)
            defer { cam.close() }
            var tensor = [Int8](repeating: 0, count: spec.w * spec.h * 3)
            var got = 0
            let deadline = Date().addingTimeInterval(10)
            var lastError: Error?
            while got <= skip {
                if Date() > deadline { throw Failure("\(device): no frame within 10 s (\(cam.state))\(lastError.map { "; \($0)" } ?? "")") }
                if case .failed(let why) = cam.state { throw Failure("\(device): \(why)") }
                _ = cam.next(timeout: 1) { frame in
                    got += 1
                    guard got > skip else { return }
                    do {
                        try tensor.withUnsafeMutableBufferPointer { try conv.convert(frame, into: $0) }
                        if let dumpFrame, !FileManager.default.createFile(atPath: dumpFrame, contents: Data(frame.bytes)) {
                            FileHandle.standardError.write(Data("\(dumpFrame): cannot write the file\n".utf8))
                        }
                        let enc = "\(frame.color.matrix) \(frame.color.fullRange ? "full" : "limited")"
                        FileHandle.standardError.write(Data("\(device): \(frame.format.fourccName) \(frame.width)×\(frame.height) bytesperline \(frame.bytesPerLine) \(enc) seq \(frame.sequence)\n".utf8))
                    } catch {
                        lastError = error
                        got -= 1
                    }
                }
            }
            // Dequantize back to RGB: u = (q - zp) * scale * std + mean, as the model sees it.
            let rgb = tensor.map { q -> UInt8 in
                let u = (Float(Int32(q) - spec.zp) * spec.scale) * 128 + 127
                return UInt8(max(0, min(255, u.rounded())))
            }
            try writePNG(output, width: spec.w, height: spec.h, rgb: rgb)
            if let raw {
                guard FileManager.default.createFile(atPath: raw, contents: tensor.withUnsafeBytes { Data($0) }) else { throw Failure("\(raw): cannot write the file") }
            }
            if let top, let engine = spec.engine {
                let names = try Classification.loadLabels(path: labels ?? Defaults.find(Defaults.labelsName))
                var out = [Int8](repeating: 0, count: engine.plan.output.byteCount)
                try tensor.withUnsafeBytes { i in try out.withUnsafeMutableBytes { o in try engine.run(input: i, output: o) } }
                let best = out.withUnsafeBufferPointer {
                    Classification.topK(logits: $0, scale: engine.plan.output.scale, zeroPoint: engine.plan.output.zeroPoint, k: top, labels: names)
                }
                for c in best { print(String(format: "  %6.2f%%  %4d  %@", c.score * 100, c.index, c.label)) }
            }
        }
    }
}
