public import SRModels

/// BasicSR's VGG-style discriminator (SRGAN, Ledig et al. 2017; ESRGAN) on the tape: stage k has a 3x3 stride-1
/// convolution (`convk_0`, with a bias in stage 0, else followed by `bnk_0`) and a 4x4 stride-2 convolution
/// (`convk_1` + `bnk_1`), each followed by LeakyReLU 0.2, halving the 128x128 (or 256x256) input five (six) times;
/// then `linear1` (-> 100, LeakyReLU 0.2) and `linear2` (-> one logit per image). Parameters and running
/// statistics are named like `SRModels.VGGStyleDiscriminator.stateDictSpec`.
public final class DiscriminatorNetwork: TrainableNetwork {
    public let config: VGGStyleDiscriminator.Config
    public let parameters: ParameterSet
    public var specs: [TensorSpec] { VGGStyleDiscriminator.stateDictSpec(config) }
    /// Batch statistics and running-statistics updates (true), or the running statistics (false, eval mode).
    public var training = true
    /// PyTorch's batch-norm momentum for the running statistics.
    public var momentum: Float = 0.1

    /// PyTorch's default initialisation (BasicSR leaves this network's modules at their defaults), seeded.
    public init(config: VGGStyleDiscriminator.Config, seed: UInt64) {
        self.config = config
        self.parameters = ParameterSet(specs: VGGStyleDiscriminator.stateDictSpec(config), initializer: .pytorchDefault,
                                       seed: seed)
    }

    /// Freezes or unfreezes every parameter (no weight gradients while the generator trains; the gradient still
    /// reaches the generated image).
    public func setTrainable(_ on: Bool) { parameters.setTrainable(on) }

    /// One logit per image of `x` (`[n, c, size, size]`, values 0...1), `[n, 1, 1, 1]`.
    /// - Throws: `TrainError.shapeMismatch` when the patches are not `config.inputSize` square.
    public func forward(_ x: Variable, tape: Tape) throws -> Variable {
        guard x.shape.h == config.inputSize, x.shape.w == config.inputSize, x.shape.c == config.inChannels else {
            throw TrainError.shapeMismatch(op: "discriminator", detail: "input \(x.shape); it scores \(config.inChannels)-channel \(config.inputSize)x\(config.inputSize) patches (use --patch \(config.inputSize))")
        }
        let lrelu = TrainOp.leakyRelu(slope: 0.2)
        func bn(_ key: String, _ h: Variable) throws -> Variable {
            try tape.batchNorm(h, layer: key, in: parameters, training: training, momentum: momentum)
        }
        var h = x
        for k in 0..<(config.inputSize == 256 ? 6 : 5) {
            let c0 = "conv\(k)_0", c1 = "conv\(k)_1"
            h = k == 0
                ? try tape.apply(.conv2d(stride: 1, padding: 1), [h, parameters[c0 + ".weight"], parameters[c0 + ".bias"]])
                : try bn("bn\(k)_0", try tape.apply(.conv2d(stride: 1, padding: 1), [h, parameters[c0 + ".weight"]]))
            h = try tape.apply(lrelu, [h])
            h = try bn("bn\(k)_1", try tape.apply(.conv2d(stride: 2, padding: 1), [h, parameters[c1 + ".weight"]]))
            h = try tape.apply(lrelu, [h])
        }
        h = try tape.apply(.flatten, [h])
        h = try tape.apply(lrelu, [try tape.apply(.linear, [h, parameters["linear1.weight"], parameters["linear1.bias"]])])
        return try tape.apply(.linear, [h, parameters["linear2.weight"], parameters["linear2.bias"]])
    }
}
