internal import CDNNL
import SRCore

/// One unit of work at run time.
enum Action {
    case primitive(Primitive, [(Int32, Memory)])
    /// A Swift kernel (for ops without a oneDNN primitive) over plain NCHW buffers.
    case kernel(String, () -> Void)
}

/// A graph compiled for one input shape: a flat list of primitives over a planned arena.
final class DNNLExecutable: Executable {
    let inputShape: Shape
    let outputShape: Shape
    private let actions: [Action]
    private let input: Memory
    private let output: Memory
    /// Everything the memory objects point into; kept alive for the executable's lifetime.
    private let storage: [AlignedBuffer]
    let arenaBytes: Int
    var workspaceBytes: Int { arenaBytes }

    init(inputShape: Shape, outputShape: Shape, actions: [Action], input: Memory, output: Memory,
         storage: [AlignedBuffer], arenaBytes: Int) {
        self.inputShape = inputShape
        self.outputShape = outputShape
        self.actions = actions
        self.input = input
        self.output = output
        self.storage = storage
        self.arenaBytes = arenaBytes
    }

    func run(_ tensor: Tensor) throws -> Tensor {
        guard tensor.shape == inputShape else { throw BackendError.inputShape(expected: inputShape, actual: tensor.shape) }
        let dst = try dataPointer(input).assumingMemoryBound(to: Float.self)
        tensor.data.withUnsafeBufferPointer { dst.update(from: $0.baseAddress!, count: tensor.count) }
        let stream = DNNLContext.shared.stream
        for action in actions {
            switch action {
            case .primitive(let p, let args):
                let execArgs = args.map { dnnl_exec_arg_t(arg: $0.0, memory: $0.1.handle) }
                try check(dnnl_primitive_execute(p.handle, stream, Int32(execArgs.count), execArgs),
                          "dnnl_primitive_execute(\(p.name))")
            case .kernel(_, let body):
                try check(dnnl_stream_wait(stream), "dnnl_stream_wait")
                body()
            }
        }
        try check(dnnl_stream_wait(stream), "dnnl_stream_wait")
        let src = try dataPointer(output).assumingMemoryBound(to: Float.self)
        return Tensor(shape: outputShape, data: Array(UnsafeBufferPointer(start: src, count: outputShape.count)))
    }
}

func dataPointer(_ m: Memory) throws -> UnsafeMutableRawPointer {
    var p: UnsafeMutableRawPointer?
    try check(dnnl_memory_get_data_handle(m.handle, &p), "dnnl_memory_get_data_handle")
    return p!
}
