// swift-tools-version:5.10
import PackageDescription

let package = Package(
    name: "effnetd",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "effctl", targets: ["effctl"]),
        .executable(name: "effnetd", targets: ["effnetd"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-atomics", from: "1.2.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.60.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.5.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.0.0"),
        .package(url: "https://github.com/LebJe/TOMLKit", from: "0.6.0"),
    ],
    targets: [
        // int8 microkernels per ISA, CPU feature detection, dispatch (libc only).
        .target(
            name: "CEffKernels",
            cSettings: [.unsafeFlags(["-O3", "-fno-strict-aliasing"])]
        ),
        // System-library shims for image decoding.
        .systemLibrary(name: "CTurboJPEG", pkgConfig: "libturbojpeg",
                       providers: [.apt(["libturbojpeg0-dev"])]),
        .systemLibrary(name: "CPNG", pkgConfig: "libpng",
                       providers: [.apt(["libpng-dev"])]),
        // libv4l2 + videodev2.h, with static-inline wrappers for the VIDIOC_* macros and
        // libv4l2's variadic functions.
        .systemLibrary(name: "CV4L2", pkgConfig: "libv4l2",
                       providers: [.apt(["libv4l-dev"])]),
        // Per-core work-stealing pool (Chase–Lev deques, parking, pinning).
        .target(
            name: "EffScheduler",
            dependencies: [.product(name: "Atomics", package: "swift-atomics")]
        ),
        .target(name: "EffModel"),
        .target(name: "EffEngine", dependencies: ["EffModel", "EffScheduler", "CEffKernels"]),
        .target(name: "EffCapture", dependencies: ["CEffKernels", "CTurboJPEG", "CPNG", "CV4L2"]),
        // libsystemd: sd_journal_sendv and sd_notify.
        .systemLibrary(name: "CSystemd", pkgConfig: "libsystemd",
                       providers: [.apt(["libsystemd-dev"])]),
        // libmosquitto: MQTT publishing ([mqtt]).
        .systemLibrary(name: "CMosquitto", pkgConfig: "libmosquitto",
                       providers: [.apt(["libmosquitto-dev"])]),
        // glibc's <malloc.h> (mallopt, malloc_trim): the daemon's heap policy.
        .systemLibrary(name: "CMalloc"),
        // The socket protocol: message types and NDJSON framing. Foundation only, so a
        // client needs nothing of the daemon.
        .target(name: "EffWire"),
        // Config, per-camera pipelines, the socket server, the MQTT publisher, journald and sd_notify.
        .target(
            name: "EffDaemon",
            dependencies: [
                "EffEngine", "EffModel", "EffCapture", "EffScheduler", "EffWire", "CSystemd", "CMalloc", "CMosquitto",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "TOMLKit", package: "TOMLKit"),
            ]
        ),
        .executableTarget(
            name: "effnetd",
            dependencies: [
                "EffDaemon",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .executableTarget(
            name: "effctl",
            dependencies: [
                "EffEngine", "EffModel", "EffCapture", "EffScheduler", "CEffKernels", "EffWire",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .testTarget(name: "EffModelTests", dependencies: ["EffModel"]),
        .testTarget(name: "EffEngineTests", dependencies: ["EffEngine", "EffModel", "EffScheduler", "CEffKernels"]),
        .testTarget(name: "EffCaptureTests", dependencies: ["EffCapture"]),
        .testTarget(name: "EffWireTests", dependencies: ["EffWire"]),
        .testTarget(
            name: "EffDaemonTests",
            dependencies: [
                "EffDaemon", "EffWire", "CSystemd",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        .testTarget(
            name: "EffSchedulerTests",
            dependencies: ["EffScheduler", .product(name: "Atomics", package: "swift-atomics")]
        ),
    ]
)
