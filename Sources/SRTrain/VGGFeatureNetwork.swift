public import SRModels
public import SRWeights

/// A frozen VGG feature extractor (torchvision key layout `features.N`, e.g. VGG19) for the perceptual loss:
/// ImageNet mean/std normalisation of `[0, 1]` input, 3x3 convolutions with ReLU and 2x2 max pools, up to
/// `config.lastLayer` (`conv5_4` before its ReLU, as ESRGAN, by default). Its parameters never get gradients, but
/// the gradient with respect to its input flows (to the generated image).
public final class VGGFeatureNetwork: TrainableNetwork {
    public let config: VGGFeatures.Config
    public let parameters: ParameterSet
    public var specs: [TensorSpec] { VGGFeatures.stateDictSpec(config) }

    public init(config: VGGFeatures.Config, weights: ParameterSet) {
        self.config = config
        self.parameters = weights
        weights.setTrainable(false)
    }

    /// Loads and freezes VGG weights (e.g. `WeightFile.load(path:)` of torchvision's `vgg19-dcbb9e9d.pth` or a
    /// safetensors copy); the architecture is detected from the file, which may hold more layers than are used.
    /// - Throws: `TrainError.invalid` when `dict` is not a torchvision VGG; `TrainError.parameter` for a mis-shaped
    ///   layer.
    public static func load(_ dict: StateDict, lastLayer: String = "conv5_4") throws -> VGGFeatureNetwork {
        guard let detected = try VGGFeatures.detect(dict) else {
            throw TrainError.invalid("the perceptual weights are not a torchvision VGG (no features.N.weight keys)")
        }
        var config = detected
        config.lastLayer = lastLayer
        let specs = VGGFeatures.stateDictSpec(config)
        let set = ParameterSet(specs: specs, initializer: .pytorchDefault, seed: 0)
        try set.load(dict, specs: specs)
        return VGGFeatureNetwork(config: config, weights: set)
    }

    /// Features of `x` (`[n, 3, h, w]`, values 0...1) at `config.lastLayer`. Batch norms (the `_bn` variants) use
    /// their running statistics: the network is always in eval mode.
    public func forward(_ x: Variable, tape: Tape) throws -> Variable {
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
                index += 1
                if config.batchNorm {
                    h = try tape.batchNorm(h, layer: "features.\(index)", in: parameters, training: false)
                    if config.lastLayer == "bn\(s + 1)_\(j + 1)" { return h }
                    index += 1
                }
                h = try tape.apply(.relu, [h])
                if config.lastLayer == "relu\(s + 1)_\(j + 1)" { return h }
                index += 1
            }
            h = try tape.apply(.maxPool2, [h])
            if config.lastLayer == "pool\(s + 1)" { return h }
            index += 1
        }
        return h
    }
}
