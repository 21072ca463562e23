extension Graph {
    /// Linear interpolation of the weights of two graphs of identical structure:
    /// `(1 - t) * self + t * other` for every convolution, transposed convolution, linear layer, layer norm, PReLU
    /// slope and constant; every other op must be the same in both. Used to blend e.g. Real-CUGAN's denoise levels.
    public func interpolated(with other: Graph, t: Float) throws(GraphError) -> Graph {
        guard nodes.count == other.nodes.count, outputs == other.outputs else {
            throw .shapeMismatch(node: "<graph>", op: "interpolate",
                                 detail: "the models differ in structure (\(nodes.count) vs \(other.nodes.count) nodes)")
        }
        func mix(_ a: [Float], _ b: [Float], _ node: String) throws(GraphError) -> [Float] {
            guard a.count == b.count else {
                throw .shapeMismatch(node: node, op: "interpolate", detail: "weights have \(a.count) vs \(b.count) values")
            }
            return zip(a, b).map { (1 - t) * $0 + t * $1 }
        }
        func mix(_ a: Tensor, _ b: Tensor, _ node: String) throws(GraphError) -> Tensor {
            guard a.dims == b.dims else {
                throw .shapeMismatch(node: node, op: "interpolate", detail: "weight shapes \(a.dims) vs \(b.dims)")
            }
            return Tensor(dims: a.dims, data: try mix(a.data, b.data, node))
        }
        func mix(_ a: [Float]?, _ b: [Float]?, _ node: String) throws(GraphError) -> [Float]? {
            switch (a, b) {
            case (nil, nil): return nil
            case (let x?, let y?): return try mix(x, y, node)
            default: throw .shapeMismatch(node: node, op: "interpolate", detail: "one model has a bias, the other not")
            }
        }
        func mix(_ a: Activation?, _ b: Activation?, _ node: String) throws(GraphError) -> Activation? {
            if case .prelu(let x)? = a, case .prelu(let y)? = b { return .prelu(slopes: try mix(x, y, node)) }
            guard a == b else { throw .shapeMismatch(node: node, op: "interpolate", detail: "activations differ") }
            return a
        }
        var out = self
        for (i, (n, m)) in zip(nodes, other.nodes).enumerated() {
            guard n.inputs == m.inputs, n.op.kind == m.op.kind else {
                throw .shapeMismatch(node: n.name, op: "interpolate", detail: "\(n.op.kind) vs \(m.op.kind) at node \(i)")
            }
            let op: Op
            switch (n.op, m.op) {
            case (.conv2d(var a), .conv2d(let b)):
                guard a.strideH == b.strideH, a.strideW == b.strideW, a.padding == b.padding, a.groups == b.groups else {
                    throw .shapeMismatch(node: n.name, op: "interpolate", detail: "convolution geometry differs")
                }
                a.weight = try mix(a.weight, b.weight, n.name)
                a.bias = try mix(a.bias, b.bias, n.name)
                a.activation = try mix(a.activation, b.activation, n.name)
                op = .conv2d(a)
            case (.deconv2d(var a), .deconv2d(let b)):
                guard a.strideH == b.strideH, a.strideW == b.strideW, a.padding == b.padding else {
                    throw .shapeMismatch(node: n.name, op: "interpolate", detail: "deconvolution geometry differs")
                }
                a.weight = try mix(a.weight, b.weight, n.name)
                a.bias = try mix(a.bias, b.bias, n.name)
                a.activation = try mix(a.activation, b.activation, n.name)
                op = .deconv2d(a)
            case (.linear(var a), .linear(let b)):
                a.weight = try mix(a.weight, b.weight, n.name)
                a.bias = try mix(a.bias, b.bias, n.name)
                a.activation = try mix(a.activation, b.activation, n.name)
                op = .linear(a)
            case (.activation(let a), .activation(let b)):
                guard let mixed = try mix(a, b, n.name) else { throw .shapeMismatch(node: n.name, op: "interpolate", detail: "empty") }
                op = .activation(mixed)
            case (.constant(let a), .constant(let b)):
                op = .constant(try mix(a, b, n.name))
            case (.batchNorm(var a), .batchNorm(let b)):
                a.gamma = try mix(a.gamma, b.gamma, n.name)
                a.beta = try mix(a.beta, b.beta, n.name)
                a.runningMean = try mix(a.runningMean, b.runningMean, n.name)
                a.runningVar = try mix(a.runningVar, b.runningVar, n.name)
                op = .batchNorm(a)
            case (.layerNorm(var a), .layerNorm(let b)):
                guard a.epsilon == b.epsilon else { throw .shapeMismatch(node: n.name, op: "interpolate", detail: "epsilons differ") }
                a.gamma = try mix(a.gamma, b.gamma, n.name)
                a.beta = try mix(a.beta, b.beta, n.name)
                op = .layerNorm(a)
            case (.input, _), (.constant, _), (.conv2d, _), (.deconv2d, _), (.linear, _), (.activation, _),
                 (.batchNorm, _), (.layerNorm, _), (.binary, _), (.weightedSum, _), (.concat, _), (.crop, _),
                 (.pixelShuffle, _), (.pixelUnshuffle, _), (.resize, _), (.pool, _), (.matmul, _), (.softmax, _),
                 (.reshape, _), (.permute, _), (.roll, _), (.windowPartition, _), (.windowReverse, _), (.slice, _),
                 (.convert, _):
                // No weights (or the other graph's op differs in kind, which the guard above refuses): as is.
                op = n.op
            }
            out.nodes[i] = Node(op: op, inputs: n.inputs, name: n.name, bindings: n.bindings)
        }
        return out
    }
}
