public import SRModels
import SRCore
import SRBackendReference

/// MSRResNet (SRResNet without batch norm, as in BasicSR/ESRGAN) on the training tape, with parameters named like
/// `SRModels.MSRResNet.stateDictSpec`, so `stateDict()` is a model file `enhance upscale -m` runs.
public final class MSRResNetNetwork {
    public let config: MSRResNet.Config
    public let parameters: ParameterSet
    public var specs: [TensorSpec] { MSRResNet.stateDictSpec(config) }

    /// Kaiming-normal weights scaled by 0.1 (BasicSR's initialisation of this network), seeded.
    public init(config: MSRResNet.Config, seed: UInt64) {
        self.config = config
        self.parameters = ParameterSet(specs: MSRResNet.stateDictSpec(config), initializer: Initializers.kaiming(scale: 0.1),
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
        return try tape.apply(.axpby(a: 1, b: 1), [out, Bilinear.upsample(x, scale: config.scale)])
    }
}

/// Bilinear upsampling (`align_corners=False`, PyTorch's `F.interpolate`) of data that needs no gradient, through
/// the reference kernel the inference graph uses, so training and inference compute the same skip connection.
public enum Bilinear {
    public static func upsample(_ x: Variable, scale: Int) throws -> Variable {
        guard !x.requiresGrad else {
            throw TrainError.invalid("bilinear upsampling is only applied to inputs; it has no gradient rule")
        }
        let s = x.shape, o = Shape(n: 1, c: s.c, h: s.h * scale, w: s.w * scale)
        let op = Op.resize(Resize(mode: .bilinear, scaleH: Float(scale), scaleW: Float(scale)))
        var out: [Float] = []
        out.reserveCapacity(s.count * scale * scale)
        let per = s.c * s.h * s.w
        for n in 0..<s.n {
            let t = Tensor(dims: [1, s.c, s.h, s.w], data: Array(x.data[(n * per)..<((n + 1) * per)]))
            out += ReferenceKernels.evaluate(op, inputs: [t], outputShape: o).data
        }
        return Variable(TShape(n: s.n, c: s.c, h: o.h, w: o.w), data: out)
    }
}
