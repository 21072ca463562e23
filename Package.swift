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
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/vapor/multipart-kit", from: "4.7.1"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
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
        .target(name: "SRModels", dependencies: ["SRCore", "SRWeights"], swiftSettings: strict),
        .target(name: "SRImageIO", dependencies: ["SRCore", "VipsShim"], swiftSettings: strict),
        .target(name: "SRMetrics", dependencies: ["SRCore"], swiftSettings: strict + [.unsafeFlags(["-Ounchecked"])]),
        .target(name: "SRTrainData", dependencies: ["SRCore", "SRImageIO", "SRMetrics"], swiftSettings: strict),
        .target(name: "SRTrain",
                dependencies: ["SRCore", "SRWeights", "SRModels", "SRMetrics", "SRTrainData", "SRBackendReference",
                               "CDNNL"],
                swiftSettings: strict + [.unsafeFlags(["-Ounchecked"])]),
        .target(name: "SREngine",
                dependencies: ["SRCore", "SRWeights", "SRModels", "SRImageIO"],
                swiftSettings: strict),
        .target(name: "SRServer",
                dependencies: ["SREngine", "SRImageIO",
                               .product(name: "Hummingbird", package: "hummingbird"),
                               .product(name: "Logging", package: "swift-log"),
                               .product(name: "Metrics", package: "swift-metrics"),
                               .product(name: "Prometheus", package: "swift-prometheus"),
                               .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                               .product(name: "MultipartKit", package: "multipart-kit")],
                swiftSettings: strict),
        .target(name: "EnhanceCLI",
                dependencies: ["SREngine", "SRServer", "SRMetrics", "SRTrain", "SRTrainData", "SRWeights", "SRModels",
                               "SRBackendDNNL", "SRBackendReference",
                               .product(name: "ArgumentParser", package: "swift-argument-parser"),
                               .product(name: "Logging", package: "swift-log"),
                               .product(name: "AsyncHTTPClient", package: "async-http-client")],
                swiftSettings: strict),
        .executableTarget(name: "enhance", dependencies: ["EnhanceCLI"], swiftSettings: strict),

        // Tests
        .testTarget(name: "SRCoreTests",
                    dependencies: ["SRCore", "SRBackendReference", "SRBackendDNNL"], swiftSettings: strict),
        .testTarget(name: "SRWeightsTests", dependencies: ["SRWeights", "SRCore", "SRBackendReference"], exclude: ["Fixtures"], swiftSettings: strict),
        .testTarget(name: "SRModelsTests",
                    dependencies: ["SRModels", "SRWeights", "SRCore", "SRBackendReference", "SRBackendDNNL"],
                    exclude: ["Fixtures"], swiftSettings: strict),
        .testTarget(name: "SREngineTests", dependencies: ["SREngine", "SRImageIO", "SRCore", "SRWeights", "SRModels",
                                                   "SRBackendDNNL", "SRBackendReference"],
                    exclude: ["Fixtures"], swiftSettings: strict),
        .testTarget(name: "SRServerTests",
                    dependencies: ["SRServer", "SREngine", "SRImageIO", "enhance", "SRCore", "SRBackendDNNL",
                                   .product(name: "HummingbirdTesting", package: "hummingbird")],
                    swiftSettings: strict),
        .testTarget(name: "SRTrainTests",
                    dependencies: ["SRTrain", "SRTrainData", "SRModels", "SRWeights", "SRCore", "SRBackendReference",
                                   "SRMetrics", "SRImageIO"], swiftSettings: strict),
        .testTarget(name: "SRMetricsTests", dependencies: ["SRMetrics", "SRImageIO"], exclude: ["Fixtures"], swiftSettings: strict),
        .testTarget(name: "EnhanceCLITests", dependencies: ["EnhanceCLI", "enhance", "SRImageIO", "SRWeights", "SRModels", "SRCore"], swiftSettings: strict),
    ],
    swiftLanguageModes: [.v6]
)
