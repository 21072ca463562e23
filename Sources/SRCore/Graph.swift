/// Identifies the value produced by a node: every node has exactly one output, named by its index.
public typealias ValueID = Int

public struct Node: Sendable {
    public var op: Op
    public var inputs: [ValueID]
    /// The source layer's name (e.g. the ncnn layer), for error messages.
    public var name: String

    public init(op: Op, inputs: [ValueID], name: String) {
        self.op = op
        self.inputs = inputs
        self.name = name
    }
}

/// A directed acyclic graph in topological order: a node only reads values of earlier nodes.
public struct Graph: Sendable {
    public internal(set) var nodes: [Node] = []
    public var outputs: [ValueID] = []

    public init() {}

    /// Appends a node and returns the value it produces.
    @discardableResult
    public mutating func add(_ op: Op, _ inputs: [ValueID] = [], name: String? = nil) -> ValueID {
        nodes.append(Node(op: op, inputs: inputs, name: name ?? "\(op.kind)_\(nodes.count)"))
        return nodes.count - 1
    }

    /// The input nodes in the order they were added.
    public var inputs: [ValueID] {
        nodes.indices.filter { if case .input = nodes[$0].op { true } else { false } }
    }

    /// How many nodes (and graph outputs) read each value.
    public func useCounts() -> [Int] {
        var uses = [Int](repeating: 0, count: nodes.count)
        for node in nodes { for i in node.inputs { uses[i] += 1 } }
        for o in outputs { uses[o] += 1 }
        return uses
    }

    /// Checks ordering and arity, then infers every value's shape from the input shapes.
    public func inferShapes(inputs inputShapes: [Shape]) throws(GraphError) -> [Shape] {
        let inputIDs = inputs
        guard inputIDs.count == inputShapes.count else {
            throw .inputCount(expected: inputIDs.count, actual: inputShapes.count)
        }
        guard !outputs.isEmpty else { throw .noOutputs }
        var shapes = [Shape](repeating: Shape(c: 0, h: 0, w: 0), count: nodes.count)
        var nextInput = 0
        for (id, node) in nodes.enumerated() {
            for i in node.inputs where i < 0 || i >= id {
                throw .badEdge(node: node.name, input: i)
            }
            let ins = node.inputs.map { shapes[$0] }
            if case .input = node.op {
                shapes[id] = inputShapes[nextInput]
                nextInput += 1
            } else {
                shapes[id] = try ShapeRules.output(of: node, inputs: ins)
            }
        }
        for o in outputs where o < 0 || o >= nodes.count { throw .badEdge(node: "<outputs>", input: o) }
        return shapes
    }
}

public enum GraphError: Error, Equatable, CustomStringConvertible {
    case inputCount(expected: Int, actual: Int)
    case noOutputs
    case badEdge(node: String, input: Int)
    case arity(node: String, op: String, expected: String, actual: Int)
    case shapeMismatch(node: String, op: String, detail: String)

    public var description: String {
        switch self {
        case .inputCount(let e, let a): "graph has \(e) input(s) but \(a) shape(s) were given"
        case .noOutputs: "graph has no outputs"
        case .badEdge(let n, let i): "node '\(n)' reads value \(i), which is not produced before it"
        case .arity(let n, let op, let e, let a): "node '\(n)' (\(op)) takes \(e) input(s), got \(a)"
        case .shapeMismatch(let n, let op, let d): "node '\(n)' (\(op)): \(d)"
        }
    }
}

extension Graph {
    /// The graph with only the nodes the outputs depend on (value ids are renumbered, order kept).
    public func pruned() -> Graph {
        var needed = [Bool](repeating: false, count: nodes.count)
        var stack = outputs
        while let v = stack.popLast() {
            guard !needed[v] else { continue }
            needed[v] = true
            stack.append(contentsOf: nodes[v].inputs)
        }
        // Inputs stay, so the executable's input list does not depend on what is used.
        for id in inputs { needed[id] = true }
        var out = Graph()
        var map = [ValueID](repeating: -1, count: nodes.count)
        for (id, node) in nodes.enumerated() where needed[id] {
            map[id] = out.add(node.op, node.inputs.map { map[$0] }, name: node.name)
        }
        out.outputs = outputs.map { map[$0] }
        return out
    }

    /// The graph with the given nodes turned into graph inputs of the same shape (their own inputs are dropped).
    /// Inputs are ordered by position, so replaced nodes follow the original inputs in topological order.
    public func replacingWithInputs(_ ids: [ValueID]) -> Graph {
        var copy = self
        for id in ids { copy.nodes[id] = Node(op: .input, inputs: [], name: nodes[id].name) }
        return copy
    }
}

extension Graph {
    /// Linear interpolation of the weights of two graphs of identical structure:
    /// `(1 - t) * self + t * other` for every convolution, transposed convolution, linear layer, PReLU slope and
    /// constant; every other op must be the same in both. Used to blend e.g. Real-CUGAN's denoise levels.
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
            default:
                op = n.op
            }
            out.nodes[i] = Node(op: op, inputs: n.inputs, name: n.name)
        }
        return out
    }
}
