public import SRCore
public import SRWeights

/// SPAN, the swift parameter-free attention network (Wan et al., "Swift Parameter-free Attention Network for
/// Efficient Super-Resolution", CVPRW 2024; NTIRE 2024 ESR winner).
///
/// Key layout (nf = feature channels, every `Conv3XC` is a re-parameterisable 3x3 convolution):
/// ```
/// conv_1                       Conv3XC in -> nf, after (x - rgb_mean) · 255 (absent when a `no_norm` key exists)
/// block_1 ... block_6          SPAB: c1_r, c2_r, c3_r (Conv3XC nf -> nf), SiLU after the first two;
///                              out = (c3 + x) · (sigmoid(c3) - 0.5)
/// conv_2                       Conv3XC nf -> nf on block_6's output
/// conv_cat                     1x1, 4·nf -> nf over [conv_1, conv_2, block_1, SiLU(block_6's c1_r)]
/// upsampler.0                  3x3 nf -> out·s², pixel shuffle s (no de-normalisation)
/// Conv3XC K:  K.sk (1x1 in -> out), K.conv.0 (1x1 in -> 2in), K.conv.1 (3x3 2in -> 2out, unpadded),
///             K.conv.2 (1x1 2out -> out), K.eval_conv (3x3 in -> out: their sum, as computed in eval mode)
/// ```
/// Quirk: SPAB returns its first convolution's output for the final concatenation, but its SiLU runs in place, so
/// what reaches `conv_cat` is the activated value.
/// In eval mode each `Conv3XC` recomputes `eval_conv` from its training branches, so the branches are the source of
/// truth: they are composed here into one 3x3 convolution (the stored `eval_conv` may be stale). Checkpoints that
/// only keep `eval_conv` use it directly.
public enum SPAN: TrainableArchitecture {
    public struct Config: ArchitectureConfig {
        public var inChannels = 3
        public var outChannels = 3
        public var features = 48
        public var scale = 4
        /// Whether the input is shifted by the DIV2K mean and scaled by 255 first.
        public var normalise = true
        /// Whether the checkpoint stores the training branches of each Conv3XC (else only `eval_conv`).
        public var branches = true
        /// Channel multiplier inside each Conv3XC's branch (`gain1`).
        public var gain = 2
        /// Whether the checkpoint has `eval_conv` tensors (the re-parameterised convolutions).
        public var evalConv = true

        public init(inChannels: Int = 3, outChannels: Int = 3, features: Int = 48, scale: Int = 4, normalise: Bool = true,
                    branches: Bool = true, gain: Int = 2, evalConv: Bool = true) {
            self.inChannels = inChannels
            self.outChannels = outChannels
            self.features = features
            self.scale = scale
            self.normalise = normalise
            self.branches = branches
            self.gain = gain
            self.evalConv = evalConv
        }
    }

    public static let name = "SPAN"
    static let blocks = 6

    public static func detect(_ weights: StateDict) throws(ModelsError) -> Config? {
        let keys = KeyReader(architecture: name, weights: weights)
        let branches = keys.has("conv_1.sk.weight"), evalConv = keys.has("conv_1.eval_conv.weight")
        guard branches || evalConv, keys.has("block_1.c1_r.sk.weight") || keys.has("block_1.c1_r.eval_conv.weight"),
              keys.has("upsampler.0.weight"), keys.has("conv_cat.weight") else { return nil }
        let first = try keys.conv(branches ? "conv_1.sk" : "conv_1.eval_conv")
        let up = try keys.conv("upsampler.0")
        let out = first.in
        guard let s = KeyReader.shuffleFactor(outputs: up.out, channels: out) else {
            throw .unsupported(architecture: name, detail: "upsampler.0 has \(up.out) outputs, not \(out) x scale²")
        }
        let gain = branches ? try keys.conv("conv_1.conv.0").out / max(first.in, 1) : 2
        return Config(inChannels: first.in, outChannels: out, features: first.out, scale: s,
                      normalise: !keys.has("no_norm"), branches: branches, gain: gain, evalConv: evalConv)
    }

    /// The Conv3XC modules in order, with their channels.
    static func conv3XCs(_ c: Config) -> [(key: String, in: Int, out: Int)] {
        let nf = c.features
        var list = [(key: "conv_1", in: c.inChannels, out: nf)]
        for i in 1...blocks {
            for part in ["c1_r", "c2_r", "c3_r"] { list.append((key: "block_\(i).\(part)", in: nf, out: nf)) }
        }
        list.append((key: "conv_2", in: nf, out: nf))
        return list
    }

    public static func stateDictSpec(_ c: Config) -> [TensorSpec] {
        var spec: [TensorSpec] = c.normalise ? [] : [TensorSpec("no_norm", [1], buffer: true)]
        for (key, i, o) in conv3XCs(c) {
            if c.branches {
                spec += TensorSpec.conv("\(key).sk", i, o, kernel: 1) + TensorSpec.conv("\(key).conv.0", i, i * c.gain, kernel: 1)
                    + TensorSpec.conv("\(key).conv.1", i * c.gain, o * c.gain, kernel: 3)
                    + TensorSpec.conv("\(key).conv.2", o * c.gain, o, kernel: 1)
            }
            if c.evalConv { spec += TensorSpec.conv("\(key).eval_conv", i, o, kernel: 3) }
        }
        return spec + TensorSpec.conv("conv_cat", 4 * c.features, c.features, kernel: 1)
            + TensorSpec.conv("upsampler.0", c.features, c.outChannels * c.scale * c.scale, kernel: 3)
    }

    public static func build(_ c: Config, weights: StateDict) throws(ModelsError) -> Graph {
        try build(c, weights: weights, mode: .inference)
    }

    /// Inference composes each Conv3XC into one 3x3 convolution; training runs its branches as PyTorch's training
    /// mode does: `conv.2(conv.1(conv.0(pad(x, 1)))) + sk(x)` (conv.0 is a 1x1 convolution over the zero-padded
    /// input, conv.1 an unpadded 3x3, conv.2 and sk 1x1).
    public static func build(_ c: Config, weights: StateDict, mode: BuildMode) throws(ModelsError) -> Graph {
        guard c.branches || c.evalConv, c.scale >= 1 else { throw .invalidConfig(architecture: name, detail: "\(c)") }
        guard mode == .inference || c.branches else {
            throw .invalidConfig(architecture: name, detail: "this file keeps only eval_conv; training needs the Conv3XC branches (sk, conv.0-2)")
        }
        var b = NetworkBuilder(architecture: name, weights: weights, mode: mode)
        var x = b.input()
        if c.normalise {
            x = b.normalise(x, channels: c.inChannels, mean: EDSR.div2kMean, std: [1 / 255], name: "normalise")
        }
        func conv3XC(_ key: String, _ input: ValueID, activation: Activation? = nil) throws(ModelsError) -> ValueID {
            if mode == .training {
                let t0 = try b.conv("\(key).conv.0", input, padding: 1)
                let t1 = try b.conv("\(key).conv.1", t0, padding: 0)
                let t2 = try b.conv("\(key).conv.2", t1, padding: 0)
                let sum = b.sum(t2, 1, try b.conv("\(key).sk", input, padding: 0), 1, name: key)
                return activation.map { b.activation($0, sum, name: key + ".activation") } ?? sum
            }
            let (w, bias) = try reparameterised(b, key, c)
            return b.convolution(key, input, weight: w, bias: bias, padding: 1, activation: activation)
        }
        let head = try conv3XC("conv_1", x)
        var feat = head
        var firstBlock = head, lastC1 = head
        for i in 1...blocks {
            let key = "block_\(i)"
            let a1 = try conv3XC("\(key).c1_r", feat, activation: .swish)
            let a2 = try conv3XC("\(key).c2_r", a1, activation: .swish)
            let c3 = try conv3XC("\(key).c3_r", a2)
            // (c3 + x) * (sigmoid(c3) - 0.5)
            let gate = b.add(.activation(.sigmoid), [c3], name: "\(key).sigmoid")
            let attention = b.add(.activation(.linear(scale: 1, shift: -0.5)), [gate], name: "\(key).attention")
            let sum = b.sum(c3, 1, feat, 1, name: "\(key).residual")
            feat = b.add(.binary(.mul), [sum, attention], name: key)
            if i == 1 { firstBlock = feat }
            if i == blocks { lastC1 = a1 }
        }
        let tail = try conv3XC("conv_2", feat)
        let cat = b.add(.concat, [head, tail, firstBlock, lastC1], name: "cat")
        let merged = try b.conv("conv_cat", cat)
        let up = try b.conv("upsampler.0", merged)
        return b.finish(b.add(.pixelShuffle(factor: c.scale, mode: .channelsFirst), [up], name: "upsampler.1"))
    }

    /// The single 3x3 convolution equal (in eval mode) to the Conv3XC `key`: the 1x1 -> 3x3 -> 1x1 chain composed
    /// into one kernel plus the 1x1 skip at the centre tap, or the stored `eval_conv` without branches.
    static func reparameterised(_ b: NetworkBuilder, _ key: String, _ c: Config) throws(ModelsError) -> (Tensor, [Float]) {
        guard c.branches else {
            let (w, bias) = try b.convWeights("\(key).eval_conv")
            return (w, bias ?? [Float](repeating: 0, count: w.dims[0]))
        }
        let (w0, b0) = try b.convWeights("\(key).conv.0")   // [m, i, 1, 1]
        let (w1, b1) = try b.convWeights("\(key).conv.1")   // [n, m, 3, 3]
        let (w2, b2) = try b.convWeights("\(key).conv.2")   // [o, n, 1, 1]
        let (sk, skb) = try b.convWeights("\(key).sk")      // [o, i, 1, 1]
        let i = w0.dims[1], m = w0.dims[0], n = w1.dims[0], o = w2.dims[0]
        guard w1.dims[1] == m, w1.dims[2] == 3, w1.dims[3] == 3, w2.dims[1] == n, sk.dims[0] == o, sk.dims[1] == i else {
            throw .shapeMismatch(architecture: name, key: "\(key).conv.1.weight", expected: [n, m, 3, 3], actual: w1.dims)
        }
        let zeros = { (k: Int) in [Float](repeating: 0, count: k) }
        let bias0 = b0 ?? zeros(m), bias1 = b1 ?? zeros(n), bias2 = b2 ?? zeros(o), skBias = skb ?? zeros(o)
        // inner[n][i][t] = Σ_m w1[n][m][t] · w0[m][i];  kernel[o][i][t] = Σ_n w2[o][n] · inner[n][i][t].
        var inner = [Double](repeating: 0, count: n * i * 9)
        for a in 0..<n { for j in 0..<m { for t in 0..<9 {
            let v = Double(w1.data[(a * m + j) * 9 + t])
            guard v != 0 else { continue }
            for k in 0..<i { inner[(a * i + k) * 9 + t] += v * Double(w0.data[j * i + k]) }
        } } }
        var kernel = [Float](repeating: 0, count: o * i * 9)
        var bias = [Float](repeating: 0, count: o)
        // Bias through the chain: b1' = b1 + Σ_t w1 · b0, then b = w2 · b1' + b2.
        var mid = bias1.map(Double.init)
        for a in 0..<n { for j in 0..<m { for t in 0..<9 { mid[a] += Double(w1.data[(a * m + j) * 9 + t]) * Double(bias0[j]) } } }
        for p in 0..<o {
            var acc = [Double](repeating: 0, count: i * 9)
            var bp = Double(bias2[p]) + Double(skBias[p])
            for a in 0..<n {
                let v = Double(w2.data[p * n + a])
                bp += v * mid[a]
                for q in 0..<(i * 9) { acc[q] += v * inner[a * i * 9 + q] }
            }
            for k in 0..<i { acc[k * 9 + 4] += Double(sk.data[p * i + k]) }
            for q in 0..<(i * 9) { kernel[p * i * 9 + q] = Float(acc[q]) }
            bias[p] = Float(bp)
        }
        return (Tensor(dims: [o, i, 3, 3], data: kernel), bias)
    }

    public static func facts(_ c: Config) -> ModelFacts {
        ModelFacts(scale: c.scale, inChannels: c.inChannels, outChannels: c.outChannels, host: .realESRGAN)
    }

    /// SPAN's reference code keeps PyTorch's module defaults.
    public static let initialisation = WeightInitialisation.pytorchDefault

    public static func trainingConfig(scale: Int, channels: Int, features: Int?, depth: Int?) throws(ModelsError) -> Config {
        let c = Config(inChannels: channels, outChannels: channels, features: features ?? 48, scale: scale)
        guard scale >= 1, c.features > 0, depth == nil || depth == blocks else {
            throw .invalidConfig(architecture: name, detail: "scale >= 1 and positive features (SPAN has \(blocks) blocks, no other depth): \(c)")
        }
        return c
    }

    /// The trained branches with every `eval_conv` re-derived from them, so a loader that runs `eval_conv` (as
    /// spandrel's SPAN does after `update_params`) gets the trained network.
    public static func exported(_ c: Config, weights: StateDict) throws(ModelsError) -> StateDict {
        guard c.branches, c.evalConv else { return weights }
        var out = weights
        let b = NetworkBuilder(architecture: name, weights: weights)
        for (key, _, _) in conv3XCs(c) {
            let (w, bias) = try reparameterised(b, key, c)
            out.insert(WeightTensor(shape: w.dims, floats: w.data), path: [key, "eval_conv", "weight"].flatMap { $0.split(separator: ".").map(String.init) })
            out.insert(WeightTensor(shape: [bias.count], floats: bias), path: [key, "eval_conv", "bias"].flatMap { $0.split(separator: ".").map(String.init) })
        }
        return out
    }

    public static func randomConfig(using g: inout SeededGenerator) -> Config {
        let branches = Bool.random(using: &g)
        return Config(features: Int.random(in: 2...6, using: &g), scale: Int.random(in: 1...4, using: &g),
                      normalise: Bool.random(using: &g), branches: branches, gain: branches ? Int.random(in: 1...2, using: &g) : 2,
                      evalConv: branches ? Bool.random(using: &g) : true)
    }
}
