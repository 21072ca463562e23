public import SRCore
public import SRWeights
import Foundation

/// How a fresh network's tensors are drawn (the scheme its reference training code uses).
public enum WeightInitialisation: Sendable, Equatable {
    /// BasicSR's `default_init_weights(scale)`: Kaiming-normal (fan-in) weights times `scale`, zero biases.
    case kaimingNormal(scale: Float)
    /// PyTorch's module defaults: `Conv2d` / `Linear` weights and biases uniform in ±1/sqrt(fan-in), PReLU 0.25,
    /// batch norms scale 1 and shift 0.
    case pytorchDefault
}

/// An architecture `enhance train` can train: its `build` has a training mode whose graph `GraphTape`
/// differentiates (see `BuildMode.training`), with every trainable tensor bound to its state-dict key.
public protocol TrainableArchitecture: Architecture {
    /// The graph of `config` with `weights` for `mode` (`build(_:weights:)` is the inference mode).
    static func build(_ config: Config, weights: StateDict, mode: BuildMode) throws(ModelsError) -> Graph

    /// How a fresh network is initialised.
    static var initialisation: WeightInitialisation { get }

    /// The configuration trained from scratch for `scale` and `channels`-channel images, with `features` and `depth`
    /// (residual blocks, body convolutions) where the architecture has them (nil: its default).
    /// - Throws: `ModelsError.invalidConfig` for a scale or size it cannot have.
    static func trainingConfig(scale: Int, channels: Int, features: Int?, depth: Int?) throws(ModelsError) -> Config

    /// `weights` (trained, in training form) as a model file should hold them (default: unchanged; SPAN re-derives
    /// the `eval_conv` kernels its eval mode uses from the trained branches).
    static func exported(_ config: Config, weights: StateDict) throws(ModelsError) -> StateDict
}

extension TrainableArchitecture {
    public static func exported(_ config: Config, weights: StateDict) throws(ModelsError) -> StateDict { weights }

    /// Metadata of an exported model file: the architecture, scale and the whole configuration (so detection gets
    /// back exactly `config`).
    public static func exportMetadata(_ config: Config) -> [String: String] {
        [DetectedModel.MetadataKey.architecture: name, DetectedModel.MetadataKey.config: DetectedModel.json(config),
         DetectedModel.MetadataKey.scale: "\(facts(config).scale)"]
    }
}
