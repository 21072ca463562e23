public import SRCore

/// The executable specification: a direct, readable kernel for every op, in NCHW float32.
/// It is the oracle the fast backends are tested against, not a production path.
public struct ReferenceBackend: Backend {
    public init() {}
    public var name: String { "reference" }
    public func supports(_ op: Op) -> Bool { true }

    public func compile(_ graph: Graph, inputShapes: [Shape]) throws -> any Executable {
        let shapes = try graph.inferShapes(inputs: inputShapes)
        return ReferenceExecutable(graph: graph, shapes: shapes)
    }
}

final class ReferenceExecutable: Executable {
    let graph: Graph
    let shapes: [Shape]
    let inputShapes: [Shape]
    let outputShapes: [Shape]
    /// Every value alive at once in the worst case: a bound, not a plan.
    var workspaceBytes: Int { shapes.reduce(0) { $0 + $1.count * 4 } }

    init(graph: Graph, shapes: [Shape]) {
        self.graph = graph
        self.shapes = shapes
        self.inputShapes = graph.inputs.map { shapes[$0] }
        self.outputShapes = graph.outputs.map { shapes[$0] }
    }

    func run(inputs: [Tensor], shouldStop: (() -> Bool)?) throws -> [Tensor] {
        try validate(inputs)
        var uses = graph.useCounts()
        var values = [Tensor?](repeating: nil, count: graph.nodes.count)
        var nextInput = 0
        for (id, node) in graph.nodes.enumerated() {
            if let shouldStop, shouldStop() { throw BackendError.interrupted }
            if case .input = node.op {
                values[id] = inputs[nextInput]
                nextInput += 1
                continue
            }
            let ins = node.inputs.map { values[$0]! }
            values[id] = ReferenceKernels.evaluate(node.op, inputs: ins, outputShape: shapes[id])
            for i in node.inputs {
                uses[i] -= 1
                if uses[i] == 0 { values[i] = nil }
            }
        }
        return graph.outputs.map { values[$0]! }
    }
}
