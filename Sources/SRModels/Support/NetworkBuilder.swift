public import SRCore
public import SRWeights

/// Builds a graph layer by layer from state-dict tensors named like the PyTorch modules.
///
/// Every read checks the tensor's shape when one is expected, so a file that passed detection but is damaged fails
/// with the key named instead of producing a wrong graph.
public struct NetworkBuilder {
    public let architecture: String
    public let weights: StateDict
    public var graph = Graph()

    /// PyTorch's default `BatchNorm2d` epsilon.
    public static let batchNormEpsilon: Float = 1e-5

    public init(architecture: String, weights: StateDict) {
        self.architecture = architecture
        self.weights = weights
    }

    /// The tensor `key` as floats, checked against `shape` when given.
    public func tensor(_ key: String, shape: [Int]? = nil) throws(ModelsError) -> Tensor {
        guard let t = weights[key] else { throw .missingTensor(architecture: architecture, key: key) }
        if let shape, t.shape != shape {
            throw .shapeMismatch(architecture: architecture, key: key, expected: shape, actual: t.shape)
        }
        return t.tensor()
    }

    /// The values of the 1-D tensor `key` of `count` values.
    public func vector(_ key: String, count: Int) throws(ModelsError) -> [Float] {
        try tensor(key, shape: [count]).data
    }

    public mutating func input() -> ValueID { graph.add(.input, [], name: "input") }

    @discardableResult
    public mutating func add(_ op: Op, _ inputs: [ValueID], name: String) -> ValueID {
        graph.add(op, inputs, name: name)
    }

    /// A `Conv2d` module `key` (`key.weight`, optional `key.bias`) on `x`, with PyTorch's `padding` (default: half
    /// the kernel), an optional batch norm `batchNorm` folded in, every weight and the bias multiplied by `gain`
    /// (used to fold a following scalar scale) and `activation` fused as a post-op.
    public mutating func conv(_ key: String, _ x: ValueID, stride: Int = 1, padding: Int? = nil,
                              groups: Int = 1, batchNorm: String? = nil, gain: Float = 1,
                              activation: Activation? = nil) throws(ModelsError) -> ValueID {
        var (weight, bias) = try convWeights(key)
        if let batchNorm { (weight, bias) = try fold(batchNorm, into: weight, bias: bias) }
        if gain != 1 {
            weight.data = weight.data.map { $0 * gain }
            bias = bias?.map { $0 * gain }
        }
        return convolution(key, x, weight: weight, bias: bias, stride: stride, padding: padding, groups: groups,
                           activation: activation)
    }

    /// A convolution node with explicit weights (`[out, in/groups, kh, kw]`).
    public mutating func convolution(_ name: String, _ x: ValueID, weight: Tensor, bias: [Float]?, stride: Int = 1,
                                     padding: Int? = nil, groups: Int = 1,
                                     activation: Activation? = nil) -> ValueID {
        let p = padding ?? weight.dims[2] / 2
        let conv = Conv2d(weight: weight, bias: bias, stride: (stride, stride), padding: .uniform(p), groups: groups,
                          activation: activation)
        return graph.add(.conv2d(conv), [x], name: name)
    }

    /// The weight (`[out, in, kh, kw]`) and bias of the convolution `key`.
    public func convWeights(_ key: String) throws(ModelsError) -> (weight: Tensor, bias: [Float]?) {
        let weight = try tensor(key + ".weight")
        guard weight.dims.count == 4 else {
            throw .shapeMismatch(architecture: architecture, key: key + ".weight",
                                 expected: [weight.dims.first ?? 0, -1, -1, -1], actual: weight.dims)
        }
        let bias = weights[key + ".bias"] == nil ? nil : try vector(key + ".bias", count: weight.dims[0])
        return (weight, bias)
    }

    /// Folds the `BatchNorm2d` `key` that follows a convolution into its weight and bias:
    /// `w' = w * g / sqrt(var + eps)`, `b' = (b - mean) * g / sqrt(var + eps) + beta` per output channel.
    public func fold(_ key: String, into weight: Tensor, bias: [Float]?) throws(ModelsError) -> (Tensor, [Float]) {
        let n = weight.dims[0]
        let gamma = try vector(key + ".weight", count: n), beta = try vector(key + ".bias", count: n)
        let mean = try vector(key + ".running_mean", count: n), variance = try vector(key + ".running_var", count: n)
        var w = weight
        var b = bias ?? [Float](repeating: 0, count: n)
        let perChannel = weight.count / n
        for o in 0..<n {
            let k = gamma[o] / (variance[o] + Self.batchNormEpsilon).squareRoot()
            for i in 0..<perChannel { w.data[o * perChannel + i] *= k }
            b[o] = (b[o] - mean[o]) * k + beta[o]
        }
        return (w, b)
    }

    /// The `PReLU` module `key` as an activation (one shared slope or one per channel).
    public func prelu(_ key: String) throws(ModelsError) -> Activation {
        let t = try tensor(key + ".weight")
        guard t.dims.count == 1 else {
            throw .shapeMismatch(architecture: architecture, key: key + ".weight", expected: [t.count], actual: t.dims)
        }
        return .prelu(slopes: t.data)
    }

    /// `x * a + y * b` in one node (residual connections with scaling).
    public mutating func sum(_ x: ValueID, _ a: Float, _ y: ValueID, _ b: Float, name: String) -> ValueID {
        graph.add(.weightedSum([a, b]), [x, y], name: name)
    }

    /// Nearest-neighbour upsampling by an integer `factor` (`F.interpolate(mode="nearest")`).
    public mutating func upsampleNearest(_ x: ValueID, factor: Int, name: String) -> ValueID {
        graph.add(.resize(Resize(mode: .nearest, scaleH: Float(factor), scaleW: Float(factor))), [x], name: name)
    }

    /// torchvision's ImageNet statistics, for networks trained on normalised input.
    public static let imagenetMean: [Float] = [0.485, 0.456, 0.406]
    public static let imagenetStd: [Float] = [0.229, 0.224, 0.225]

    /// `(x - mean[c]) / std[c]` over `channels` channels (the statistics repeat every `mean.count` channels), as a
    /// depthwise 1x1 convolution.
    public mutating func normalise(_ x: ValueID, channels: Int, mean: [Float], std: [Float], name: String) -> ValueID {
        let scale = (0..<channels).map { 1 / std[$0 % std.count] }
        let shift = (0..<channels).map { -mean[$0 % mean.count] / std[$0 % std.count] }
        return graph.add(.conv2d(Conv2d(weight: Tensor(dims: [channels, 1, 1, 1], data: scale), bias: shift,
                                        groups: channels)), [x], name: name)
    }

    /// Finishes the graph with `output` as its only output. (Mutating, so that an argument which adds nodes is
    /// evaluated before the graph is read.)
    public mutating func finish(_ output: ValueID) -> Graph {
        graph.outputs = [output]
        return graph
    }
}
