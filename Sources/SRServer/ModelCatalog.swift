import Foundation
public import SREngine

/// The models a server offers: every manifest model, the weight files installed in the models directory (Enhance's
/// own trained models, or files put there) and a weight file given as the default model (`--model ./4x-My.pth`).
///
/// Weight files get a manifest-style entry from their detected architecture, so every route treats them like the
/// shipped models; they are served under their file name without extension.
public struct ModelCatalog: Sendable {
    /// Manifest models first, then weight files, by id.
    public let entries: [ModelManifest.Entry]
    /// The id of the default model.
    public let defaultID: String
    /// The weight files' paths by id (manifest models load by their id).
    private let paths: [String: String]

    /// - Parameter defaultModel: a manifest id, an installed weight file's id, or a path to a `.pth`, `.pt` or
    ///   `.safetensors` file.
    /// - Throws: `EngineError` when `defaultModel` is a weight file that cannot be read or recognised.
    public init(store: ModelStore, defaultModel: String) throws(EngineError) {
        var entries = store.manifest.models
        var paths: [String: String] = [:]
        var defaultID = defaultModel
        var files = store.localWeightModels()
        let ext = (defaultModel as NSString).pathExtension.lowercased()
        if store.manifest.entry(defaultModel) == nil && ModelStore.weightFileExtensions.contains(ext) {
            defaultID = ((defaultModel as NSString).lastPathComponent as NSString).deletingPathExtension
            files.removeAll { $0.id == defaultID }
            files.append((defaultID, defaultModel))
            guard store.manifest.entry(defaultID) == nil else {
                throw .invalidOption("the weight file \(defaultModel) would be served as '\(defaultID)', the id of a shipped model; rename it")
            }
        }
        for (id, path) in files.sorted(by: { $0.id < $1.id }) {
            let report: ModelReport
            do { report = try store.inspect(path) } catch {
                if id == defaultID { throw error }
                continue   // not an upscaler Enhance can read: not offered
            }
            guard report.kind == "upscaler" else {
                if id == defaultID {
                    throw .invalidOption("\(path) holds a \(report.architecture) \(report.kind), not an upscaler")
                }
                continue
            }
            entries.append(Self.entry(id: id, path: path, report: report))
            paths[id] = path
        }
        self.entries = entries
        self.paths = paths
        self.defaultID = defaultID
    }

    /// The manifest's models alone, with `defaultModel` as the default (what a server falls back to when its
    /// default weight file cannot be read; `enhance serve` reports that error before it gets here).
    public init(manifestOf store: ModelStore, defaultModel: String) {
        entries = store.manifest.models
        paths = [:]
        defaultID = defaultModel
    }

    /// The manifest-style entry of a weight file.
    static func entry(id: String, path: String, report: ModelReport) -> ModelManifest.Entry {
        let name = (path as NSString).lastPathComponent
        let licence = report.metadata["licence"] ?? report.metadata["license"] ?? "unknown (weight file supplied to this server)"
        return ModelManifest.Entry(
            id: id, name: report.metadata["name"] ?? id, architecture: report.architecture, pipeline: .plain,
            scale: report.scale, channels: report.outChannels, kind: "custom",
            description: report.metadata["description"] ?? "\(report.architecture) x\(report.scale) from the weight file \(name)",
            licence: licence, upstream: report.metadata["source"] ?? "", paper: "", source: name, files: [:],
            blobs: ModelManifest.Blobs(input: "", output: ""))
    }

    public func entry(_ id: String) -> ModelManifest.Entry? { entries.first { $0.id == id } }

    /// What to hand `Engine.model` for `id`.
    public func source(_ id: String) -> String { paths[id] ?? id }
}
