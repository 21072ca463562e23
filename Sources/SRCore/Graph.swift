/// Identifies the value produced by a node: every node has exactly one output, named by its index.
public typealias ValueID = Int

public struct Node: Sendable {
    public var op: Op
    public var inputs: [ValueID]
    /// The source layer's name (e.g. the ncnn layer), for error messages.
    public var name: String
    /// Which attribute tensors of `op` are state-dict tensors, and under which key (see `Graph.bind`). Empty for
    /// attributes that were computed (folded batch norms, re-parameterised kernels) or are constants.
    public var bindings: [ParameterBinding]

    public init(op: Op, inputs: [ValueID], name: String, bindings: [ParameterBinding] = []) {
        self.op = op
        self.inputs = inputs
        self.name = name
        self.bindings = bindings
    }
}

/// The attribute of an op a state-dict tensor fills.
public enum ParameterRole: String, Sendable, CaseIterable {
    /// Convolution, transposed convolution or linear weight.
    case weight
    /// Their bias.
    case bias
    /// PReLU slopes (an activation node's, or a convolution's fused activation).
    case slopes
    /// Batch-norm scale, shift and running statistics.
    case gamma, beta, runningMean, runningVar

    /// Whether training updates it by gradient (running statistics are buffers, updated by the forward pass).
    public var isTrainable: Bool { self != .runningMean && self != .runningVar }
}

/// One attribute of a node bound to the state-dict tensor `key`.
public struct ParameterBinding: Sendable, Equatable {
    public var role: ParameterRole
    public var key: String

    public init(_ role: ParameterRole, _ key: String) {
        self.role = role
        self.key = key
    }
}

/// A directed acyclic graph in topological order: a node only reads values of earlier nodes.
public struct Graph: Sendable {
    public internal(set) var nodes: [Node] = []
    public var outputs: [ValueID] = []

    public init() {}

    /// Appends a node and returns the value it produces.
    @discardableResult
    public mutating func add(_ op: Op, _ inputs: [ValueID] = [], name: String? = nil,
                             bindings: [ParameterBinding] = []) -> ValueID {
        nodes.append(Node(op: op, inputs: inputs, name: name ?? "\(op.kind)_\(nodes.count)", bindings: bindings))
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
    /// `Graph.bind` found no value, or a value of the wrong size, for a bound parameter.
    case parameter(key: String, detail: String)

    public var description: String {
        switch self {
        case .inputCount(let e, let a): "graph has \(e) input(s) but \(a) shape(s) were given"
        case .noOutputs: "graph has no outputs"
        case .badEdge(let n, let i): "node '\(n)' reads value \(i), which is not produced before it"
        case .arity(let n, let op, let e, let a): "node '\(n)' (\(op)) takes \(e) input(s), got \(a)"
        case .shapeMismatch(let n, let op, let d): "node '\(n)' (\(op)): \(d)"
        case .parameter(let key, let d): "parameter '\(key)': \(d)"
        }
    }
}
