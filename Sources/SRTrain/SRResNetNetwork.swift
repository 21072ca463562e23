public import SRModels

/// SRResNet, the SRGAN generator with batch norm and PReLU (Ledig et al., CVPR 2017), on the training tape, with
/// parameters named like `SRModels.SRResNet.stateDictSpec` (the layout of "a-PyTorch-Tutorial-to-Super-Resolution"):
/// ```
/// conv_block1: 9x9 conv + PReLU (shared slope)            -> head
/// residual_blocks.N: 3x3 conv, BN, PReLU, 3x3 conv, BN, + block input
/// conv_block2: 3x3 conv, BN, + head
/// subpixel_convolutional_blocks.N: 3x3 conv nf -> 4nf, pixel shuffle 2, PReLU
/// conv_block3: 9x9 conv, tanh
/// ```
/// Like the inference graph, it takes `[0, 1]` images (normalising them as `config.inputNormalisation` says) and
/// returns `(tanh(z) + 1) / 2 = sigmoid(2z)`, so it trains on `[0, 1]` targets and its `stateDict()` runs with
/// `enhance upscale -m`. Batch norms use batch statistics while `training`, the running statistics otherwise.
public final class SRResNetNetwork: TrainableNetwork {
    public let config: SRResNet.Config
    public let parameters: ParameterSet
    public var specs: [TensorSpec] { SRResNet.stateDictSpec(config) }
    /// Batch statistics and running-statistics updates (true), or the running statistics (false, eval mode).
    public var training = true
    /// PyTorch's batch-norm momentum for the running statistics.
    public var momentum: Float = 0.1

    /// PyTorch's default initialisation (the tutorial keeps it): convolutions uniform in ±1/sqrt(fan-in), PReLU
    /// slopes 0.25, batch norms scale 1 / shift 0; seeded.
    public init(config: SRResNet.Config, seed: UInt64) {
        self.config = config
        self.parameters = ParameterSet(specs: SRResNet.stateDictSpec(config), initializer: .pytorchDefault, seed: seed)
    }

    func conv(_ tape: Tape, _ key: String, _ x: Variable) throws -> Variable {
        let w = parameters[key + ".weight"]
        return try tape.apply(.conv2d(stride: 1, padding: w.shape.h / 2), [x, w, parameters[key + ".bias"]])
    }

    func bn(_ tape: Tape, _ key: String, _ x: Variable) throws -> Variable {
        try tape.batchNorm(x, layer: key, in: parameters, training: training, momentum: momentum)
    }

    func prelu(_ tape: Tape, _ key: String, _ x: Variable) throws -> Variable {
        try tape.apply(.prelu, [x, parameters[key]])
    }

    /// The network on a batch of LR images `[n, c, h, w]` (values 0...1); returns `[n, c, h*s, w*s]` in 0...1.
    /// - Throws: `TrainError.invalid` when the scale is not a power of two.
    public func forward(_ x: Variable, tape: Tape) throws -> Variable {
        guard config.scale >= 1, config.scale & (config.scale - 1) == 0 else {
            throw TrainError.invalid("SRResNet upsamples by pixel-shuffle stages of 2: scale \(config.scale) is not a power of two")
        }
        var h = x
        switch config.inputNormalisation {
        case .imagenet:
            let mean: [Float] = [0.485, 0.456, 0.406], std: [Float] = [0.229, 0.224, 0.225]
            guard x.shape.c == 3 else { throw TrainError.invalid("ImageNet normalisation needs 3-channel input, got \(x.shape)") }
            h = try tape.apply(.channelAffine(scale: std.map { 1 / $0 }, shift: zip(mean, std).map { -$0 / $1 }), [h])
        case .minusOneToOne:
            h = try tape.apply(.affine(scale: 2, shift: -1), [h])
        case .zeroToOne:
            break
        }
        let head = try prelu(tape, "conv_block1.conv_block.1.weight", try conv(tape, "conv_block1.conv_block.0", h))
        var feat = head
        for i in 0..<config.blocks {
            let key = "residual_blocks.\(i)"
            var r = try bn(tape, "\(key).conv_block1.conv_block.1", try conv(tape, "\(key).conv_block1.conv_block.0", feat))
            r = try prelu(tape, "\(key).conv_block1.conv_block.2.weight", r)
            r = try bn(tape, "\(key).conv_block2.conv_block.1", try conv(tape, "\(key).conv_block2.conv_block.0", r))
            feat = try tape.apply(.axpby(a: 1, b: 1), [r, feat])
        }
        let trunk = try bn(tape, "conv_block2.conv_block.1", try conv(tape, "conv_block2.conv_block.0", feat))
        feat = try tape.apply(.axpby(a: 1, b: 1), [trunk, head])
        for i in 0..<config.scale.trailingZeroBitCount {
            let key = "subpixel_convolutional_blocks.\(i)"
            let up = try tape.apply(.pixelShuffle(factor: 2), [try conv(tape, "\(key).conv", feat)])
            feat = try prelu(tape, "\(key).prelu.weight", up)
        }
        let z = try conv(tape, "conv_block3.conv_block.0", feat)
        return try tape.apply(.sigmoid, [try tape.apply(.affine(scale: 2, shift: 0), [z])])
    }
}
