public import SRCore
public import SRWeights

/// SRVGGNetCompact, Real-ESRGAN's small VGG-style generator (realesr-animevideov3, realesr-general-x4v3; Wang et
/// al., "Real-ESRGAN", ICCV Workshops 2021).
///
/// BasicSR key layout (one `ModuleList` called `body`):
/// ```
/// body.0                   3x3 conv, in -> nf
/// body.1                   PReLU(nf)                 (weight [nf]; absent for ReLU / LeakyReLU variants)
/// body.2, body.4, ...      3x3 conv nf -> nf, each followed by its activation
/// body.<last>              3x3 conv nf -> out·s²
/// ```
/// The output is `pixel_shuffle(body(x), s)` plus the input upsampled by nearest neighbour. Without PReLU weights
/// the activation cannot be read from the file; ReLU is assumed (override `activation` in the config).
public enum SRVGGNetCompact: TrainableArchitecture {
    public struct Config: ArchitectureConfig {
        public enum ActivationType: String, Codable, Sendable {
            case prelu, relu
            /// LeakyReLU with slope 0.1, as BasicSR's `act_type="leakyrelu"`.
            case leakyRelu = "leakyrelu"
        }
        public var inChannels = 3
        public var outChannels = 3
        public var features = 64
        /// Convolutions between the first and the last (`num_conv`).
        public var convolutions = 16
        public var scale = 4
        public var activation = ActivationType.prelu

        public init(inChannels: Int = 3, outChannels: Int = 3, features: Int = 64, convolutions: Int = 16,
                    scale: Int = 4, activation: ActivationType = .prelu) {
            self.inChannels = inChannels
            self.outChannels = outChannels
            self.features = features
            self.convolutions = convolutions
            self.scale = scale
            self.activation = activation
        }

        /// Module index of each convolution in `body`: every other one.
        var convIndices: [Int] { (0...(convolutions + 1)).map { 2 * $0 } }
    }

    public static let name = "SRVGGNetCompact"

    public static func detect(_ weights: StateDict) throws(ModelsError) -> Config? {
        let keys = KeyReader(architecture: name, weights: weights)
        guard !keys.has("conv_first.weight"), let w0 = weights["body.0.weight"], w0.shape.count == 4,
              keys.indices("body.", ".weight").allSatisfy({ $0 % 2 == 0 || weights["body.\($0).weight"]?.shape.count == 1 })
        else { return nil }
        let convs = keys.indices("body.", ".weight").filter { $0 % 2 == 0 }
        guard convs == Array(stride(from: 0, through: convs.last ?? 0, by: 2)), convs.count >= 2 else { return nil }
        let first = try keys.conv("body.0"), last = try keys.conv("body.\(convs.last!)")
        let activation: Config.ActivationType = keys.has("body.1.weight") ? .prelu : .relu
        // out·s² with out = in (an RGB or luma model), else 3 or 1.
        guard let (out, scale) = [first.in, 3, 1].lazy
            .compactMap({ c in KeyReader.shuffleFactor(outputs: last.out, channels: c).map { (c, $0) } }).first else {
            throw .unsupported(architecture: name, detail: "the last convolution's \(last.out) outputs are not channels x scale²")
        }
        return Config(inChannels: first.in, outChannels: out, features: first.out, convolutions: convs.count - 2,
                      scale: scale, activation: activation)
    }

    public static func stateDictSpec(_ c: Config) -> [TensorSpec] {
        let nf = c.features
        var spec: [TensorSpec] = []
        let indices = c.convIndices
        for (k, i) in indices.enumerated() {
            let isLast = k == indices.count - 1
            spec += TensorSpec.conv("body.\(i)", k == 0 ? c.inChannels : nf,
                                    isLast ? c.outChannels * c.scale * c.scale : nf, kernel: 3)
            if !isLast, c.activation == .prelu { spec.append(TensorSpec("body.\(i + 1).weight", [nf])) }
        }
        return spec
    }

    public static func build(_ c: Config, weights: StateDict) throws(ModelsError) -> Graph {
        try build(c, weights: weights, mode: .inference)
    }

    public static func build(_ c: Config, weights: StateDict, mode: BuildMode) throws(ModelsError) -> Graph {
        guard c.convolutions >= 0, c.scale >= 1 else { throw .invalidConfig(architecture: name, detail: "\(c)") }
        var b = NetworkBuilder(architecture: name, weights: weights, mode: mode)
        let x = b.input()
        var feat = x
        let indices = c.convIndices
        for (k, i) in indices.enumerated() {
            let isLast = k == indices.count - 1
            var activation: Activation?, slopes: String?
            if !isLast {
                switch c.activation {
                case .prelu:
                    activation = try b.prelu("body.\(i + 1)")
                    slopes = "body.\(i + 1)"
                case .relu: activation = .relu
                case .leakyRelu: activation = .leakyRelu(slope: 0.1)
                }
            }
            feat = try b.conv("body.\(i)", feat, activation: activation, slopes: slopes)
        }
        let shuffled = b.add(.pixelShuffle(factor: c.scale, mode: .channelsFirst), [feat], name: "upsampler")
        let base = b.upsampleNearest(x, factor: c.scale, name: "base")
        return b.finish(b.sum(shuffled, 1, base, 1, name: "output"))
    }

    public static func facts(_ c: Config) -> ModelFacts {
        ModelFacts(scale: c.scale, inChannels: c.inChannels, outChannels: c.outChannels, host: .realESRGAN)
    }

    /// BasicSR keeps PyTorch's module defaults for this network.
    public static let initialisation = WeightInitialisation.pytorchDefault

    public static func trainingConfig(scale: Int, channels: Int, features: Int?, depth: Int?) throws(ModelsError) -> Config {
        let c = Config(inChannels: channels, outChannels: channels, features: features ?? 64, convolutions: depth ?? 16,
                       scale: scale)
        guard scale >= 1, c.features > 0, c.convolutions >= 0 else {
            throw .invalidConfig(architecture: name, detail: "scale >= 1, positive features, convolutions >= 0: \(c)")
        }
        return c
    }

    public static func randomConfig(using g: inout SeededGenerator) -> Config {
        let channels = [1, 3, 3].randomElement(using: &g)!
        return Config(inChannels: channels, outChannels: channels, features: Int.random(in: 2...8, using: &g),
                      convolutions: Int.random(in: 0...4, using: &g), scale: Int.random(in: 1...4, using: &g),
                      activation: Bool.random(using: &g) ? .prelu : .relu)
    }
}
