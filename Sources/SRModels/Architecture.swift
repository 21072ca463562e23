public import SRCore
public import SRWeights

/// A network family Enhance can rebuild from a PyTorch state dict.
///
/// An architecture reads its hyper-parameters from the key names and tensor shapes (`detect`), lists every tensor a
/// configuration has (`stateDictSpec`, used to validate a file and to generate random weights for round trips) and
/// turns a configuration plus weights into a `Graph` (`build`). Graph inputs are `[1, C, H, W]` images in `[0, 1]`;
/// an upscaler's output is the upscaled image in the same range.
public protocol Architecture: Sendable {
    associatedtype Config: ArchitectureConfig

    /// The name used in errors, `enhance inspect` and safetensors metadata.
    static var name: String { get }

    /// The configuration the weights describe; nil when the signature keys of this architecture are absent.
    /// - Throws: `ModelsError` when the signature is present but the tensors contradict each other.
    static func detect(_ weights: StateDict) throws(ModelsError) -> Config?

    /// Every tensor of `config` under its canonical key, in module order.
    static func stateDictSpec(_ config: Config) -> [TensorSpec]

    /// The inference graph of `config` with `weights` (canonical keys; batch norm folded into convolutions).
    static func build(_ config: Config, weights: StateDict) throws(ModelsError) -> Graph

    /// Scale, channels and input constraints of `config`.
    static func facts(_ config: Config) -> ModelFacts

    /// A small random configuration, for round-trip tests.
    static func randomConfig(using generator: inout SeededGenerator) -> Config

    /// `weights` with keys of other known namings renamed to this architecture's canonical ones (default: as is).
    static func canonicalNames(_ weights: StateDict) -> StateDict
}

extension Architecture {
    public static func canonicalNames(_ weights: StateDict) -> StateDict { weights }
}

/// Hyper-parameters of an architecture: compared in tests, stored as JSON in converted files.
public protocol ArchitectureConfig: Codable, Equatable, Sendable {}

/// What a network computes.
public enum ModelKind: String, Sendable, Codable {
    /// Image in, larger (or same-size) image out.
    case upscaler
    /// Image in, one realness score out.
    case discriminator
    /// Image in, a feature map out (perceptual losses).
    case featureExtractor = "feature-extractor"
}

/// Facts about a configured network that the engine and `enhance inspect` need.
public struct ModelFacts: Sendable, Equatable, Codable {
    public var kind: ModelKind
    /// Output pixels per input pixel along each axis (1 for non-upscalers).
    public var scale: Int
    public var inChannels: Int
    public var outChannels: Int
    /// Input sides must be multiples of this (pixel-unshuffle factors, pooling strides).
    public var alignment: Int
    /// A fixed input side, for networks with fully connected heads (nil: any size).
    public var fixedInputSize: Int?
    /// The smallest input side the network accepts (unpadded convolutions shrink their input; Real-CUGAN).
    public var minimumInputSide: Int

    public init(kind: ModelKind = .upscaler, scale: Int, inChannels: Int, outChannels: Int, alignment: Int = 1,
                fixedInputSize: Int? = nil, minimumInputSide: Int = 1) {
        self.kind = kind
        self.scale = scale
        self.inChannels = inChannels
        self.outChannels = outChannels
        self.alignment = alignment
        self.fixedInputSize = fixedInputSize
        self.minimumInputSide = minimumInputSide
    }
}

/// One tensor of a configuration: its canonical key and shape.
public struct TensorSpec: Sendable, Equatable {
    public var key: String
    public var shape: [Int]
    /// Buffers (batch-norm statistics, counters) are stored but are not trainable parameters.
    public var isBuffer: Bool

    public init(_ key: String, _ shape: [Int], buffer: Bool = false) {
        self.key = key
        self.shape = shape
        self.isBuffer = buffer
    }

    /// Weight and bias of a convolution `key` (`[out, in, k, k]`, `[out]`).
    public static func conv(_ key: String, _ inChannels: Int, _ outChannels: Int, kernel: Int,
                            bias: Bool = true) -> [TensorSpec] {
        [TensorSpec(key + ".weight", [outChannels, inChannels, kernel, kernel])]
            + (bias ? [TensorSpec(key + ".bias", [outChannels])] : [])
    }

    /// The affine parameters and running statistics of a `BatchNorm2d` over `channels`.
    public static func batchNorm(_ key: String, _ channels: Int) -> [TensorSpec] {
        [TensorSpec(key + ".weight", [channels]), TensorSpec(key + ".bias", [channels]),
         TensorSpec(key + ".running_mean", [channels], buffer: true),
         TensorSpec(key + ".running_var", [channels], buffer: true),
         TensorSpec(key + ".num_batches_tracked", [], buffer: true)]
    }
}
