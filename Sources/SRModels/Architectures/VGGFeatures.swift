public import SRCore
public import SRWeights

/// The convolutional part of torchvision's VGG (Simonyan & Zisserman, "Very Deep Convolutional Networks for
/// Large-Scale Image Recognition", ICLR 2015) as a feature extractor, the network behind perceptual losses.
///
/// Key layout: `features.N` is one `nn.Sequential`; a stage is 3x3 convolutions (padding 1), each followed by ReLU
/// (or BatchNorm then ReLU in the `_bn` variants), closed by a 2x2 max pool. The pools and ReLUs have no tensors, so
/// the stage boundaries are read from the gaps in the numbering. `classifier.{0,3,6}` are accepted and unused.
///
/// Layers are named as in BasicSR's `VGGFeatureExtractor`: `conv1_1`, `relu1_1`, ..., `pool1`, `conv2_1`, ...
/// The graph ends at `lastLayer` (default `conv5_4` for VGG19, the layer ESRGAN's perceptual loss uses; generally the
/// last convolution) and by default first normalises `[0, 1]` input with the ImageNet statistics.
public enum VGGFeatures: Architecture {
    public struct Config: ArchitectureConfig {
        public var inChannels = 3
        /// Convolution widths of each stage (VGG19: [[64, 64], [128, 128], [256 x 4], [512 x 4], [512 x 4]]).
        public var stages: [[Int]]
        public var batchNorm = false
        /// Whether `classifier.0/3/6` are present (they are ignored).
        public var classifier = false
        /// The layer whose output the graph returns (`convS_J`, `reluS_J`, `bnS_J` or `poolS`).
        public var lastLayer: String
        /// Normalise `[0, 1]` input with the ImageNet mean and standard deviation first.
        public var inputNormalisation = true

        public init(inChannels: Int = 3, stages: [[Int]], batchNorm: Bool = false, classifier: Bool = false,
                    lastLayer: String? = nil, inputNormalisation: Bool = true) {
            self.inChannels = inChannels
            self.stages = stages
            self.batchNorm = batchNorm
            self.classifier = classifier
            self.lastLayer = lastLayer ?? "conv\(stages.count)_\(stages.last?.count ?? 0)"
            self.inputNormalisation = inputNormalisation
        }

        /// Every layer in `features` order: name, index, and the conv width (nil for pools).
        var layers: [(name: String, index: Int, kind: LayerKind)] {
            var out: [(String, Int, LayerKind)] = []
            var index = 0
            for (s, widths) in stages.enumerated() {
                for (j, w) in widths.enumerated() {
                    let tag = "\(s + 1)_\(j + 1)"
                    out.append(("conv" + tag, index, .conv(w)))
                    index += 1
                    if batchNorm {
                        out.append(("bn" + tag, index, .batchNorm))
                        index += 1
                    }
                    out.append(("relu" + tag, index, .relu))
                    index += 1
                }
                out.append(("pool\(s + 1)", index, .pool))
                index += 1
            }
            return out
        }
    }

    enum LayerKind: Equatable { case conv(Int), batchNorm, relu, pool }

    public static let name = "VGG"

    public static func detect(_ weights: StateDict) throws(ModelsError) -> Config? {
        let keys = KeyReader(architecture: name, weights: weights)
        guard keys.has("features.0.weight"), !keys.has("conv_first.weight") else { return nil }
        let batchNorm = keys.has("features.1.running_mean")
        let step = batchNorm ? 3 : 2
        let convs = keys.indices("features.", ".weight").filter { weights["features.\($0).weight"]?.shape.count == 4 }
        var stages: [[Int]] = [[]]
        var expected = 0
        for n in convs {
            if n == expected + 1 {
                stages.append([])
            } else if n != expected {
                throw .unsupported(architecture: name, detail: "features.\(n) follows features.\(expected - step); expected a convolution at \(expected) or, after a pool, \(expected + 1)")
            }
            stages[stages.count - 1].append(try keys.conv("features.\(n)").out)
            expected = n + step
        }
        return Config(inChannels: try keys.conv("features.0").in, stages: stages, batchNorm: batchNorm,
                      classifier: keys.has("classifier.0.weight"))
    }

    public static func stateDictSpec(_ c: Config) -> [TensorSpec] {
        var spec: [TensorSpec] = []
        var channels = c.inChannels
        for layer in c.layers {
            switch layer.kind {
            case .conv(let w):
                spec += TensorSpec.conv("features.\(layer.index)", channels, w, kernel: 3)
                channels = w
            case .batchNorm: spec += TensorSpec.batchNorm("features.\(layer.index)", channels)
            case .relu, .pool: break
            }
        }
        if c.classifier {
            spec += [TensorSpec("classifier.0.weight", [4096, channels * 49]), TensorSpec("classifier.0.bias", [4096]),
                     TensorSpec("classifier.3.weight", [4096, 4096]), TensorSpec("classifier.3.bias", [4096]),
                     TensorSpec("classifier.6.weight", [1000, 4096]), TensorSpec("classifier.6.bias", [1000])]
        }
        return spec
    }

    public static func build(_ c: Config, weights: StateDict) throws(ModelsError) -> Graph {
        try build(c, weights: weights, mode: .inference)
    }

    /// The training build keeps batch norms as nodes; the perceptual loss runs it in evaluation mode, frozen.
    public static func build(_ c: Config, weights: StateDict, mode: BuildMode) throws(ModelsError) -> Graph {
        let layers = c.layers
        guard let last = layers.firstIndex(where: { $0.name == c.lastLayer }) else {
            throw .invalidConfig(architecture: name, detail: "no layer '\(c.lastLayer)'; layers are \(layers.map(\.name).joined(separator: ", "))")
        }
        var b = NetworkBuilder(architecture: name, weights: weights, mode: mode)
        var x = b.input()
        if c.inputNormalisation {
            x = b.normalise(x, channels: c.inChannels, mean: NetworkBuilder.imagenetMean, std: NetworkBuilder.imagenetStd,
                            name: "normalise")
        }
        var i = 0
        while i <= last {
            let layer = layers[i]
            switch layer.kind {
            case .conv:
                // The batch norm and ReLU that follow are fused when the graph goes on past them.
                let reluAt = c.batchNorm ? i + 2 : i + 1
                let bn = c.batchNorm && i + 1 <= last ? "features.\(layer.index + 1)" : nil
                let relu = reluAt <= last
                x = try b.conv("features.\(layer.index)", x, padding: 1, batchNorm: bn, activation: relu ? .relu : nil)
                i = relu ? reluAt + 1 : (bn != nil ? i + 2 : i + 1)
            case .batchNorm:
                i += 1   // only reached when fused above
            case .relu:
                x = b.add(.activation(.relu), [x], name: layer.name)
                i += 1
            case .pool:
                x = b.add(.pool(Pool(kind: .max, kernelH: 2, kernelW: 2, strideH: 2, strideW: 2)), [x], name: layer.name)
                i += 1
            }
        }
        return b.finish(x)
    }

    public static func facts(_ c: Config) -> ModelFacts {
        let layers = c.layers
        let last = layers.firstIndex { $0.name == c.lastLayer } ?? layers.count - 1
        var channels = c.inChannels, pools = 0
        for layer in layers[...last] {
            if case .conv(let w) = layer.kind { channels = w }
            if layer.kind == .pool { pools += 1 }
        }
        return ModelFacts(kind: .featureExtractor, scale: 1, inChannels: c.inChannels, outChannels: channels,
                          alignment: 1 << pools)
    }

    public static func randomConfig(using g: inout SeededGenerator) -> Config {
        let stages = (0..<Int.random(in: 1...4, using: &g)).map { _ in
            (0..<Int.random(in: 1...3, using: &g)).map { _ in Int.random(in: 1...6, using: &g) }
        }
        return Config(stages: stages, batchNorm: Bool.random(using: &g))
    }
}
