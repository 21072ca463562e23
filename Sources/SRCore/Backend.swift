/// A way to run graphs. Backends declare what they support; the engine picks the first that supports a graph.
public protocol Backend: Sendable {
    var name: String { get }
    /// Whether this backend can run `op` (with its attributes).
    func supports(_ op: Op) -> Bool
    /// Prepares `graph` for one shape per graph input. The result may be reused for any number of runs.
    func compile(_ graph: Graph, inputShapes: [Shape]) throws -> any Executable
}

extension Backend {
    /// Prepares a single-input graph for one input shape.
    public func compile(_ graph: Graph, inputShape: Shape) throws -> any Executable {
        try compile(graph, inputShapes: [inputShape])
    }
}

/// A graph compiled for fixed input shapes.
public protocol Executable: AnyObject {
    /// One shape per graph input, in the graph's input order.
    var inputShapes: [Shape] { get }
    /// One shape per graph output.
    var outputShapes: [Shape] { get }
    /// Bytes of activation memory this executable holds while alive (0 when unknown).
    var workspaceBytes: Int { get }
    /// Runs the graph on one tensor per input (NCHW) and returns every graph output. `shouldStop` is asked before
    /// every op: once it says stop, the run throws `BackendError.interrupted` (a deadline or a client that hung up
    /// then ends the run within one op instead of one whole pass).
    func run(inputs: [Tensor], shouldStop: (() -> Bool)?) throws -> [Tensor]
}

extension Executable {
    /// Runs the graph to the end.
    public func run(inputs: [Tensor]) throws -> [Tensor] { try run(inputs: inputs, shouldStop: nil) }

    public var inputShape: Shape { inputShapes[0] }
    public var outputShape: Shape { outputShapes[0] }

    /// Runs a single-input graph and returns its first output.
    public func run(_ input: Tensor) throws -> Tensor { try run(inputs: [input])[0] }

    /// Checks `inputs` against the compiled shapes.
    public func validate(_ inputs: [Tensor]) throws {
        guard inputs.count == inputShapes.count else {
            throw BackendError.inputCount(expected: inputShapes.count, actual: inputs.count)
        }
        for (t, s) in zip(inputs, inputShapes) where t.shape != s {
            throw BackendError.inputShape(expected: s, actual: t.shape)
        }
    }
}

public enum BackendError: Error, CustomStringConvertible {
    case unsupported(backend: String, node: String, op: String)
    /// The run's `shouldStop` said stop.
    case interrupted
    case inputShape(expected: Shape, actual: Shape)
    case inputCount(expected: Int, actual: Int)
    case library(call: String, status: Int, detail: String)

    public var description: String {
        switch self {
        case .unsupported(let b, let n, let op): "backend '\(b)' cannot run node '\(n)' (\(op))"
        case .interrupted: "the run was interrupted"
        case .inputShape(let e, let a): "executable was compiled for input \(e), got \(a); compile again for this shape"
        case .inputCount(let e, let a): "executable takes \(e) input(s), got \(a)"
        case .library(let call, let status, let detail): "\(call) failed with status \(status)\(detail.isEmpty ? "" : ": \(detail)")"
        }
    }
}
