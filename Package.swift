// swift-tools-version:6.0
import PackageDescription

let strict: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
]

let package = Package(
    name: "Enhance",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "enhance", targets: ["enhance"]),
        .library(name: "SREngine", targets: ["SREngine"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        // C bindings
        .systemLibrary(name: "CDNNL", path: "Sources/CDNNL"),
        .systemLibrary(name: "CVips", path: "Sources/CVips", pkgConfig: "vips",
                       providers: [.apt(["libvips-dev"])]),
        .target(name: "VipsShim", dependencies: ["CVips"], path: "Sources/VipsShim"),

        // Engine core
        .target(name: "SRCore", swiftSettings: strict),
        .target(name: "SRBackendReference", dependencies: ["SRCore"], swiftSettings: strict),
        .target(name: "SRBackendDNNL", dependencies: ["SRCore", "SRBackendReference", "CDNNL"],
                swiftSettings: strict + [.unsafeFlags(["-Ounchecked"])]),
        .target(name: "SRWeights", dependencies: ["SRCore"], swiftSettings: strict),
        .target(name: "SRImageIO", dependencies: ["SRCore", "VipsShim"], swiftSettings: strict),
        .target(name: "SREngine",
                dependencies: ["SRCore", "SRWeights", "SRImageIO", "SRBackendReference", "SRBackendDNNL"],
                swiftSettings: strict),
        .target(name: "EnhanceCLI",
                dependencies: ["SREngine", .product(name: "ArgumentParser", package: "swift-argument-parser")],
                swiftSettings: strict),
        .executableTarget(name: "enhance", dependencies: ["EnhanceCLI"], swiftSettings: strict),

        // Tests
        .testTarget(name: "SRCoreTests",
                    dependencies: ["SRCore", "SRBackendReference", "SRBackendDNNL"], swiftSettings: strict),
        .testTarget(name: "SRWeightsTests", dependencies: ["SRWeights", "SRCore", "SRBackendReference"], swiftSettings: strict),
        .testTarget(name: "SREngineTests", dependencies: ["SREngine", "SRImageIO", "SRCore", "SRWeights"],
                    exclude: ["Fixtures"], swiftSettings: strict),
        .testTarget(name: "EnhanceCLITests", dependencies: ["EnhanceCLI", "enhance", "SRImageIO"], swiftSettings: strict),
    ],
    swiftLanguageModes: [.v6]
)
