public import SRModels

/// MSRResNet (SRResNet without batch norm, as in BasicSR/ESRGAN; Wang et al. 2018) on the training tape, with
/// parameters named like `SRModels.MSRResNet.stateDictSpec`, so `stateDict()` is a model file `enhance upscale -m`
/// runs:
/// ```
/// conv_first -> LReLU(0.1) -> body.N (conv1 -> ReLU -> conv2, + input) -> upconv1 (-> upconv2) with pixel
/// shuffle and LReLU(0.1) -> conv_hr -> LReLU(0.1) -> conv_last, + bilinear upsampling of the input
/// ```
public final class MSRResNetNetwork: TrainableNetwork {
    public let config: MSRResNet.Config
    public let parameters: ParameterSet
    public var specs: [TensorSpec] { MSRResNet.stateDictSpec(config) }

    /// Kaiming-normal weights scaled by 0.1 and zero biases (BasicSR's initialisation of every convolution of this
    /// network), seeded.
    public init(config: MSRResNet.Config, seed: UInt64) {
        self.config = config
        self.parameters = ParameterSet(specs: MSRResNet.stateDictSpec(config), initializer: .kaimingNormal(scale: 0.1),
                                       seed: seed)
    }

    func conv(_ tape: Tape, _ key: String, _ x: Variable) throws -> Variable {
        try tape.apply(.conv2d(stride: 1, padding: 1), [x, parameters[key + ".weight"], parameters[key + ".bias"]])
    }

    /// The network on a batch of LR images `[n, c, h, w]` (values 0...1); returns `[n, c, h*s, w*s]`.
    public func forward(_ x: Variable, tape: Tape) throws -> Variable {
        let lrelu = TrainOp.leakyRelu(slope: 0.1)
        var feat = try tape.apply(lrelu, [try conv(tape, "conv_first", x)])
        for i in 0..<config.blocks {
            let h = try tape.apply(.relu, [try conv(tape, "body.\(i).conv1", feat)])
            feat = try tape.apply(.axpby(a: 1, b: 1), [feat, try conv(tape, "body.\(i).conv2", h)])
        }
        for (k, r) in config.stages.enumerated() {
            let up = try tape.apply(.pixelShuffle(factor: r), [try conv(tape, "upconv\(k + 1)", feat)])
            feat = try tape.apply(lrelu, [up])
        }
        feat = try tape.apply(lrelu, [try conv(tape, "conv_hr", feat)])
        let out = try conv(tape, "conv_last", feat)
        return try tape.apply(.axpby(a: 1, b: 1), [out, try tape.apply(.upsampleBilinear(factor: config.scale), [x])])
    }
}
