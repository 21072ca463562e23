import SRImageIO
import SRWeights

/// Errors of the engine, each with a message that says how to fix it.
public enum EngineError: Error, CustomStringConvertible {
    case unknownModel(String, known: [String])
    case modelNotInstalled(id: String, directory: String)
    case modelFile(path: String, underlying: NCNNError)
    case image(ImageIOError)
    case invalidOption(String)
    case backend(String)
    /// The run was stopped through `UpscaleOptions.cancellation`.
    case cancelled

    public var description: String {
        switch self {
        case .unknownModel(let id, let known):
            "unknown model '\(id)'; known models: \(known.joined(separator: ", ")) (or give a path to a .param file)"
        case .modelNotInstalled(let id, let directory):
            "model '\(id)' is not installed in \(directory); install it with: python3 scripts/fetch_models.py \(id)"
        case .modelFile(let path, let underlying): "cannot load model \(path): \(underlying)"
        case .image(let e): e.description
        case .invalidOption(let m): m
        case .backend(let m): "inference failed: \(m)"
        case .cancelled: "the upscale was cancelled"
        }
    }
}
