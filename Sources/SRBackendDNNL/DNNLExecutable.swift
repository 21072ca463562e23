internal import CDNNL
import SRCore

/// One unit of work at run time.
enum Action {
    case primitive(Primitive, [(Int32, Memory)])
    /// A Swift kernel (for ops without a oneDNN primitive) over plain NCHW buffers.
    case kernel(String, () -> Void)
}

/// A graph compiled for fixed input shapes: a flat list of primitives over a planned arena.
final class DNNLExecutable: Executable {
    let inputShapes: [Shape]
    let outputShapes: [Shape]
    private let actions: [Action]
    /// Plain NCHW memory of each graph input and output.
    private let inputs: [Memory]
    private let outputs: [Memory]
    /// Everything the memory objects point into; kept alive for the executable's lifetime.
    private let storage: [AlignedBuffer]
    let arenaBytes: Int
    var workspaceBytes: Int { arenaBytes }

    init(inputShapes: [Shape], outputShapes: [Shape], actions: [Action], inputs: [Memory], outputs: [Memory],
         storage: [AlignedBuffer], arenaBytes: Int) {
        self.inputShapes = inputShapes
        self.outputShapes = outputShapes
        self.actions = actions
        self.inputs = inputs
        self.outputs = outputs
        self.storage = storage
        self.arenaBytes = arenaBytes
    }

    /// The name of each primitive or kernel, in run order (for tests and profiles).
    var actionNames: [String] {
        actions.map { action in
            switch action {
            case .primitive(let p, _): p.name
            case .kernel(let name, _): name
            }
        }
    }

    /// The names of the actions that run Swift loops instead of oneDNN primitives (reference fallbacks and the
    /// blocked-layout loops), in run order.
    var kernelNames: [String] {
        actions.compactMap { if case .kernel(let name, _) = $0 { name } else { nil } }
    }

    func run(inputs tensors: [Tensor], shouldStop: (() -> Bool)?) throws -> [Tensor] {
        try validate(tensors)
        for (tensor, memory) in zip(tensors, inputs) {
            let dst = try dataPointer(memory).assumingMemoryBound(to: Float.self)
            tensor.data.withUnsafeBufferPointer { dst.update(from: $0.baseAddress!, count: tensor.count) }
        }
        let stream = DNNLContext.shared.stream
        for action in actions {
            if let shouldStop, shouldStop() { throw BackendError.interrupted }
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
        return try zip(outputs, outputShapes).map { memory, shape in
            let src = try dataPointer(memory).assumingMemoryBound(to: Float.self)
            return Tensor(shape: shape, data: Array(UnsafeBufferPointer(start: src, count: shape.count)))
        }
    }
}

func dataPointer(_ m: Memory) throws -> UnsafeMutableRawPointer {
    var p: UnsafeMutableRawPointer?
    try check(dnnl_memory_get_data_handle(m.handle, &p), "dnnl_memory_get_data_handle")
    return p!
}
