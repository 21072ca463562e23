public import SRCore

/// The executable specification: a direct, readable kernel for every op, in NCHW float32.
/// It is the oracle the fast backends are tested against, not a production path.
public struct ReferenceBackend: Backend {
    public init() {}
    public var name: String { "reference" }
    public func supports(_ op: Op) -> Bool { true }

    public func compile(_ graph: Graph, inputShape: Shape) throws -> any Executable {
        let shapes = try graph.inferShapes(inputs: [inputShape])
        return ReferenceExecutable(graph: graph, shapes: shapes)
    }
}

final class ReferenceExecutable: Executable {
    let graph: Graph
    let shapes: [Shape]
    let inputShape: Shape
    let outputShape: Shape
    /// Every value alive at once in the worst case: a bound, not a plan.
    var workspaceBytes: Int { shapes.reduce(0) { $0 + $1.count * 4 } }

    init(graph: Graph, shapes: [Shape]) {
        self.graph = graph
        self.shapes = shapes
        self.inputShape = shapes[graph.inputs[0]]
        self.outputShape = shapes[graph.outputs[0]]
    }

    func run(_ input: Tensor) throws -> Tensor {
        guard input.shape == inputShape else { throw BackendError.inputShape(expected: inputShape, actual: input.shape) }
        var uses = graph.useCounts()
        var values = [Tensor?](repeating: nil, count: graph.nodes.count)
        for (id, node) in graph.nodes.enumerated() {
            let ins = node.inputs.map { values[$0]! }
            values[id] = ReferenceKernels.evaluate(node.op, inputs: ins, input: input, outputShape: shapes[id])
            for i in node.inputs {
                uses[i] -= 1
                if uses[i] == 0 { values[i] = nil }
            }
        }
        return values[graph.outputs[0]]!
    }
}
