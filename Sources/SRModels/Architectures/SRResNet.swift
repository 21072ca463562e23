public import SRCore
public import SRWeights

/// SRResNet, the SRGAN generator with batch norm (Ledig et al., "Photo-Realistic Single Image Super-Resolution Using
/// a Generative Adversarial Network", CVPR 2017), in the layout of the widely used "a-PyTorch-Tutorial-to-Super-
/// Resolution" code:
/// ```
/// conv_block1.conv_block.0 (+ .1 PReLU)            9x9, in -> nf, PReLU (one shared slope)
/// residual_blocks.N.conv_block1.conv_block.{0,1,2}  3x3 conv, BatchNorm, PReLU
/// residual_blocks.N.conv_block2.conv_block.{0,1}    3x3 conv, BatchNorm; plus the block input
/// conv_block2.conv_block.{0,1}                     3x3 conv, BatchNorm; plus conv_block1's output
/// subpixel_convolutional_blocks.N.conv (+ .prelu)  3x3 nf -> 4·nf, pixel shuffle 2, PReLU
/// conv_block3.conv_block.0                         9x9 nf -> 3, tanh
/// ```
/// Batch norms are folded into the convolutions before them (eval mode: running statistics, eps 1e-5).
///
/// Value ranges: the tutorial trains on inputs normalised with the ImageNet mean and standard deviation and
/// produces tanh outputs in [-1, 1]. The graph takes `[0, 1]` images like every Enhance model: it applies the
/// configured `inputNormalisation` itself, and returns `(tanh(z) + 1) / 2`, i.e. `[0, 1]`, computed exactly as
/// `sigmoid(2z)` by doubling the last convolution.
public enum SRResNet: TrainableArchitecture {
    public struct Config: ArchitectureConfig {
        /// How the network expects its input, given `[0, 1]` images.
        public enum InputNormalisation: String, Codable, Sendable {
            /// `(x - mean) / std` with the ImageNet statistics (the tutorial's `imagenet-norm`).
            case imagenet
            /// `2x - 1`.
            case minusOneToOne = "[-1,1]"
            /// Unchanged.
            case zeroToOne = "[0,1]"
        }
        public var inChannels = 3
        public var outChannels = 3
        public var features = 64
        public var blocks = 16
        public var scale = 4
        public var largeKernel = 9
        public var smallKernel = 3
        public var inputNormalisation = InputNormalisation.imagenet

        public init(inChannels: Int = 3, outChannels: Int = 3, features: Int = 64, blocks: Int = 16, scale: Int = 4,
                    largeKernel: Int = 9, smallKernel: Int = 3, inputNormalisation: InputNormalisation = .imagenet) {
            self.inChannels = inChannels
            self.outChannels = outChannels
            self.features = features
            self.blocks = blocks
            self.scale = scale
            self.largeKernel = largeKernel
            self.smallKernel = smallKernel
            self.inputNormalisation = inputNormalisation
        }

        var subpixelBlocks: Int { scale.trailingZeroBitCount }
    }

    public static let name = "SRResNet"

    public static func detect(_ weights: StateDict) throws(ModelsError) -> Config? {
        let keys = KeyReader(architecture: name, weights: weights)
        guard keys.has("conv_block1.conv_block.0.weight"), keys.has("conv_block3.conv_block.0.weight") else { return nil }
        let first = try keys.conv("conv_block1.conv_block.0"), last = try keys.conv("conv_block3.conv_block.0")
        let small = try keys.conv("conv_block2.conv_block.0").kh
        let ups = try keys.count("subpixel_convolutional_blocks.", ".conv.weight")
        return Config(inChannels: first.in, outChannels: last.out, features: first.out,
                      blocks: try keys.count("residual_blocks.", ".conv_block1.conv_block.0.weight"),
                      scale: 1 << ups, largeKernel: first.kh, smallKernel: small)
    }

    public static func stateDictSpec(_ c: Config) -> [TensorSpec] {
        let nf = c.features, k = c.smallKernel
        var spec = TensorSpec.conv("conv_block1.conv_block.0", c.inChannels, nf, kernel: c.largeKernel)
            + [TensorSpec("conv_block1.conv_block.1.weight", [1])]
        for i in 0..<c.blocks {
            let key = "residual_blocks.\(i)"
            spec += TensorSpec.conv("\(key).conv_block1.conv_block.0", nf, nf, kernel: k)
                + TensorSpec.batchNorm("\(key).conv_block1.conv_block.1", nf)
                + [TensorSpec("\(key).conv_block1.conv_block.2.weight", [1])]
                + TensorSpec.conv("\(key).conv_block2.conv_block.0", nf, nf, kernel: k)
                + TensorSpec.batchNorm("\(key).conv_block2.conv_block.1", nf)
        }
        spec += TensorSpec.conv("conv_block2.conv_block.0", nf, nf, kernel: k) + TensorSpec.batchNorm("conv_block2.conv_block.1", nf)
        for i in 0..<c.subpixelBlocks {
            spec += TensorSpec.conv("subpixel_convolutional_blocks.\(i).conv", nf, nf * 4, kernel: k)
                + [TensorSpec("subpixel_convolutional_blocks.\(i).prelu.weight", [1])]
        }
        return spec + TensorSpec.conv("conv_block3.conv_block.0", nf, c.outChannels, kernel: c.largeKernel)
    }

    public static func build(_ c: Config, weights: StateDict) throws(ModelsError) -> Graph {
        try build(c, weights: weights, mode: .inference)
    }

    public static func build(_ c: Config, weights: StateDict, mode: BuildMode) throws(ModelsError) -> Graph {
        guard c.scale >= 1, c.scale & (c.scale - 1) == 0, c.blocks >= 0 else {
            throw .invalidConfig(architecture: name, detail: "scale must be a power of two: \(c)")
        }
        var b = NetworkBuilder(architecture: name, weights: weights, mode: mode)
        var x = b.input()
        switch c.inputNormalisation {
        case .imagenet:
            x = b.normalise(x, channels: c.inChannels, mean: NetworkBuilder.imagenetMean, std: NetworkBuilder.imagenetStd,
                            name: "normalise")
        case .minusOneToOne:
            x = b.add(.activation(.linear(scale: 2, shift: -1)), [x], name: "normalise")
        case .zeroToOne:
            break
        }
        let head = try b.conv("conv_block1.conv_block.0", x, activation: b.prelu("conv_block1.conv_block.1"),
                              slopes: "conv_block1.conv_block.1")
        var feat = head
        for i in 0..<c.blocks {
            let key = "residual_blocks.\(i)"
            let h = try b.conv("\(key).conv_block1.conv_block.0", feat, batchNorm: "\(key).conv_block1.conv_block.1",
                               activation: b.prelu("\(key).conv_block1.conv_block.2"), slopes: "\(key).conv_block1.conv_block.2")
            let r = try b.conv("\(key).conv_block2.conv_block.0", h, batchNorm: "\(key).conv_block2.conv_block.1")
            feat = b.sum(r, 1, feat, 1, name: key)
        }
        let trunk = try b.conv("conv_block2.conv_block.0", feat, batchNorm: "conv_block2.conv_block.1")
        feat = b.sum(trunk, 1, head, 1, name: "trunk")
        for i in 0..<c.subpixelBlocks {
            let key = "subpixel_convolutional_blocks.\(i)"
            // A single shared PReLU slope commutes with the shuffle, so it is fused into the convolution.
            let conv = try b.conv("\(key).conv", feat, activation: b.prelu("\(key).prelu"), slopes: "\(key).prelu")
            feat = b.add(.pixelShuffle(factor: 2, mode: .channelsFirst), [conv], name: "\(key).pixel_shuffle")
        }
        // (tanh(z) + 1) / 2 == sigmoid(2z).
        return b.finish(try b.conv("conv_block3.conv_block.0", feat, gain: 2, activation: .sigmoid))
    }

    public static func facts(_ c: Config) -> ModelFacts {
        ModelFacts(scale: c.scale, inChannels: c.inChannels, outChannels: c.outChannels)
    }

    /// The tutorial keeps PyTorch's module defaults.
    public static let initialisation = WeightInitialisation.pytorchDefault

    public static func trainingConfig(scale: Int, channels: Int, features: Int?, depth: Int?) throws(ModelsError) -> Config {
        let c = Config(inChannels: channels, outChannels: channels, features: features ?? 64, blocks: depth ?? 16, scale: scale)
        guard scale >= 1, scale & (scale - 1) == 0, c.features > 0, c.blocks >= 0 else {
            throw .invalidConfig(architecture: name, detail: "scale a power of two, positive features, blocks >= 0: \(c)")
        }
        return c
    }

    public static func randomConfig(using g: inout SeededGenerator) -> Config {
        Config(features: Int.random(in: 2...8, using: &g), blocks: Int.random(in: 0...3, using: &g),
               scale: [1, 2, 4, 8].randomElement(using: &g)!, largeKernel: [5, 9].randomElement(using: &g)!,
               smallKernel: [1, 3].randomElement(using: &g)!)
    }
}
