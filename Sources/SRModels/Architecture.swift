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
    /// What the engine does around the network when it upscales an image (default: round the input up to
    /// `alignment`, nothing else).
    public var host: HostNeeds

    public init(kind: ModelKind = .upscaler, scale: Int, inChannels: Int, outChannels: Int, alignment: Int = 1,
                fixedInputSize: Int? = nil, minimumInputSide: Int = 1, host: HostNeeds? = nil) {
        self.kind = kind
        self.scale = scale
        self.inChannels = inChannels
        self.outChannels = outChannels
        self.alignment = alignment
        self.fixedInputSize = fixedInputSize
        self.minimumInputSide = minimumInputSide
        self.host = host ?? .aligned(alignment)
    }
}

/// What the host does around a network when it upscales an image: padding, size rounding, where the wanted output
/// starts, statistics shared between tiles. Architectures declare it in `facts(_:)` (ncnn models through the
/// manifest's `pipeline` family, which names one of the presets below); the engine reads only these fields and never
/// an architecture or pipeline name. See `docs/backends.md` ("The execution plan").
public struct HostNeeds: Sendable, Equatable, Hashable, Codable {
    /// Pixels reflected on every side of a window before the network (0: none).
    public var padding: Int
    /// The unpadded window's sides are rounded up to a multiple of this by reflecting more at the bottom and right
    /// (pixel-unshuffle and pooling networks, Real-CUGAN's alignment).
    public var sizeMultiple: Int
    /// Where the wanted output starts inside the network's output.
    public var outputOrigin: OutputOrigin
    /// Up to this many extra rows and columns may be reflected at the bottom and right when the backend prefers
    /// another window size (`Backend.prefersWindow`); the extra output is cropped away. 0: never.
    public var backendSlack: Int
    /// The smallest image side (before padding) the pipeline accepts.
    public var minimumSide: Int
    /// Global-average pools (squeeze-excitation) see the whole image: tiled runs compute them once, over all
    /// tiles, and share them (`--no-share-statistics` turns it off).
    public var sharedStatistics: Bool
    /// The network predicts a residual over the nearest upsampling of the unpadded window, which the engine adds
    /// to its graph (Real-CUGAN x4).
    public var nearestResidual: Bool

    public enum OutputOrigin: String, Sendable, Hashable, Codable {
        /// The padding, scaled: the network keeps its padded border (Real-ESRGAN family).
        case scaledPadding
        /// The output's first pixel: the network crops its padding itself, or there is none.
        case zero
    }

    public init(padding: Int = 0, sizeMultiple: Int = 1, outputOrigin: OutputOrigin = .zero, backendSlack: Int = 0,
                minimumSide: Int = 1, sharedStatistics: Bool = false, nearestResidual: Bool = false) {
        self.padding = padding
        self.sizeMultiple = max(1, sizeMultiple)
        self.outputOrigin = outputOrigin
        self.backendSlack = backendSlack
        self.minimumSide = minimumSide
        self.sharedStatistics = sharedStatistics
        self.nearestResidual = nearestResidual
    }

    /// No padding beyond rounding the sides up to `multiple`: networks as their PyTorch inference code runs them.
    public static func aligned(_ multiple: Int) -> HostNeeds { HostNeeds(sizeMultiple: multiple) }

    /// Real-ESRGAN, SRVGGNetCompact and SPAN: 10 px reflected on every side (as their official tools do, so a
    /// `.pth` gives the matching ncnn model's pixels, borders included), up to 12 more at the bottom/right for the
    /// backend's window sizes.
    public static let realESRGAN = HostNeeds(padding: 10, outputOrigin: .scaledPadding, backendSlack: 12)

    /// Real-CUGAN: 18 / 14 / 19 px for x2 / x3 / x4, sides rounded to a multiple of 2 (x2, x4) or 4 (x3), the
    /// output from the image origin, squeeze-excitation statistics shared by tiles, x4 adds the nearest residual
    /// (realcugan-ncnn-vulkan's host code).
    public static func realCUGAN(scale: Int) -> HostNeeds {
        HostNeeds(padding: [2: 18, 3: 14, 4: 19][scale] ?? 18, sizeMultiple: scale == 2 || scale == 4 ? 2 : 4,
                  sharedStatistics: true, nearestResidual: scale == 4)
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
