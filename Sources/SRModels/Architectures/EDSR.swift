public import SRCore
public import SRWeights

/// EDSR (Lim et al., "Enhanced Deep Residual Networks for Single Image Super-Resolution", CVPRW 2017), BasicSR
/// layout:
/// ```
/// conv_first                 3x3, in -> nf, after the mean shift (x - rgb_mean) · img_range
/// body.N.conv1, conv2        3x3 nf -> nf, ReLU between; x + res_scale · conv2(relu(conv1(x)))
/// conv_after_body            3x3 nf -> nf; plus conv_first's output
/// upsample.0, upsample.2 ... 3x3 nf -> 4·nf then pixel shuffle 2, per x2 stage (x3: one nf -> 9·nf stage)
/// conv_last                  3x3 nf -> out, then x / img_range + rgb_mean
/// ```
/// `res_scale`, `img_range` and `rgb_mean` are not stored in the weights. The paper's models use a residual scale
/// of 1 up to 64 features and 0.1 above (EDSR-L, 256 features); the config defaults follow that and can be
/// overridden, like the DIV2K mean and the 255 range.
public enum EDSR: Architecture {
    public struct Config: ArchitectureConfig {
        public var inChannels = 3
        public var outChannels = 3
        public var features = 64
        public var blocks = 16
        /// 2^n or 3.
        public var scale = 4
        public var residualScale: Float = 1
        public var imageRange: Float = 255
        public var rgbMean: [Float] = EDSR.div2kMean

        public init(inChannels: Int = 3, outChannels: Int = 3, features: Int = 64, blocks: Int = 16, scale: Int = 4,
                    residualScale: Float? = nil, imageRange: Float = 255, rgbMean: [Float] = EDSR.div2kMean) {
            self.inChannels = inChannels
            self.outChannels = outChannels
            self.features = features
            self.blocks = blocks
            self.scale = scale
            self.residualScale = residualScale ?? EDSR.defaultResidualScale(features: features)
            self.imageRange = imageRange
            self.rgbMean = rgbMean
        }

        /// Pixel-shuffle factor of each upsampling convolution.
        var stages: [Int] { scale == 3 ? [3] : Array(repeating: 2, count: scale.trailingZeroBitCount) }
    }

    public static let name = "EDSR"
    /// The mean of DIV2K's RGB values, BasicSR's default.
    public static let div2kMean: [Float] = [0.4488, 0.4371, 0.4040]

    /// 1 for up to 64 features, 0.1 above (the paper's EDSR-L).
    public static func defaultResidualScale(features: Int) -> Float { features > 64 ? 0.1 : 1 }

    public static func detect(_ weights: StateDict) throws(ModelsError) -> Config? {
        let keys = KeyReader(architecture: name, weights: weights)
        guard keys.has("conv_first.weight"), keys.has("body.0.conv1.weight"), keys.has("conv_after_body.weight"),
              keys.has("upsample.0.weight"), keys.has("conv_last.weight") else { return nil }
        let first = try keys.conv("conv_first"), last = try keys.conv("conv_last")
        let ups = keys.indices("upsample.", ".weight")
        guard ups == Array(stride(from: 0, to: 2 * ups.count, by: 2)) else {
            throw .unsupported(architecture: name, detail: "upsample convolutions at \(ups); expected upsample.0, upsample.2, ...")
        }
        let up0 = try keys.conv("upsample.0").out
        let scale: Int
        if ups.count == 1, up0 == 9 * first.out {
            scale = 3
        } else if up0 == 4 * first.out {
            scale = 1 << ups.count
        } else {
            throw .unsupported(architecture: name, detail: "upsample.0 has \(up0) outputs for \(first.out) features; expected 4x or 9x")
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
        spec += TensorSpec.conv("conv_after_body", nf, nf, kernel: 3)
        for (k, r) in c.stages.enumerated() { spec += TensorSpec.conv("upsample.\(2 * k)", nf, nf * r * r, kernel: 3) }
        return spec + TensorSpec.conv("conv_last", nf, c.outChannels, kernel: 3)
    }

    public static func build(_ c: Config, weights: StateDict) throws(ModelsError) -> Graph {
        guard c.scale == 3 || (c.scale >= 2 && c.scale & (c.scale - 1) == 0), c.blocks >= 0, c.rgbMean.count == 3,
              c.imageRange > 0 else {
            throw .invalidConfig(architecture: name, detail: "\(c)")
        }
        var b = NetworkBuilder(architecture: name, weights: weights)
        var x = b.input()
        // BasicSR builds the mean from rgb_mean only for 3-channel models; others use no shift.
        let meanIn = c.inChannels == 3 ? c.rgbMean : [Float](repeating: 0, count: c.inChannels)
        let meanOut = c.outChannels == 3 ? c.rgbMean : [Float](repeating: 0, count: c.outChannels)
        x = b.normalise(x, channels: c.inChannels, mean: meanIn, std: [1 / c.imageRange], name: "sub_mean")
        let head = try b.conv("conv_first", x)
        var feat = head
        for i in 0..<c.blocks { feat = try MSRResNet.residualBlock(&b, "body.\(i)", feat, scale: c.residualScale) }
        feat = b.sum(try b.conv("conv_after_body", feat), 1, head, 1, name: "trunk")
        for (k, r) in c.stages.enumerated() {
            let conv = try b.conv("upsample.\(2 * k)", feat)
            feat = b.add(.pixelShuffle(factor: r, mode: .channelsFirst), [conv], name: "upsample.\(2 * k + 1)")
        }
        // conv_last followed by x / img_range + mean, folded into its weights and bias.
        var (w, bias) = try b.convWeights("conv_last")
        w.data = w.data.map { $0 / c.imageRange }
        let n = w.dims[0]
        let folded = (0..<n).map { (bias?[$0] ?? 0) / c.imageRange + meanOut[$0] }
        return b.finish(b.convolution("conv_last", feat, weight: w, bias: folded))
    }

    public static func facts(_ c: Config) -> ModelFacts {
        ModelFacts(scale: c.scale, inChannels: c.inChannels, outChannels: c.outChannels)
    }

    public static func randomConfig(using g: inout SeededGenerator) -> Config {
        Config(features: Int.random(in: 2...8, using: &g), blocks: Int.random(in: 1...3, using: &g),
               scale: [2, 3, 4, 8].randomElement(using: &g)!)
    }
}
