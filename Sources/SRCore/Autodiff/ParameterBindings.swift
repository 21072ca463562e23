extension Graph {
    /// The state-dict keys the nodes are bound to, each once, in node order.
    public var parameterKeys: [String] {
        var seen = Set<String>(), keys: [String] = []
        for node in nodes { for b in node.bindings where seen.insert(b.key).inserted { keys.append(b.key) } }
        return keys
    }

    /// The keys of trainable bindings (weights, biases, slopes, batch-norm scales and shifts), each once.
    public var trainableKeys: [String] {
        var seen = Set<String>(), keys: [String] = []
        for node in nodes {
            for b in node.bindings where b.role.isTrainable && seen.insert(b.key).inserted { keys.append(b.key) }
        }
        return keys
    }

    /// The current value of every bound attribute, by key (weights keep their dims, vectors are `[count]`).
    public var parameterValues: [String: Tensor] {
        var out: [String: Tensor] = [:]
        for node in nodes {
            for b in node.bindings { if let v = Self.value(of: node.op, b.role) { out[b.key] = v } }
        }
        return out
    }

    static func vector(_ v: [Float]) -> Tensor { Tensor(dims: [v.count], data: v) }

    static func value(of op: Op, _ role: ParameterRole) -> Tensor? {
        switch (op, role) {
        case (.conv2d(let p), .weight): p.weight
        case (.conv2d(let p), .bias): p.bias.map(vector)
        case (.conv2d(let p), .slopes): if case .prelu(let s)? = p.activation { vector(s) } else { nil }
        case (.deconv2d(let p), .weight): p.weight
        case (.deconv2d(let p), .bias): p.bias.map(vector)
        case (.linear(let l), .weight): l.weight
        case (.linear(let l), .bias): l.bias.map(vector)
        case (.activation(.prelu(let s)), .slopes): vector(s)
        case (.batchNorm(let b), .gamma): vector(b.gamma)
        case (.batchNorm(let b), .beta): vector(b.beta)
        case (.batchNorm(let b), .runningMean): vector(b.runningMean)
        case (.batchNorm(let b), .runningVar): vector(b.runningVar)
        case (.layerNorm(let p), .gamma): vector(p.gamma)
        case (.layerNorm(let p), .beta): vector(p.beta)
        default: nil   // the op holds no such tensor: `bind` names the key, node and role
        }
    }

    /// Replaces every bound attribute by `values[key]` (same element count; weights keep the node's dims). Keys
    /// without a value in `values` keep their attribute.
    /// - Throws: `GraphError.parameter` for a value of another size or a role the op has no attribute for.
    public mutating func bind(_ values: [String: Tensor]) throws(GraphError) {
        for id in nodes.indices where !nodes[id].bindings.isEmpty {
            var op = nodes[id].op
            for b in nodes[id].bindings {
                guard let v = values[b.key] else { continue }
                guard let old = Self.value(of: op, b.role) else {
                    throw .parameter(key: b.key, detail: "node '\(nodes[id].name)' (\(op.kind)) has no \(b.role.rawValue)")
                }
                guard old.count == v.count else {
                    throw .parameter(key: b.key, detail: "\(v.count) values for the \(old.count) of \(b.role.rawValue) in node '\(nodes[id].name)'")
                }
                op = Self.replacing(op, b.role, Tensor(dims: old.dims, data: v.data))
            }
            nodes[id].op = op
        }
    }

    static func replacing(_ op: Op, _ role: ParameterRole, _ t: Tensor) -> Op {
        switch (op, role) {
        case (.conv2d(var p), .weight): p.weight = t; return .conv2d(p)
        case (.conv2d(var p), .bias): p.bias = t.data; return .conv2d(p)
        case (.conv2d(var p), .slopes): p.activation = .prelu(slopes: t.data); return .conv2d(p)
        case (.deconv2d(var p), .weight): p.weight = t; return .deconv2d(p)
        case (.deconv2d(var p), .bias): p.bias = t.data; return .deconv2d(p)
        case (.linear(var l), .weight): l.weight = t; return .linear(l)
        case (.linear(var l), .bias): l.bias = t.data; return .linear(l)
        case (.activation(.prelu), .slopes): return .activation(.prelu(slopes: t.data))
        case (.batchNorm(var b), .gamma): b.gamma = t.data; return .batchNorm(b)
        case (.batchNorm(var b), .beta): b.beta = t.data; return .batchNorm(b)
        case (.batchNorm(var b), .runningMean): b.runningMean = t.data; return .batchNorm(b)
        case (.batchNorm(var b), .runningVar): b.runningVar = t.data; return .batchNorm(b)
        case (.layerNorm(var p), .gamma): p.gamma = t.data; return .layerNorm(p)
        case (.layerNorm(var p), .beta): p.beta = t.data; return .layerNorm(p)
        default: return op   // unreachable: `bind` asks `value(of:_:)` first
        }
    }
}
