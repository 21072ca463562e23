public import SRCore
public import SRWeights

/// ESPCN (Shi et al., "Real-Time Single Image and Video Super-Resolution Using an Efficient Sub-Pixel Convolutional
/// Neural Network", CVPR 2016), in the common PyTorch layout of yjn870's implementation:
/// ```
/// first_part.0     5x5, c -> 64, tanh
/// first_part.2     3x3, 64 -> 32, tanh
/// last_part.0      3x3, 32 -> c·s², then pixel shuffle s
/// ```
/// The published models work on the Y channel of YCbCr (c = 1); `DetectedModel.imageGraph()` wraps them for RGB.
/// `tanh(z)` is computed as `2·sigmoid(2z) - 1` (SRCore has no tanh): the 2z is folded into the convolution.
public enum ESPCN: Architecture {
    public struct Config: ArchitectureConfig {
        public var channels = 1
        public var features = 64
        public var middle = 32
        public var scale = 3
        /// Kernel sides of the three convolutions.
        public var kernels = [5, 3, 3]

        public init(channels: Int = 1, features: Int = 64, middle: Int = 32, scale: Int = 3, kernels: [Int] = [5, 3, 3]) {
            self.channels = channels
            self.features = features
            self.middle = middle
            self.scale = scale
            self.kernels = kernels
        }
    }

    public static let name = "ESPCN"

    public static func detect(_ weights: StateDict) throws(ModelsError) -> Config? {
        let keys = KeyReader(architecture: name, weights: weights)
        guard keys.has("first_part.0.weight"), keys.has("first_part.2.weight"), keys.has("last_part.0.weight") else {
            return nil
        }
        let a = try keys.conv("first_part.0"), b = try keys.conv("first_part.2"), c = try keys.conv("last_part.0")
        guard let s = KeyReader.shuffleFactor(outputs: c.out, channels: a.in) else {
            throw .unsupported(architecture: name, detail: "last_part.0 has \(c.out) outputs, not \(a.in) x scale²")
        }
        return Config(channels: a.in, features: a.out, middle: b.out, scale: s, kernels: [a.kh, b.kh, c.kh])
    }

    public static func stateDictSpec(_ c: Config) -> [TensorSpec] {
        TensorSpec.conv("first_part.0", c.channels, c.features, kernel: c.kernels[0])
            + TensorSpec.conv("first_part.2", c.features, c.middle, kernel: c.kernels[1])
            + TensorSpec.conv("last_part.0", c.middle, c.channels * c.scale * c.scale, kernel: c.kernels[2])
    }

    public static func build(_ c: Config, weights: StateDict) throws(ModelsError) -> Graph {
        guard c.kernels.count == 3, c.scale >= 1 else { throw .invalidConfig(architecture: name, detail: "\(c)") }
        var b = NetworkBuilder(architecture: name, weights: weights)
        var x = b.input()
        for key in ["first_part.0", "first_part.2"] {
            x = try tanh(&b, key, x)
        }
        let conv = try b.conv("last_part.0", x)
        return b.finish(b.add(.pixelShuffle(factor: c.scale, mode: .channelsFirst), [conv], name: "last_part.1"))
    }

    /// `tanh(conv(x))` as `2·sigmoid(2·conv(x)) - 1`.
    static func tanh(_ b: inout NetworkBuilder, _ key: String, _ x: ValueID) throws(ModelsError) -> ValueID {
        let s = try b.conv(key, x, gain: 2, activation: .sigmoid)
        return b.add(.activation(.linear(scale: 2, shift: -1)), [s], name: key + ".tanh")
    }

    public static func facts(_ c: Config) -> ModelFacts {
        ModelFacts(scale: c.scale, inChannels: c.channels, outChannels: c.channels)
    }

    public static func randomConfig(using g: inout SeededGenerator) -> Config {
        Config(channels: [1, 1, 3].randomElement(using: &g)!, features: Int.random(in: 2...8, using: &g),
               middle: Int.random(in: 2...6, using: &g), scale: Int.random(in: 1...4, using: &g),
               kernels: [[5, 3, 3], [3, 3, 3], [5, 1, 3]].randomElement(using: &g)!)
    }
}
