public import SRCore
public import SRWeights

/// What a built graph is for.
public enum BuildMode: Sendable, Equatable {
    /// Upscaling: batch norms and scalar gains folded into the convolutions before them, activations fused,
    /// re-parameterisable blocks composed into one convolution.
    case inference
    /// Differentiation (`GraphTape`): every trainable tensor is an unmodified state-dict tensor bound to its key
    /// (`Node.bindings`), batch norms are nodes, activations and gains separate nodes, re-parameterisable blocks
    /// their training branches.
    case training
}

/// Builds a graph layer by layer from state-dict tensors named like the PyTorch modules.
///
/// Every read checks the tensor's shape when one is expected, so a file that passed detection but is damaged fails
/// with the key named instead of producing a wrong graph. Tensors used as they are carry a binding to their key in
/// both modes; the training mode never modifies one (see `BuildMode`).
public struct NetworkBuilder {
    public let architecture: String
    public let weights: StateDict
    public let mode: BuildMode
    public var graph = Graph()

    /// PyTorch's default `BatchNorm2d` epsilon.
    public static let batchNormEpsilon: Float = 1e-5

    public init(architecture: String, weights: StateDict, mode: BuildMode = .inference) {
        self.architecture = architecture
        self.weights = weights
        self.mode = mode
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
    public mutating func add(_ op: Op, _ inputs: [ValueID], name: String, bindings: [ParameterBinding] = []) -> ValueID {
        graph.add(op, inputs, name: name, bindings: bindings)
    }

    /// A `Conv2d` module `key` (`key.weight`, optional `key.bias`) on `x`, with PyTorch's `padding` (default: half
    /// the kernel), an optional batch norm `batchNorm`, every weight and the bias multiplied by `gain` (a following
    /// scalar scale) and `activation` (`slopes`: the PReLU module whose weight it holds). Inference folds the batch
    /// norm and gain into the weights and fuses the activation; training keeps each as its own node.
    public mutating func conv(_ key: String, _ x: ValueID, stride: Int = 1, padding: Int? = nil,
                              groups: Int = 1, batchNorm: String? = nil, gain: Float = 1,
                              activation: Activation? = nil, slopes: String? = nil) throws(ModelsError) -> ValueID {
        var (weight, bias) = try convWeights(key)
        let bindings = [ParameterBinding(.weight, key + ".weight")] + (bias == nil ? [] : [ParameterBinding(.bias, key + ".bias")])
        if mode == .training {
            var y = convolution(key, x, weight: weight, bias: bias, stride: stride, padding: padding, groups: groups,
                                bindings: bindings)
            if let batchNorm { y = try self.batchNorm(batchNorm, y) }
            if gain != 1 { y = graph.add(.activation(.linear(scale: gain, shift: 0)), [y], name: key + ".gain") }
            if let activation { y = self.activation(activation, y, name: key + ".activation", slopes: slopes) }
            return y
        }
        if let batchNorm { (weight, bias) = try fold(batchNorm, into: weight, bias: bias) }
        if gain != 1 {
            weight.data = weight.data.map { $0 * gain }
            bias = bias?.map { $0 * gain }
        }
        let unmodified = batchNorm == nil && gain == 1
        let slopeBinding = slopes.map { [ParameterBinding(.slopes, $0 + ".weight")] } ?? []
        return convolution(key, x, weight: weight, bias: bias, stride: stride, padding: padding, groups: groups,
                           activation: activation, bindings: (unmodified ? bindings : []) + slopeBinding)
    }

    /// A convolution node with explicit weights (`[out, in/groups, kh, kw]`).
    public mutating func convolution(_ name: String, _ x: ValueID, weight: Tensor, bias: [Float]?, stride: Int = 1,
                                     padding: Int? = nil, groups: Int = 1, activation: Activation? = nil,
                                     bindings: [ParameterBinding] = []) -> ValueID {
        let p = padding ?? weight.dims[2] / 2
        let conv = Conv2d(weight: weight, bias: bias, stride: (stride, stride), padding: .uniform(p), groups: groups,
                          activation: activation)
        return graph.add(.conv2d(conv), [x], name: name, bindings: bindings)
    }

    /// An activation node (`slopes`: the PReLU module whose `.weight` it holds, bound in training).
    public mutating func activation(_ a: Activation, _ x: ValueID, name: String, slopes: String? = nil) -> ValueID {
        graph.add(.activation(a), [x], name: name, bindings: slopes.map { [ParameterBinding(.slopes, $0 + ".weight")] } ?? [])
    }

    /// The `BatchNorm2d` module `key` as a node (training builds; inference folds it with `conv(batchNorm:)`).
    public mutating func batchNorm(_ key: String, _ x: ValueID) throws(ModelsError) -> ValueID {
        let n = try tensor(key + ".weight").count
        let b = BatchNorm(gamma: try vector(key + ".weight", count: n), beta: try vector(key + ".bias", count: n),
                          runningMean: try vector(key + ".running_mean", count: n),
                          runningVar: try vector(key + ".running_var", count: n), epsilon: Self.batchNormEpsilon)
        return graph.add(.batchNorm(b), [x], name: key, bindings: [
            ParameterBinding(.gamma, key + ".weight"), ParameterBinding(.beta, key + ".bias"),
            ParameterBinding(.runningMean, key + ".running_mean"), ParameterBinding(.runningVar, key + ".running_var"),
        ])
    }

    /// A `Linear` module `key` (`[out, in]` weight and bias) on `x`; the activation is fused in inference.
    public mutating func linear(_ key: String, _ x: ValueID, inputs: Int, outputs: Int,
                                activation: Activation? = nil) throws(ModelsError) -> ValueID {
        let l = Linear(weight: try tensor(key + ".weight", shape: [outputs, inputs]),
                       bias: try vector(key + ".bias", count: outputs), activation: mode == .training ? nil : activation)
        let y = graph.add(.linear(l), [x], name: key,
                          bindings: [ParameterBinding(.weight, key + ".weight"), ParameterBinding(.bias, key + ".bias")])
        guard mode == .training, let activation else { return y }
        return graph.add(.activation(activation), [y], name: key + ".activation")
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

extension Graph {
    /// Replaces every bound attribute by the tensor of its key in `dict` (see `Graph.bind(_:)`).
    /// - Throws: `GraphError.parameter` for a key `dict` lacks or a tensor of another size.
    public mutating func bind(_ dict: StateDict) throws(GraphError) {
        var values: [String: Tensor] = [:]
        for key in parameterKeys {
            guard let t = dict[key] else { throw .parameter(key: key, detail: "not in the state dict") }
            values[key] = t.tensor()
        }
        try bind(values)
    }
}
