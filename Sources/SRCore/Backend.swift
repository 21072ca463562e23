/// A way to run graphs. Backends declare what they support; the engine picks the first that supports a graph.
public protocol Backend: Sendable {
    var name: String { get }
    /// Whether this backend can run `op` (with its attributes).
    func supports(_ op: Op) -> Bool
    /// Prepares `graph` for one input shape. The result may be reused for any number of runs of that shape.
    func compile(_ graph: Graph, inputShape: Shape) throws -> any Executable
}

/// A graph compiled for one input shape.
public protocol Executable: AnyObject {
    var inputShape: Shape { get }
    var outputShape: Shape { get }
    /// Bytes of activation memory this executable holds while alive (0 when unknown).
    var workspaceBytes: Int { get }
    /// Runs the graph on `input` (NCHW, `inputShape`) and returns the first graph output.
    func run(_ input: Tensor) throws -> Tensor
}

public enum BackendError: Error, CustomStringConvertible {
    case unsupported(backend: String, node: String, op: String)
    case inputShape(expected: Shape, actual: Shape)
    case library(call: String, status: Int, detail: String)

    public var description: String {
        switch self {
        case .unsupported(let b, let n, let op): "backend '\(b)' cannot run node '\(n)' (\(op))"
        case .inputShape(let e, let a): "executable was compiled for input \(e), got \(a); compile again for this shape"
        case .library(let call, let status, let detail): "\(call) failed with status \(status)\(detail.isEmpty ? "" : ": \(detail)")"
        }
    }
}
