public import SRCore
public import SRWeights

/// BasicSR's `VGGStyleDiscriminator`, the ESRGAN / SRGAN discriminator (Ledig et al., CVPR 2017; Wang et al.,
/// ECCV Workshops 2018). It scores a fixed-size image (128 or 256 px) as real or generated.
///
/// Key layout, per stage k (0..<5, or 0..<6 for 256 px): `convk_0` 3x3 stride 1 and `convk_1` 4x4 stride 2 (pad 1),
/// each followed by `bnk_0` / `bnk_1` BatchNorm (except after `conv0_0`, which has a bias instead) and LeakyReLU 0.2.
/// Widths: nf, 2nf, 4nf, 8nf, 8nf (, 8nf). Then `linear1` (8nf·4·4 -> 100, LeakyReLU 0.2) and `linear2` (100 -> 1).
public enum VGGStyleDiscriminator: TrainableArchitecture {
    public struct Config: ArchitectureConfig {
        public var inChannels = 3
        public var features = 64
        /// 128 or 256.
        public var inputSize = 128
        public var hidden = 100

        public init(inChannels: Int = 3, features: Int = 64, inputSize: Int = 128, hidden: Int = 100) {
            self.inChannels = inChannels
            self.features = features
            self.inputSize = inputSize
            self.hidden = hidden
        }

        var stages: Int { inputSize == 256 ? 6 : 5 }

        /// Output channels of stage `k`.
        func width(_ k: Int) -> Int { features * min(1 << k, 8) }
    }

    public static let name = "VGGStyleDiscriminator"

    public static func detect(_ weights: StateDict) throws(ModelsError) -> Config? {
        let keys = KeyReader(architecture: name, weights: weights)
        guard keys.has("conv0_0.weight"), keys.has("conv0_1.weight"), keys.has("linear1.weight"),
              keys.has("linear2.weight") else { return nil }
        let first = try keys.conv("conv0_0")
        let hidden = try keys.shape("linear1.weight", rank: 2)[0]
        return Config(inChannels: first.in, features: first.out, inputSize: keys.has("conv5_0.weight") ? 256 : 128,
                      hidden: hidden)
    }

    public static func stateDictSpec(_ c: Config) -> [TensorSpec] {
        var spec: [TensorSpec] = []
        for k in 0..<c.stages {
            let inWidth = k == 0 ? c.inChannels : c.width(k - 1), w = c.width(k)
            spec += TensorSpec.conv("conv\(k)_0", inWidth, w, kernel: 3, bias: k == 0)
            if k > 0 { spec += TensorSpec.batchNorm("bn\(k)_0", w) }
            spec += TensorSpec.conv("conv\(k)_1", w, w, kernel: 4, bias: false) + TensorSpec.batchNorm("bn\(k)_1", w)
        }
        return spec + [TensorSpec("linear1.weight", [c.hidden, c.width(c.stages - 1) * 16]), TensorSpec("linear1.bias", [c.hidden]),
                       TensorSpec("linear2.weight", [1, c.hidden]), TensorSpec("linear2.bias", [1])]
    }

    public static func build(_ c: Config, weights: StateDict) throws(ModelsError) -> Graph {
        try build(c, weights: weights, mode: .inference)
    }

    public static func build(_ c: Config, weights: StateDict, mode: BuildMode) throws(ModelsError) -> Graph {
        guard [128, 256].contains(c.inputSize) else {
            throw .invalidConfig(architecture: name, detail: "input size \(c.inputSize); BasicSR supports 128 and 256")
        }
        let lrelu = Activation.leakyRelu(slope: 0.2)
        var b = NetworkBuilder(architecture: name, weights: weights, mode: mode)
        var x = b.input()
        for k in 0..<c.stages {
            x = try b.conv("conv\(k)_0", x, padding: 1, batchNorm: k == 0 ? nil : "bn\(k)_0", activation: lrelu)
            x = try b.conv("conv\(k)_1", x, stride: 2, padding: 1, batchNorm: "bn\(k)_1", activation: lrelu)
        }
        x = try b.linear("linear1", x, inputs: c.width(c.stages - 1) * 16, outputs: c.hidden, activation: lrelu)
        return b.finish(try b.linear("linear2", x, inputs: c.hidden, outputs: 1))
    }

    public static func facts(_ c: Config) -> ModelFacts {
        ModelFacts(kind: .discriminator, scale: 1, inChannels: c.inChannels, outChannels: 1, fixedInputSize: c.inputSize)
    }

    /// BasicSR leaves this network's modules at PyTorch's defaults.
    public static let initialisation = WeightInitialisation.pytorchDefault

    /// `features` is the first stage's width; `scale` and `depth` do not apply (the input size is 128).
    public static func trainingConfig(scale: Int, channels: Int, features: Int?, depth: Int?) throws(ModelsError) -> Config {
        Config(inChannels: channels, features: features ?? 64)
    }

    public static func randomConfig(using g: inout SeededGenerator) -> Config {
        Config(inChannels: [1, 3].randomElement(using: &g)!, features: Int.random(in: 1...3, using: &g),
               inputSize: [128, 256].randomElement(using: &g)!, hidden: Int.random(in: 1...8, using: &g))
    }
}
