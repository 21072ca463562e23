public import SRCore
public import SRWeights

/// FSRCNN (Dong et al., "Accelerating the Super-Resolution Convolutional Neural Network", ECCV 2016), in the common
/// PyTorch layout of yjn870's implementation:
/// ```
/// first_part.0 (+ .1 PReLU(d))     5x5, c -> d                    feature extraction
/// mid_part.0 (+ .1 PReLU(s))       1x1, d -> s                    shrinking
/// mid_part.2k (+ .2k+1), k=1..m    3x3, s -> s                    mapping
/// mid_part.2m+2 (+ .2m+3)          1x1, s -> d                    expanding
/// last_part                        ConvTranspose2d 9x9, d -> c, stride = scale, padding 4, output_padding scale-1
/// ```
/// PyTorch stores transposed-convolution weights as `[in, out, kh, kw]`; SRCore's `Deconv2d` wants
/// `[out, in, kh, kw]` with the same scatter (no kernel flip), so the first two axes are swapped.
///
/// The stride (the scale) is not in the weights. Detection takes it from the `scale` metadata entry (written by
/// `enhance convert`, or derived from a file name such as `fsrcnn_x4.pth` by `ArchitectureRegistry.load`), else
/// assumes 3, the paper's headline setting; override it in the config.
public enum FSRCNN: Architecture {
    public struct Config: ArchitectureConfig {
        public var channels = 1
        /// d: feature channels.
        public var features = 56
        /// s: shrunk channels.
        public var shrunk = 12
        /// m: mapping layers.
        public var mapping = 4
        public var scale = 3
        public var firstKernel = 5
        public var lastKernel = 9

        public init(channels: Int = 1, features: Int = 56, shrunk: Int = 12, mapping: Int = 4, scale: Int = 3,
                    firstKernel: Int = 5, lastKernel: Int = 9) {
            self.channels = channels
            self.features = features
            self.shrunk = shrunk
            self.mapping = mapping
            self.scale = scale
            self.firstKernel = firstKernel
            self.lastKernel = lastKernel
        }
    }

    public static let name = "FSRCNN"
    public static let defaultScale = 3

    public static func detect(_ weights: StateDict) throws(ModelsError) -> Config? {
        let keys = KeyReader(architecture: name, weights: weights)
        guard keys.has("first_part.0.weight"), keys.has("mid_part.0.weight"), keys.has("last_part.weight") else {
            return nil
        }
        let first = try keys.conv("first_part.0"), shrink = try keys.conv("mid_part.0")
        let last = try keys.shape("last_part.weight", rank: 4)
        let convs = keys.indices("mid_part.", ".weight").filter { $0 % 2 == 0 }
        guard convs.count >= 2 else { throw .missingTensor(architecture: name, key: "mid_part.2.weight") }
        let scale = weights.metadata["scale"].flatMap { Int($0) }.flatMap { $0 >= 1 ? $0 : nil } ?? defaultScale
        return Config(channels: first.in, features: first.out, shrunk: shrink.out, mapping: convs.count - 2,
                      scale: scale, firstKernel: first.kh, lastKernel: last[2])
    }

    public static func stateDictSpec(_ c: Config) -> [TensorSpec] {
        let d = c.features, s = c.shrunk
        var spec = TensorSpec.conv("first_part.0", c.channels, d, kernel: c.firstKernel)
            + [TensorSpec("first_part.1.weight", [d])]
            + TensorSpec.conv("mid_part.0", d, s, kernel: 1) + [TensorSpec("mid_part.1.weight", [s])]
        for k in stride(from: 1, through: c.mapping, by: 1) {
            spec += TensorSpec.conv("mid_part.\(2 * k)", s, s, kernel: 3) + [TensorSpec("mid_part.\(2 * k + 1).weight", [s])]
        }
        let e = 2 * c.mapping + 2
        spec += TensorSpec.conv("mid_part.\(e)", s, d, kernel: 1) + [TensorSpec("mid_part.\(e + 1).weight", [d])]
        return spec + [TensorSpec("last_part.weight", [d, c.channels, c.lastKernel, c.lastKernel]),
                       TensorSpec("last_part.bias", [c.channels])]
    }

    public static func build(_ c: Config, weights: StateDict) throws(ModelsError) -> Graph {
        guard c.scale >= 1, c.mapping >= 0, c.lastKernel % 2 == 1 else {
            throw .invalidConfig(architecture: name, detail: "\(c)")
        }
        var b = NetworkBuilder(architecture: name, weights: weights)
        var x = b.input()
        x = try b.conv("first_part.0", x, activation: b.prelu("first_part.1"))
        for i in stride(from: 0, through: 2 * c.mapping + 2, by: 2) {
            x = try b.conv("mid_part.\(i)", x, activation: b.prelu("mid_part.\(i + 1)"))
        }
        // [in, out, kh, kw] -> [out, in, kh, kw].
        let w = try b.tensor("last_part.weight", shape: [c.features, c.channels, c.lastKernel, c.lastKernel])
        let plane = c.lastKernel * c.lastKernel
        var swapped = [Float](repeating: 0, count: w.count)
        for i in 0..<c.features {
            for o in 0..<c.channels {
                for k in 0..<plane { swapped[(o * c.features + i) * plane + k] = w.data[(i * c.channels + o) * plane + k] }
            }
        }
        let deconv = Deconv2d(weight: Tensor(dims: [c.channels, c.features, c.lastKernel, c.lastKernel], data: swapped),
                              bias: try b.vector("last_part.bias", count: c.channels), stride: (c.scale, c.scale),
                              padding: .uniform(c.lastKernel / 2), outputPadding: (c.scale - 1, c.scale - 1))
        return b.finish(b.add(.deconv2d(deconv), [x], name: "last_part"))
    }

    public static func facts(_ c: Config) -> ModelFacts {
        ModelFacts(scale: c.scale, inChannels: c.channels, outChannels: c.channels)
    }

    public static func randomConfig(using g: inout SeededGenerator) -> Config {
        Config(channels: [1, 1, 3].randomElement(using: &g)!, features: Int.random(in: 2...8, using: &g),
               shrunk: Int.random(in: 1...4, using: &g), mapping: Int.random(in: 0...3, using: &g),
               scale: Int.random(in: 1...4, using: &g), firstKernel: [3, 5].randomElement(using: &g)!, lastKernel: [5, 9].randomElement(using: &g)!)
    }
}
