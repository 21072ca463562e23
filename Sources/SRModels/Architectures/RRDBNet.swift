public import SRCore
public import SRWeights

/// RRDBNet, the ESRGAN / Real-ESRGAN generator (Wang et al., "ESRGAN: Enhanced Super-Resolution Generative
/// Adversarial Networks", ECCV Workshops 2018; "Real-ESRGAN", ICCV Workshops 2021).
///
/// BasicSR key layout:
/// ```
/// conv_first                       3x3, in·u² -> nf        (u: pixel-unshuffle factor, 1, 2 or 4)
/// body.N.rdbK.conv{1..4}           3x3, nf + (j-1)·gc -> gc, LeakyReLU 0.2     (K = 1..3, dense connections)
/// body.N.rdbK.conv5                3x3, nf + 4·gc -> nf
/// conv_body                        3x3, nf -> nf           (added to conv_first's output)
/// conv_up{1..n}                    nearest x2, then 3x3 nf -> nf, LeakyReLU 0.2
/// conv_hr, conv_last               3x3 with LeakyReLU 0.2; 3x3 nf -> out
/// ```
/// Quirks: each dense block and each RRDB scale their residual by 0.2; Real-ESRGAN's x2 and x1 models first
/// pixel-unshuffle the input by 2 and 4 (conv_first then sees 4 or 16 times the channels) and keep the x4 upsampler.
/// The original ESRGAN naming (`model.0`, `model.1.sub.N.RDBK.convJ.0`, `model.1.sub.<nb>`, `model.3`, `model.6`,
/// `model.8`, `model.10`) is renamed to this layout, so both give the same graph.
public enum RRDBNet: Architecture {
    public struct Config: ArchitectureConfig {
        public var inChannels = 3
        public var outChannels = 3
        public var features = 64
        public var blocks = 23
        public var growth = 32
        /// Nearest x2 + convolution stages (2 in every BasicSR model).
        public var upsamplings = 2
        /// Pixel-unshuffle factor applied to the input (1, 2 or 4).
        public var unshuffle = 1

        public init(inChannels: Int = 3, outChannels: Int = 3, features: Int = 64, blocks: Int = 23, growth: Int = 32,
                    upsamplings: Int = 2, unshuffle: Int = 1) {
            self.inChannels = inChannels
            self.outChannels = outChannels
            self.features = features
            self.blocks = blocks
            self.growth = growth
            self.upsamplings = upsamplings
            self.unshuffle = unshuffle
        }

        public var scale: Int { (1 << upsamplings) / unshuffle }
    }

    public static let name = "RRDBNet"
    static let slope: Float = 0.2
    static let residualScale: Float = 0.2

    public static func detect(_ weights: StateDict) throws(ModelsError) -> Config? {
        let keys = KeyReader(architecture: name, weights: weights)
        guard keys.has("conv_first.weight"), keys.has("body.0.rdb1.conv1.weight"), keys.has("conv_last.weight") else {
            return nil
        }
        let first = try keys.conv("conv_first"), last = try keys.conv("conv_last")
        let growth = try keys.conv("body.0.rdb1.conv1").out
        let blocks = try keys.count("body.", ".rdb1.conv1.weight")
        let upsamplings = try keys.count("conv_up", ".weight", from: 1)
        let out = last.out
        let unshuffle = first.in == out * 16 && out * 16 != out ? 4 : first.in == out * 4 ? 2 : 1
        guard (1 << upsamplings) % unshuffle == 0 else {
            throw .unsupported(architecture: name, detail: "pixel-unshuffle by \(unshuffle) with \(upsamplings) x2 stages gives a fractional scale")
        }
        return Config(inChannels: first.in / (unshuffle * unshuffle), outChannels: out, features: first.out,
                      blocks: blocks, growth: growth, upsamplings: upsamplings, unshuffle: unshuffle)
    }

    public static func stateDictSpec(_ c: Config) -> [TensorSpec] {
        let nf = c.features, gc = c.growth
        var spec = TensorSpec.conv("conv_first", c.inChannels * c.unshuffle * c.unshuffle, nf, kernel: 3)
        for b in 0..<c.blocks {
            for k in 1...3 {
                for j in 1...5 {
                    spec += TensorSpec.conv("body.\(b).rdb\(k).conv\(j)", nf + (j - 1) * gc, j == 5 ? nf : gc, kernel: 3)
                }
            }
        }
        spec += TensorSpec.conv("conv_body", nf, nf, kernel: 3)
        for k in stride(from: 1, through: c.upsamplings, by: 1) { spec += TensorSpec.conv("conv_up\(k)", nf, nf, kernel: 3) }
        spec += TensorSpec.conv("conv_hr", nf, nf, kernel: 3)
        spec += TensorSpec.conv("conv_last", nf, c.outChannels, kernel: 3)
        return spec
    }

    public static func build(_ c: Config, weights: StateDict) throws(ModelsError) -> Graph {
        guard c.blocks >= 0, c.features > 0, c.growth > 0, [1, 2, 4].contains(c.unshuffle) else {
            throw .invalidConfig(architecture: name, detail: "\(c)")
        }
        let lrelu = Activation.leakyRelu(slope: slope)
        var b = NetworkBuilder(architecture: name, weights: weights)
        var x = b.input()
        if c.unshuffle > 1 { x = b.add(.pixelUnshuffle(factor: c.unshuffle), [x], name: "unshuffle") }
        let first = try b.conv("conv_first", x)
        var trunk = first
        for i in 0..<c.blocks {
            let start = trunk
            for k in 1...3 { trunk = try denseBlock(&b, "body.\(i).rdb\(k)", trunk) }
            trunk = b.sum(trunk, residualScale, start, 1, name: "body.\(i)")
        }
        var feat = b.sum(first, 1, try b.conv("conv_body", trunk), 1, name: "trunk")
        for k in stride(from: 1, through: c.upsamplings, by: 1) {
            feat = b.upsampleNearest(feat, factor: 2, name: "upsample\(k)")
            feat = try b.conv("conv_up\(k)", feat, activation: lrelu)
        }
        feat = try b.conv("conv_hr", feat, activation: lrelu)
        return b.finish(try b.conv("conv_last", feat))
    }

    /// One residual dense block: five convolutions over the concatenation of all earlier outputs.
    static func denseBlock(_ b: inout NetworkBuilder, _ key: String, _ x: ValueID) throws(ModelsError) -> ValueID {
        var features = [x]
        for j in 1...4 {
            let input = features.count == 1 ? x : b.add(.concat, features, name: "\(key).cat\(j)")
            features.append(try b.conv("\(key).conv\(j)", input, activation: .leakyRelu(slope: slope)))
        }
        let x5 = try b.conv("\(key).conv5", b.add(.concat, features, name: "\(key).cat5"))
        return b.sum(x5, residualScale, x, 1, name: key)
    }

    public static func facts(_ c: Config) -> ModelFacts {
        ModelFacts(scale: c.scale, inChannels: c.inChannels, outChannels: c.outChannels, alignment: c.unshuffle,
                   host: c.unshuffle == 1 ? .realESRGAN : nil)
    }

    public static func randomConfig(using g: inout SeededGenerator) -> Config {
        let channels = [1, 3, 3].randomElement(using: &g)!
        let unshuffle = [1, 1, 2, 4].randomElement(using: &g)!
        let upsamplings = unshuffle == 4 ? 2 : Int.random(in: (unshuffle == 2 ? 1 : 0)...3, using: &g)
        return Config(inChannels: channels, outChannels: channels, features: Int.random(in: 2...8, using: &g),
                      blocks: Int.random(in: 1...3, using: &g), growth: Int.random(in: 1...4, using: &g),
                      upsamplings: upsamplings, unshuffle: unshuffle)
    }

    /// Renames the original ESRGAN layout (`model.N...`) to BasicSR's. With `n` upsamplings the top-level
    /// sequence is: 0 conv_first, 1 trunk (`sub.0..<nb` RRDBs, `sub.nb` conv_body), then per upsampling an
    /// upsample / conv / LeakyReLU triple (convs at 3, 6, ...), then conv_hr at `3n + 2` and conv_last at `3n + 4`.
    public static func canonicalNames(_ weights: StateDict) -> StateDict {
        let keys = KeyReader(architecture: name, weights: weights)
        guard keys.has("model.0.weight"), keys.has("model.1.sub.0.RDB1.conv1.0.weight") else { return weights }
        let top = keys.indices("model.", ".weight")
        guard let last = top.last, last >= 4, (last - 4) % 3 == 0 else { return weights }
        let n = (last - 4) / 3
        let blocks = keys.indices("model.1.sub.", ".RDB1.conv1.0.weight").count
        var map: [String: String] = ["model.0": "conv_first", "model.1.sub.\(blocks)": "conv_body",
                                     "model.\(3 * n + 2)": "conv_hr", "model.\(3 * n + 4)": "conv_last"]
        for k in stride(from: 1, through: n, by: 1) { map["model.\(3 * k)"] = "conv_up\(k)" }
        return weights.renamingKeys { key in
            for suffix in [".weight", ".bias"] where key.hasSuffix(suffix) {
                let module = String(key.dropLast(suffix.count))
                if let renamed = map[module] { return renamed + suffix }
                // model.1.sub.N.RDBK.convJ.0 -> body.N.rdbK.convJ
                let parts = module.split(separator: ".")
                if parts.count == 7, parts[0] == "model", parts[1] == "1", parts[2] == "sub", parts[4].hasPrefix("RDB"),
                   parts[6] == "0" {
                    return "body.\(parts[3]).rdb\(parts[4].dropFirst(3)).\(parts[5])\(suffix)"
                }
            }
            return nil
        }
    }
}
