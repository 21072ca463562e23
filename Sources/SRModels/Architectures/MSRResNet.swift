public import SRCore
public import SRWeights

/// MSRResNet, BasicSR's modified SRResNet: no batch norm, LeakyReLU 0.1, and a global residual (Ledig et al.,
/// "Photo-Realistic Single Image Super-Resolution Using a GAN", CVPR 2017, as modified by Wang et al. for ESRGAN).
///
/// Key layout:
/// ```
/// conv_first                3x3, in -> nf, LeakyReLU 0.1
/// body.N.conv1, conv2       3x3 nf -> nf with ReLU between; x + conv2(relu(conv1(x)))
/// upconv1 [, upconv2]       3x3 nf -> nf·s² then pixel shuffle s, LeakyReLU 0.1 (x4: two x2 stages)
/// conv_hr, conv_last        3x3 nf -> nf with LeakyReLU 0.1; 3x3 nf -> out
/// ```
/// The output is the network plus the input upsampled bilinearly (`align_corners=False`).
public enum MSRResNet: TrainableArchitecture {
    public struct Config: ArchitectureConfig {
        public var inChannels = 3
        public var outChannels = 3
        public var features = 64
        public var blocks = 16
        /// 2, 3 or 4.
        public var scale = 4

        public init(inChannels: Int = 3, outChannels: Int = 3, features: Int = 64, blocks: Int = 16, scale: Int = 4) {
            self.inChannels = inChannels
            self.outChannels = outChannels
            self.features = features
            self.blocks = blocks
            self.scale = scale
        }

        /// The pixel-shuffle factor of each upsampling convolution.
        public var stages: [Int] { scale == 4 ? [2, 2] : [scale] }
    }

    public static let name = "MSRResNet"
    static let slope: Float = 0.1

    public static func detect(_ weights: StateDict) throws(ModelsError) -> Config? {
        let keys = KeyReader(architecture: name, weights: weights)
        guard keys.has("conv_first.weight"), keys.has("upconv1.weight"), keys.has("conv_hr.weight"),
              keys.has("conv_last.weight") else { return nil }
        let first = try keys.conv("conv_first"), up = try keys.conv("upconv1"), last = try keys.conv("conv_last")
        let scale: Int
        if keys.has("upconv2.weight") {
            scale = 4
        } else if up.out == first.out * 4 {
            scale = 2
        } else if up.out == first.out * 9 {
            scale = 3
        } else {
            throw .unsupported(architecture: name, detail: "upconv1 has \(up.out) outputs for \(first.out) features; expected 4x or 9x")
        }
        return Config(inChannels: first.in, outChannels: last.out, features: first.out,
                      blocks: try keys.count("body.", ".conv1.weight"), scale: scale)
    }

    public static func stateDictSpec(_ c: Config) -> [TensorSpec] {
        let nf = c.features
        var spec = TensorSpec.conv("conv_first", c.inChannels, nf, kernel: 3)
        for i in 0..<c.blocks {
            spec += TensorSpec.conv("body.\(i).conv1", nf, nf, kernel: 3) + TensorSpec.conv("body.\(i).conv2", nf, nf, kernel: 3)
        }
        for (k, r) in c.stages.enumerated() { spec += TensorSpec.conv("upconv\(k + 1)", nf, nf * r * r, kernel: 3) }
        return spec + TensorSpec.conv("conv_hr", nf, nf, kernel: 3) + TensorSpec.conv("conv_last", nf, c.outChannels, kernel: 3)
    }

    public static func build(_ c: Config, weights: StateDict) throws(ModelsError) -> Graph {
        try build(c, weights: weights, mode: .inference)
    }

    public static func build(_ c: Config, weights: StateDict, mode: BuildMode) throws(ModelsError) -> Graph {
        guard [2, 3, 4].contains(c.scale), c.blocks >= 0 else { throw .invalidConfig(architecture: name, detail: "\(c)") }
        let lrelu = Activation.leakyRelu(slope: slope)
        var b = NetworkBuilder(architecture: name, weights: weights, mode: mode)
        let x = b.input()
        var feat = try b.conv("conv_first", x, activation: lrelu)
        for i in 0..<c.blocks { feat = try residualBlock(&b, "body.\(i)", feat) }
        for (k, r) in c.stages.enumerated() {
            // LeakyReLU is element-wise, so it runs before the shuffle, fused into the convolution.
            let conv = try b.conv("upconv\(k + 1)", feat, activation: lrelu)
            feat = b.add(.pixelShuffle(factor: r, mode: .channelsFirst), [conv], name: "shuffle\(k + 1)")
        }
        feat = try b.conv("conv_hr", feat, activation: lrelu)
        let out = try b.conv("conv_last", feat)
        let base = b.add(.resize(Resize(mode: .bilinear, scaleH: Float(c.scale), scaleW: Float(c.scale))), [x], name: "base")
        return b.finish(b.sum(out, 1, base, 1, name: "output"))
    }

    /// BasicSR's `ResidualBlockNoBN`: `x + res_scale · conv2(relu(conv1(x)))`.
    static func residualBlock(_ b: inout NetworkBuilder, _ key: String, _ x: ValueID,
                              scale: Float = 1) throws(ModelsError) -> ValueID {
        let h = try b.conv("\(key).conv1", x, activation: .relu)
        return b.sum(x, 1, try b.conv("\(key).conv2", h), scale, name: key)
    }

    public static func facts(_ c: Config) -> ModelFacts {
        ModelFacts(scale: c.scale, inChannels: c.inChannels, outChannels: c.outChannels)
    }

    public static let initialisation = WeightInitialisation.kaimingNormal(scale: 0.1)

    public static func trainingConfig(scale: Int, channels: Int, features: Int?, depth: Int?) throws(ModelsError) -> Config {
        let c = Config(inChannels: channels, outChannels: channels, features: features ?? 64, blocks: depth ?? 16, scale: scale)
        guard [2, 3, 4].contains(scale), c.features > 0, c.blocks >= 0 else {
            throw .invalidConfig(architecture: name, detail: "scale 2, 3 or 4, positive features, blocks >= 0: \(c)")
        }
        return c
    }

    public static func randomConfig(using g: inout SeededGenerator) -> Config {
        let channels = [1, 3, 3].randomElement(using: &g)!
        return Config(inChannels: channels, outChannels: channels, features: Int.random(in: 2...8, using: &g),
                      blocks: Int.random(in: 0...3, using: &g), scale: Int.random(in: 2...4, using: &g))
    }
}
