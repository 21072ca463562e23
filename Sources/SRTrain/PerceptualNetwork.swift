public import SRCore
public import SRModels
public import SRWeights

/// The frozen feature extractor of the perceptual loss: SRModels' `VGGFeatures` graph (torchvision key layout,
/// e.g. VGG19, ImageNet normalisation of `[0, 1]` input built in) up to `config.lastLayer`, run in evaluation mode.
/// Its parameters never get gradients; the gradient with respect to its input flows (to the generated image).
public final class PerceptualNetwork {
    public let config: VGGFeatures.Config
    public let graph: Graph

    init(config: VGGFeatures.Config, graph: Graph) {
        self.config = config
        self.graph = graph
    }

    /// Loads VGG weights (e.g. `WeightFile.load(path:)` of torchvision's `vgg19-dcbb9e9d.pth` or a safetensors
    /// copy); the architecture is detected from the file, which may hold more layers than are used.
    /// - Throws: `TrainError.invalid` when `dict` is not a torchvision VGG; `ModelsError` for a mis-shaped layer.
    public static func load(_ dict: StateDict, lastLayer: String = "conv5_4") throws -> PerceptualNetwork {
        guard var config = try VGGFeatures.detect(dict) else {
            throw TrainError.invalid("the perceptual weights are not a torchvision VGG (no features.N.weight keys)")
        }
        config.lastLayer = lastLayer
        return PerceptualNetwork(config: config, graph: try VGGFeatures.build(config, weights: dict, mode: .training))
    }

    /// Features of `x` (`[n, 3, h, w]`, values 0...1) at `config.lastLayer`; batch norms (the `_bn` variants) use
    /// their running statistics.
    public func features(_ x: Tensor, tape: GraphTape, recording: Bool) throws -> Tensor {
        try tape.forward(graph, inputs: [x], mode: .evaluation, recording: recording)[0]
    }
}
