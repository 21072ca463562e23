/// A way to run graphs. The engine is handed an ordered list of backends (built once by the CLI or the server) and
/// runs each model on the first backend whose `supports(_:)` accepts every op of the model's graph; everything else
/// it needs from a backend is asked through this protocol (see `docs/backends.md`).
public protocol Backend: Sendable {
    var name: String { get }
    /// Whether this backend can run `op` (with its attributes).
    func supports(_ op: Op) -> Bool
    /// Prepares `graph` for one shape per graph input. The result may be reused for any number of runs.
    func compile(_ graph: Graph, inputShapes: [Shape]) throws -> any Executable
    /// Prepares `graph` with at most `limits.scratchpadBytes` of per-kernel scratch memory: kernels that would need
    /// more choose a leaner algorithm (default: `compile(_:inputShapes:)`, the backend has no such choice).
    func compile(_ graph: Graph, inputShapes: [Shape], limits: CompileLimits) throws -> any Executable
    /// The activation memory (`Executable.workspaceBytes`) a compile of `graph` for `inputShapes` would hold, for
    /// the execution plan's tile and band sizes (default: compiles and asks; a backend may estimate cheaper).
    func workspaceEstimate(_ graph: Graph, inputShapes: [Shape]) throws -> Int
    /// Whether a network input window of `height` x `width` runs at full speed (default: every size does). The
    /// Real-ESRGAN host padding may reflect a few more rows/columns at the bottom/right until this says yes.
    func prefersWindow(height: Int, width: Int) -> Bool
    /// This backend for one model's executables: they may share state such as weights already laid out for the
    /// kernels (default: `self`, nothing shared). Released with the returned value.
    func sharingWeights() -> any Backend
    /// Bytes this value holds in state shared by its executables (laid-out weights; default 0).
    var sharedBytes: Int { get }
    /// Called on each OS thread that will run this backend's executables, before the first run (a server worker's
    /// thread): per-thread runtime settings such as an OpenMP thread count go here (default: nothing).
    func prepareCurrentThread()
}

/// Caps a backend applies when it compiles (the execution plan derives them from the memory budget).
public struct CompileLimits: Sendable, Hashable {
    /// Scratch memory one kernel may use; kernels that need more run a leaner algorithm.
    public var scratchpadBytes: Int

    public init(scratchpadBytes: Int) {
        self.scratchpadBytes = scratchpadBytes
    }
}

extension Backend {
    /// Prepares a single-input graph for one input shape.
    public func compile(_ graph: Graph, inputShape: Shape) throws -> any Executable {
        try compile(graph, inputShapes: [inputShape])
    }

    public func compile(_ graph: Graph, inputShapes: [Shape], limits: CompileLimits) throws -> any Executable {
        try compile(graph, inputShapes: inputShapes)
    }

    public func workspaceEstimate(_ graph: Graph, inputShapes: [Shape]) throws -> Int {
        try compile(graph, inputShapes: inputShapes).workspaceBytes
    }

    public func prefersWindow(height: Int, width: Int) -> Bool { true }
    public func sharingWeights() -> any Backend { self }
    public var sharedBytes: Int { 0 }
    public func prepareCurrentThread() {}

    /// The first node of `graph` this backend cannot run, as the error the engine reports (nil: it runs them all).
    public func unsupportedNode(in graph: Graph) -> BackendError? {
        for (id, node) in graph.nodes.enumerated() where !supports(node.op) {
            return .unsupported(backend: name, node: node.name.isEmpty ? "#\(id)" : node.name, op: node.op.kind)
        }
        return nil
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
