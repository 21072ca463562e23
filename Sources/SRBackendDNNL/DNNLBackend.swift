public import SRCore
internal import CDNNL

/// oneDNN CPU backend: fuses element-wise tails into convolutions as post-ops, keeps activations in the layouts the
/// primitives prefer (blocked, e.g. `nChw16c`) between ops, and plans one arena of reused buffers per input shape.
public struct DNNLBackend: Backend {
    public var name: String { precision == .fp32 ? "onednn" : "onednn-\(precision.rawValue)" }
    /// Convolution algorithm choice.
    public var convolutionAlgorithm: ConvolutionAlgorithm

    public enum ConvolutionAlgorithm: String, Sendable, CaseIterable {
        /// Direct convolution everywhere.
        case direct
        /// Lets oneDNN choose (on these machines it always picks direct).
        case auto
        /// Winograd F(4x4, 3x3) for the fp32 3x3 stride-1 convolutions on which it is faster (outputs of at least
        /// `winogradMinimumPixels` pixels, channel counts a multiple of 16, post-ops oneDNN can fuse into it);
        /// direct elsewhere. About 4x fewer multiplications; outputs differ from direct by rounding only.
        case winograd
    }

    /// The largest scratchpad a Winograd convolution may use by default (512 MiB); larger ones run direct. The
    /// engine's execution plan passes its own limit (`CompileLimits`: half the memory budget, 512 MiB at the
    /// default 1 GiB). One scratchpad is shared by all primitives of an executable and counted in its working
    /// memory (so the tile planner keeps it within `--max-memory`). For realesrgan-x4plus the 192->64 convolutions (46% of the work) want 175 MiB on
    /// a 276x276 window and 266 MiB on the 340x340 windows of 256-pixel tiles, the others 6-10 MiB. At 256 MiB
    /// those tiles ran the 192->64 convolutions direct: 13.5 s instead of 9.3 s per window.
    public static let winogradScratchpadLimit = 512 << 20

    /// The smallest output (height x width) on which a convolution uses Winograd: 96x96.
    public static let winogradMinimumPixels = 96 * 96

    /// Whether oneDNN's F(4x4, 3x3) kernel can block this output's 4x4 tiles well. It splits the tile count into
    /// blocks by its divisors; when none lies in 2...32 (e.g. a 148x148 output: 37 x 37 tiles, 37 prime) it runs at
    /// 150-210 GFLOP/s instead of 330-480, below the direct kernel (measured on every square size from 96 to 580 in
    /// steps of 4: all 23 slow sizes have a prime number of tiles per side, above 32).
    public static func winogradTilesSplitWell(_ output: Shape) -> Bool {
        let tiles = output.n * ((output.h + 3) / 4) * ((output.w + 3) / 4)
        return (2...32).contains { tiles % $0 == 0 }
    }

    /// Whether a network window of `height` x `width` lets Winograd run at full speed at the window's own
    /// resolution and at 2x and 4x (where x4 networks upsample before their last convolutions).
    public static func winogradFriendlyWindow(height: Int, width: Int) -> Bool {
        [1, 2, 4].allSatisfy { winogradTilesSplitWell(Shape(c: 16, h: height * $0, w: width * $0)) }
    }

    /// Numeric precision of convolutions and the activations between them.
    public var precision: Precision

    public enum Precision: String, Sendable, CaseIterable {
        case fp32
        /// bfloat16 inputs, weights and activations with fp32 accumulation (AVX512-BF16/AMX kernels where the CPU
        /// has them); graph inputs and outputs stay fp32.
        case bf16
    }

    /// Where compiled weights are shared between executables (one cache per model; nil: each executable lays out
    /// its own).
    public var weightCache: WeightCache?

    /// OpenMP worker threads of the threads that run this backend's executables (nil: oneDNN's default, all
    /// cores). Applied by `prepareCurrentThread()`, which the engine calls on the thread it runs on.
    public var threads: Int?

    /// Widens activations whose channel count is not a multiple of 16 so that they run the blocked Winograd
    /// kernels (fp32 Winograd only; `ENHANCE_PAD_CHANNELS=0` in the CLI turns it off, for experiments).
    public var padChannels: Bool

    /// Whether `prefersWindow` asks for Winograd-friendly windows (the engine then pads Real-ESRGAN windows by up to
    /// 12 more pixels, which changes outputs near the edges). Off by default: for measurements only.
    public var windowSlack: Bool

    public init(convolutionAlgorithm: ConvolutionAlgorithm = .winograd, precision: Precision = .fp32,
                threads: Int? = nil, padChannels: Bool = true, windowSlack: Bool = false, weightCache: WeightCache? = nil) {
        self.windowSlack = windowSlack
        self.convolutionAlgorithm = convolutionAlgorithm
        self.precision = precision
        self.threads = threads
        self.padChannels = padChannels
        self.weightCache = weightCache
        _ = DNNLContext.shared
    }

    /// This backend with a weight cache of its own (for one model's executables).
    public func withWeightCache() -> DNNLBackend {
        var copy = self
        copy.weightCache = WeightCache()
        return copy
    }

    /// Sets the number of worker threads oneDNN's OpenMP runtime uses (for the calling thread and the threads it
    /// starts afterwards).
    public static func setThreads(_ n: Int) {
        omp_set_num_threads(Int32(max(1, n)))
    }

    public static var threads: Int { Int(omp_get_max_threads()) }

    public func supports(_ op: Op) -> Bool {
        // Ops without a oneDNN primitive run through the reference kernel on plain layouts inside the executable.
        true
    }

    public func compile(_ graph: Graph, inputShapes: [Shape]) throws -> any Executable {
        try compile(graph, inputShapes: inputShapes,
                    limits: CompileLimits(scratchpadBytes: Self.winogradScratchpadLimit))
    }

    public func compile(_ graph: Graph, inputShapes: [Shape], limits: CompileLimits) throws -> any Executable {
        var rewritten = GraphRewrites.deconvolutionAsShuffle(graph)
        if convolutionAlgorithm == .winograd, precision == .fp32, padChannels {
            rewritten = GraphRewrites.padChannels(rewritten, shapes: try rewritten.inferShapes(inputs: inputShapes))
        }
        let shapes = try rewritten.inferShapes(inputs: inputShapes)
        // Windows whose Winograd tiles split badly run a few zero rows taller (exact), or else on row bands.
        let rowExtension = convolutionAlgorithm == .winograd && precision == .fp32 && !windowSlack
            ? DNNLCompiler.rowExtension(rewritten, inputShapes: inputShapes, shapes: shapes) : nil
        var compiler = DNNLCompiler(graph: rewritten, shapes: rowExtension?.shapes ?? shapes, algorithm: convolutionAlgorithm,
                                    precision: precision)
        if rowExtension != nil { compiler.validShapes = shapes }
        compiler.weightCache = weightCache
        compiler.scratchpadLimit = limits.scratchpadBytes
        return try compiler.compile()
    }

    /// Every window runs at full speed: a convolution whose Winograd tiles split badly runs on row bands that split
    /// well (`DNNLCompiler.winogradBands`), so the engine never needs to change the padding for speed. With
    /// `windowSlack` (measurements only) the old preference for Winograd-friendly windows comes back.
    public func prefersWindow(height: Int, width: Int) -> Bool {
        guard windowSlack, convolutionAlgorithm == .winograd, precision == .fp32 else { return true }
        return Self.winogradFriendlyWindow(height: height, width: width)
    }

    public func sharingWeights() -> any Backend { withWeightCache() }

    public var sharedBytes: Int { weightCache?.bytes ?? 0 }

    public func prepareCurrentThread() {
        if let threads { Self.setThreads(threads) }
    }
}
