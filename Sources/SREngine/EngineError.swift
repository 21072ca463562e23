import SRImageIO
import SRWeights
import SRModels

/// Errors of the engine, each with a message that says how to fix it.
public enum EngineError: Error, CustomStringConvertible {
    case unknownModel(String, known: [String])
    case modelNotInstalled(id: String, directory: String)
    case modelFile(path: String, underlying: ModelFileError)
    case image(ImageIOError)
    case invalidOption(String)
    case backend(String)
    /// The run was stopped through `UpscaleOptions.cancellation`.
    case cancelled

    public var description: String {
        switch self {
        case .unknownModel(let id, let known):
            "unknown model '\(id)'; known models: \(known.joined(separator: ", ")) (or give a path to an ncnn .param, a PyTorch .pth/.pt or a .safetensors file)"
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

/// What is wrong with a model file: an ncnn pair, a PyTorch / safetensors weight file, or the architecture read from
/// its weights.
public enum ModelFileError: Error, CustomStringConvertible {
    case ncnn(NCNNError)
    case weights(WeightsError)
    case architecture(ModelsError)

    init(_ error: ModelLoadError) {
        switch error {
        case .weights(let e): self = .weights(e)
        case .architecture(let e): self = .architecture(e)
        }
    }

    public var description: String {
        switch self {
        case .ncnn(let e): e.description
        case .weights(let e): e.description
        case .architecture(let e): e.description
        }
    }
}
