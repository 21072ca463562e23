public import SRModels
public import SRWeights
import SRCore

/// BasicSR's VGG-style discriminator (SRGAN/ESRGAN) on the tape: conv + batch norm + LeakyReLU 0.2 stages that
/// halve the 128x128 input five times, then two linear layers to one logit per image. Parameters and running
/// statistics are named like `SRModels.VGGStyleDiscriminator.stateDictSpec`.
public final class DiscriminatorNetwork {
    public let config: VGGStyleDiscriminator.Config
    public let parameters: ParameterSet
    public var specs: [TensorSpec] { VGGStyleDiscriminator.stateDictSpec(config) }
    /// PyTorch's batch-norm momentum for the running statistics.
    public var momentum: Float = 0.1

    public init(config: VGGStyleDiscriminator.Config, seed: UInt64) {
        self.config = config
        self.parameters = ParameterSet(specs: VGGStyleDiscriminator.stateDictSpec(config),
                                       initializer: Initializers.kaiming(scale: 1), seed: seed)
    }

    /// Freezes or unfreezes every parameter (no weight gradients while the generator trains).
    public func setTrainable(_ on: Bool) { for p in parameters.all { p.requiresGrad = on } }

    func bn(_ tape: Tape, _ key: String, _ x: Variable) throws -> Variable {
        let (y, mean, variance) = try tape.batchNorm(x, weight: parameters[key + ".weight"], bias: parameters[key + ".bias"])
        // Running statistics as PyTorch keeps them: unbiased variance, exponential average.
        let m = Float(x.shape.n * x.shape.h * x.shape.w), unbiased = m / max(m - 1, 1)
        if let rm = parameters.buffers[key + ".running_mean"], let rv = parameters.buffers[key + ".running_var"] {
            for c in mean.indices {
                rm.data[c] = (1 - momentum) * rm.data[c] + momentum * mean[c]
                rv.data[c] = (1 - momentum) * rv.data[c] + momentum * variance[c] * unbiased
            }
        }
        return y
    }

    /// One logit per image of `x` (`[n, c, 128, 128]`, values 0...1), batch statistics (training mode).
    public func forward(_ x: Variable, tape: Tape) throws -> Variable {
        guard x.shape.h == config.inputSize, x.shape.w == config.inputSize else {
            throw TrainError.shapeMismatch(op: "discriminator", detail: "input \(x.shape); it scores \(config.inputSize)x\(config.inputSize) patches (use --patch \(config.inputSize))")
        }
        let lrelu = TrainOp.leakyRelu(slope: 0.2)
        var h = x
        for k in 0..<(config.inputSize == 256 ? 6 : 5) {
            let c0 = "conv\(k)_0", c1 = "conv\(k)_1"
            h = k == 0
                ? try tape.apply(.conv2d(stride: 1, padding: 1), [h, parameters[c0 + ".weight"], parameters[c0 + ".bias"]])
                : try bn(tape, "bn\(k)_0", try tape.apply(.conv2d(stride: 1, padding: 1), [h, parameters[c0 + ".weight"]]))
            h = try tape.apply(lrelu, [h])
            h = try bn(tape, "bn\(k)_1", try tape.apply(.conv2d(stride: 2, padding: 1), [h, parameters[c1 + ".weight"]]))
            h = try tape.apply(lrelu, [h])
        }
        h = try tape.apply(lrelu, [try tape.apply(.linear, [h, parameters["linear1.weight"], parameters["linear1.bias"]])])
        return try tape.apply(.linear, [h, parameters["linear2.weight"], parameters["linear2.bias"]])
    }
}

/// A frozen VGG feature extractor (torchvision key layout `features.N`) for the perceptual loss: ImageNet
/// normalisation, 3x3 convolutions with ReLU, 2x2 max pools, up to `config.lastLayer` (e.g. `conv5_4`, before its
/// ReLU, as ESRGAN). Weights come from a `.pth` or safetensors file; gradients flow to its input only.
public final class VGGFeatureNetwork {
    public let config: VGGFeatures.Config
    public let parameters: ParameterSet

    public init(config: VGGFeatures.Config, weights: ParameterSet) {
        self.config = config
        self.parameters = weights
        for p in weights.all { p.requiresGrad = false }
    }

    /// Loads and freezes VGG weights; the architecture is detected from the file.
    public static func load(_ dict: StateDict, lastLayer: String = "conv5_4") throws -> VGGFeatureNetwork {
        guard let detected = try VGGFeatures.detect(dict) else {
            throw TrainError.invalid("the perceptual weights are not a torchvision VGG (no features.N.weight keys)")
        }
        var config = detected
        config.lastLayer = lastLayer
        let specs = VGGFeatures.stateDictSpec(config)
        let set = ParameterSet(specs: specs, initializer: Initializers.kaiming(scale: 1), seed: 0)
        try set.load(dict, specs: specs)
        return VGGFeatureNetwork(config: config, weights: set)
    }

    public func forward(_ x: Variable, tape: Tape) throws -> Variable {
        guard !config.batchNorm else { throw TrainError.invalid("VGG with batch norm is not supported for the perceptual loss") }
        var h = x
        if config.inputNormalisation {
            let mean: [Float] = [0.485, 0.456, 0.406], std: [Float] = [0.229, 0.224, 0.225]
            h = try tape.apply(.channelAffine(scale: std.map { 1 / $0 }, shift: zip(mean, std).map { -$0 / $1 }), [h])
        }
        var index = 0
        for (s, widths) in config.stages.enumerated() {
            for j in widths.indices {
                let key = "features.\(index)"
                h = try tape.apply(.conv2d(stride: 1, padding: 1), [h, parameters[key + ".weight"], parameters[key + ".bias"]])
                if config.lastLayer == "conv\(s + 1)_\(j + 1)" { return h }
                h = try tape.apply(.relu, [h])
                if config.lastLayer == "relu\(s + 1)_\(j + 1)" { return h }
                index += 2
            }
            h = try tape.apply(.maxPool2, [h])
            if config.lastLayer == "pool\(s + 1)" { return h }
            index += 1
        }
        return h
    }
}

