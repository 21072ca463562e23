import Foundation

/// Where the repository and the built products are, for every test target.
public enum TestPaths {
    /// The repository root (this file is `Tests/SRTestSupport/TestPaths.swift`).
    public static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()

    /// The tiny architecture checkpoints written by scripts/make_arch_fixtures.py (`Tests/SRModelsTests/Fixtures`).
    public static let architectureFixtures = repository.appendingPathComponent("Tests/SRModelsTests/Fixtures")

    /// The benchmark test sets (Set5, Set14, …) beside the repository: `../shared/sr-testsets`.
    public static let testSets = repository.deletingLastPathComponent().appendingPathComponent("shared/sr-testsets")

    /// The built `enhance` executable: beside the test bundle (`.build/debug/`), or one folder up when the tests run
    /// from inside an `.xctest` bundle.
    public static var enhanceExecutable: URL {
        let products = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        let binary = products.appendingPathComponent("enhance")
        return FileManager.default.fileExists(atPath: binary.path) ? binary
            : products.deletingLastPathComponent().appendingPathComponent("enhance")
    }
}

/// A new empty directory under the system's temporary directory, named `PREFIX-UUID`.
public func temporaryDirectory(_ prefix: String = "enhance") throws -> String {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    return dir
}

/// Models come from the set-up step (scripts/setup.sh); tests that need them throw this, which says how to
/// install them.
public struct ModelsMissing: Error, CustomStringConvertible {
    public var ids: [String]
    public var directory: String

    public init(ids: [String], directory: String) {
        self.ids = ids
        self.directory = directory
    }

    public var description: String {
        "models not installed in \(directory): \(ids.joined(separator: ", ")); run scripts/setup.sh --all (or set ENHANCE_MODELS_DIR)"
    }
}
