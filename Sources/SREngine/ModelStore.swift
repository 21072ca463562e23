import Foundation
import SRWeights

/// Where installed model files live and how ids map to them.
///
/// The directory is `$ENHANCE_MODELS_DIR`, else `$XDG_CACHE_HOME/enhance/models`, else `~/.cache/enhance/models`;
/// a model `ID` is the pair `ID.param` + `ID.bin` there.
public struct ModelStore: Sendable {
    public var directory: String
    public var manifest: ModelManifest

    public init(directory: String? = nil, manifest: ModelManifest = .embedded) {
        self.directory = directory ?? Self.defaultDirectory()
        self.manifest = manifest
    }

    public static func defaultDirectory(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        if let d = environment["ENHANCE_MODELS_DIR"], !d.isEmpty { return d }
        if let c = environment["XDG_CACHE_HOME"], !c.isEmpty { return c + "/enhance/models" }
        let home = environment["HOME"] ?? NSHomeDirectory()
        return home + "/.cache/enhance/models"
    }

    public func paramPath(_ id: String) -> String { directory + "/\(id).param" }
    public func binPath(_ id: String) -> String { directory + "/\(id).bin" }

    public func isInstalled(_ id: String) -> Bool {
        guard let entry = manifest.entry(id) else { return false }
        for (kind, file) in entry.files {
            let path = kind == "param" ? paramPath(id) : binPath(id)
            guard Self.fileSize(path) == file.size else { return false }
        }
        return true
    }

    /// The size of the regular file at `path`, following symbolic links (Kubernetes ConfigMaps and Secrets and many
    /// package layouts install files as links); nil when there is no such file.
    public static func fileSize(_ path: String) -> Int? {
        var info = stat()
        guard stat(path, &info) == 0, info.st_mode & S_IFMT == S_IFREG else { return nil }
        return Int(info.st_size)
    }

    /// Weight files installed into the models directory that are not in the manifest (Enhance's own trained
    /// models, copied there by `scripts/setup.sh`, or files a user put there): `(id, path)` sorted by id; each is
    /// usable by its id with `-m`.
    public func localWeightModels() -> [(id: String, path: String)] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        var seen = Set<String>()
        var found: [(id: String, path: String)] = []
        for name in names.sorted() where !name.hasPrefix(".") {
            let ext = (name as NSString).pathExtension.lowercased()
            let id = (name as NSString).deletingPathExtension
            guard Self.weightFileExtensions.contains(ext), manifest.entry(id) == nil, seen.insert(id).inserted else { continue }
            found.append((id, (directory as NSString).appendingPathComponent(name)))
        }
        return found
    }

    /// A model to load: a manifest id, a path to an ncnn `.param` (with its `.bin` beside it), or a path to a
    /// PyTorch / safetensors weight file whose architecture is detected from its keys.
    public struct Resolved: Sendable {
        public enum Files: Sendable, Equatable {
            case ncnn(param: String, bin: String)
            /// A `.pth`, `.pt` or `.safetensors` file.
            case weights(String)
        }
        public var id: String
        public var files: Files
        public var entry: ModelManifest.Entry?

        /// The file named in messages: the `.param` or the weight file.
        public var path: String {
            switch files {
            case .ncnn(let param, _): param
            case .weights(let path): path
            }
        }
    }

    /// File extensions of weight files `-m` accepts besides ncnn `.param`.
    public static let weightFileExtensions = ["pth", "pt", "safetensors"]

    public func resolve(_ idOrPath: String) throws(EngineError) -> Resolved {
        if let entry = manifest.entry(idOrPath) {
            guard isInstalled(idOrPath) else { throw .modelNotInstalled(id: idOrPath, directory: directory) }
            return Resolved(id: idOrPath, files: .ncnn(param: paramPath(idOrPath), bin: binPath(idOrPath)), entry: entry)
        }
        let ext = (idOrPath as NSString).pathExtension.lowercased()
        if Self.weightFileExtensions.contains(ext) {
            guard FileManager.default.fileExists(atPath: idOrPath) else {
                throw .modelFile(path: idOrPath, underlying: .weights(.io(path: idOrPath, reason: "no such file")))
            }
            return Resolved(id: ((idOrPath as NSString).lastPathComponent as NSString).deletingPathExtension,
                            files: .weights(idOrPath), entry: nil)
        }
        // A model file installed into the models directory under its id (e.g. Enhance's own trained models,
        // copied there by scripts/setup.sh) is used by that id.
        if !idOrPath.contains("/"), ext.isEmpty {
            for candidate in Self.weightFileExtensions.sorted() {
                let path = (directory as NSString).appendingPathComponent(idOrPath + "." + candidate)
                if FileManager.default.fileExists(atPath: path) {
                    return Resolved(id: idOrPath, files: .weights(path), entry: nil)
                }
            }
        }
        if idOrPath.hasSuffix(".param") || idOrPath.contains("/") {
            let param = idOrPath.hasSuffix(".param") ? idOrPath : idOrPath + ".param"
            let bin = String(param.dropLast(".param".count)) + ".bin"
            guard FileManager.default.fileExists(atPath: param) else {
                throw .modelFile(path: param, underlying: .ncnn(.io(path: param, reason: "no such file")))
            }
            let id = ((param as NSString).lastPathComponent as NSString).deletingPathExtension
            return Resolved(id: id, files: .ncnn(param: param, bin: bin), entry: nil)
        }
        throw .unknownModel(idOrPath, known: manifest.models.map(\.id))
    }
}
