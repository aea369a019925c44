// swift-tools-version:5.10
import PackageDescription

let package = Package(
    name: "effnetd",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "effctl", targets: ["effctl"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
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
        .target(name: "EffModel"),
        .target(name: "EffEngine", dependencies: ["EffModel", "CEffKernels"]),
        .target(name: "EffCapture", dependencies: ["CEffKernels", "CTurboJPEG", "CPNG"]),
        .executableTarget(
            name: "effctl",
            dependencies: [
                "EffEngine", "EffModel", "EffCapture",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .testTarget(name: "EffModelTests", dependencies: ["EffModel"]),
        .testTarget(name: "EffEngineTests", dependencies: ["EffEngine", "EffModel", "CEffKernels"]),
        .testTarget(name: "EffCaptureTests", dependencies: ["EffCapture"]),
    ]
)
