public import SRCore
internal import CDNNL

/// oneDNN CPU backend: fuses element-wise tails into convolutions as post-ops, keeps activations in the layouts the
/// primitives prefer (blocked, e.g. `nChw16c`) between ops, and plans one arena of reused buffers per input shape.
public struct DNNLBackend: Backend {
    public var name: String { precision == .fp32 ? "onednn" : "onednn-\(precision.rawValue)" }
    /// Convolution algorithm choice.
    public var convolutionAlgorithm: ConvolutionAlgorithm

    public enum ConvolutionAlgorithm: String, Sendable, CaseIterable {
        case direct
        /// Lets oneDNN choose (Winograd where it has a kernel for the shape).
        case auto
    }

    /// Numeric precision of convolutions and the activations between them.
    public var precision: Precision

    public enum Precision: String, Sendable, CaseIterable {
        case fp32
        /// bfloat16 inputs, weights and activations with fp32 accumulation (AVX512-BF16/AMX kernels where the CPU
        /// has them); graph inputs and outputs stay fp32.
        case bf16
    }

    public init(convolutionAlgorithm: ConvolutionAlgorithm = .direct, precision: Precision = .fp32) {
        self.convolutionAlgorithm = convolutionAlgorithm
        self.precision = precision
        _ = DNNLContext.shared
    }

    /// Sets the number of worker threads oneDNN's OpenMP runtime uses (process-wide).
    public static func setThreads(_ n: Int) {
        omp_set_num_threads(Int32(max(1, n)))
    }

    public static var threads: Int { Int(omp_get_max_threads()) }

    public func supports(_ op: Op) -> Bool {
        // Ops without a oneDNN primitive run through the reference kernel on plain layouts inside the executable.
        true
    }

    public func compile(_ graph: Graph, inputShapes: [Shape]) throws -> any Executable {
        let rewritten = GraphRewrites.deconvolutionAsShuffle(graph)
        let shapes = try rewritten.inferShapes(inputs: inputShapes)
        var compiler = DNNLCompiler(graph: rewritten, shapes: shapes, algorithm: convolutionAlgorithm, precision: precision)
        return try compiler.compile()
    }
}
