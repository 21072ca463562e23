import Foundation
public import SRCore
import SRWeights
import SRModels
import SRBackendDNNL
import Synchronization

/// A model ready to run: its graph (with any host-side residual folded in), pipeline facts and compiled
/// executables cached per input shape, so a second image of the same size pays no compilation.
public final class LoadedModel: Sendable {
    public let id: String
    public let scale: Int
    public let pipeline: ModelManifest.Pipeline
    public let entry: ModelManifest.Entry?
    public let graph: Graph
    /// Network input sides must be multiples of this (pixel-unshuffle models); the pipeline pads to it.
    public let alignment: Int
    /// The architecture detected in a PyTorch / safetensors file (nil for ncnn models).
    public let architecture: String?
    /// Seconds spent reading and converting the weights.
    public let loadSeconds: Double
    let backend: any Backend

    /// Whether a padded network window of height x width runs at full speed on the backend (nil: any size does).
    /// oneDNN's Winograd kernels slow down on some sizes; the Real-ESRGAN pipeline pads a little more to avoid them.
    var suitsBackend: ((Int, Int) -> Bool)? {
        guard let dnnl = backend as? DNNLBackend, dnnl.convolutionAlgorithm == .winograd, dnnl.precision == .fp32 else {
            return nil
        }
        return { DNNLBackend.winogradFriendlyWindow(height: $0, width: $1) }
    }
    /// Shared squeeze-excitation statistics for tiled runs (nil for models without global pools).
    let statistics: SharedStatistics?
    /// The graph cut before its row-local high-resolution tail, which then runs in row bands (nil: no such tail;
    /// `ENHANCE_ROW_BANDS=0` turns banding off).
    let rowBands: RowBandSplit?
    private let executables = Mutex<ExecutableCache>(ExecutableCache())
    /// Bytes of the network's parameters as floats.
    let weightBytes: Int

    /// About how much memory the model holds while loaded: its weights twice (as read, and laid out for the
    /// backend) and the arenas of its cached executables.
    public var residentBytes: Int { 2 * weightBytes + executables.withLock { $0.bytes } }
    /// Activation bytes the cached executables may hold together; the least recently used ones are dropped
    /// beyond it (a server sees many image sizes, each with its own executable and arena).
    static let cacheBudgetBytes = UpscaleOptions.defaultMaxMemory

    /// Which graph to run: the model itself, a statistics stage, or the model fed with shared statistics.
    enum Variant: Hashable {
        case model(Shape)
        case stage(Int, Shape)
        case withStatistics(Shape)
        /// The head of a banded model (graph input to the split value).
        case head(Shape)
        /// The tail of a banded model on one band window.
        case tail(Shape)
    }

    init(id: String, scale: Int, pipeline: ModelManifest.Pipeline, entry: ModelManifest.Entry?, graph: Graph,
         backend: any Backend, loadSeconds: Double, alignment: Int = 1, architecture: String? = nil) {
        self.id = id
        self.scale = scale
        self.pipeline = pipeline
        self.entry = entry
        self.graph = graph
        self.alignment = alignment
        self.architecture = architecture
        // Executables of this model (one per input size, plus probes, heads and tails) share their laid-out weights.
        self.backend = (backend as? DNNLBackend)?.withWeightCache() ?? backend
        self.loadSeconds = loadSeconds
        self.weightBytes = 4 * graph.parameterSizes.joined().reduce(0, +)
        self.statistics = SharedStatistics(graph: graph)
        let banding = ProcessInfo.processInfo.environment["ENHANCE_ROW_BANDS"] != "0"
        self.rowBands = banding ? RowBandSplit.find(graph) : nil
    }

    /// Reads an ncnn model and prepares its graph for `pipeline`, or rebuilds the network of a PyTorch /
    /// safetensors file from its detected architecture.
    static func load(_ resolved: ModelStore.Resolved, backend: any Backend) throws(EngineError) -> LoadedModel {
        let start = Date()
        let paramPath: String, binPath: String
        switch resolved.files {
        case .ncnn(let param, let bin): (paramPath, binPath) = (param, bin)
        case .weights(let path): return try loadWeights(resolved, path: path, backend: backend, start: start)
        }
        let ncnn: NCNNModel
        do {
            ncnn = try NCNNModel.load(param: paramPath, bin: binPath, output: resolved.entry?.blobs.output)
        } catch {
            throw .modelFile(path: paramPath, underlying: .ncnn(error))
        }
        let pipeline = resolved.entry?.pipeline ?? .realesrgan
        var graph = ncnn.graph
        let scale: Int
        if let s = resolved.entry?.scale {
            scale = s
        } else {
            // Probe the native scale from shape inference.
            guard let shapes = try? graph.inferShapes(inputs: [Shape(c: 3, h: 64, w: 64)]),
                  let out = graph.outputs.first, shapes[out].h % 64 == 0, shapes[out].h == shapes[out].w else {
                throw .invalidOption("cannot infer the scale of \(paramPath): its output is not an integer multiple of its input")
            }
            scale = shapes[out].h / 64
        }
        if pipeline == .realcugan && scale == 4 {
            graph = Pipelines.addCUGANResidual(graph, padding: Pipelines.cuganPadding(scale: 4))
        }
        return LoadedModel(id: resolved.id, scale: scale, pipeline: pipeline, entry: resolved.entry, graph: graph,
                           backend: backend, loadSeconds: Date().timeIntervalSince(start))
    }

    /// A weight file: detect the architecture, build its RGB graph, and run it with the padding its family's
    /// official tools use (plain: none beyond the alignment the network needs).
    private static func loadWeights(_ resolved: ModelStore.Resolved, path: String, backend: any Backend,
                                    start: Date) throws(EngineError) -> LoadedModel {
        let detected: DetectedModel
        var graph: Graph
        do { detected = try ArchitectureRegistry.standard.load(path: path) } catch {
            throw .modelFile(path: path, underlying: ModelFileError(error))
        }
        do { graph = try detected.imageGraph() } catch { throw .modelFile(path: path, underlying: .architecture(error)) }
        // The Real-ESRGAN family runs with the 10-pixel reflect padding of its official tools (so a .pth gives the
        // same pixels as the matching ncnn model, borders included); others without padding.
        let esrganFamily = ["RRDBNet", "SRVGGNetCompact", "SPAN"].contains(detected.architecture)
        var pipeline: ModelManifest.Pipeline = esrganFamily && detected.facts.alignment == 1 ? .realesrgan : .plain
        if detected.architecture == RealCUGAN.name {
            // The network core of realcugan-ncnn-vulkan's files: the same host padding and x4 residual apply.
            pipeline = .realcugan
            if detected.facts.scale == 4 {
                graph = Pipelines.addCUGANResidual(graph, padding: Pipelines.cuganPadding(scale: 4))
            }
        }
        return LoadedModel(id: resolved.id, scale: detected.facts.scale, pipeline: pipeline, entry: nil, graph: graph,
                           backend: backend, loadSeconds: Date().timeIntervalSince(start),
                           alignment: detected.facts.alignment, architecture: detected.architecture)
    }

    /// The executable for `variant`, compiled on first use.
    func executable(_ variant: Variant) throws -> any Executable {
        if let cached = executables.withLock({ $0.use(variant) }) { return cached.executable }
        let compiled: any Executable
        switch variant {
        case .model(let shape):
            compiled = try backend.compile(graph, inputShape: shape)
        case .stage(let k, let shape):
            let g = statistics!.stages[k]
            compiled = try backend.compile(g, inputShapes: [shape] + statistics!.pools[..<k].map { pooledShape($0, for: shape) })
        case .withStatistics(let shape):
            compiled = try backend.compile(statistics!.final,
                                           inputShapes: [shape] + statistics!.pools.map { pooledShape($0, for: shape) })
        case .head(let shape):
            compiled = try backend.compile(rowBands!.head, inputShape: shape)
        case .tail(let shape):
            compiled = try backend.compile(rowBands!.tail, inputShape: shape)
        }
        executables.withLock { $0.insert(ExecutableBox(executable: compiled), for: variant, budget: Self.cacheBudgetBytes) }
        return compiled
    }

    /// Drops compiled statistics stages (they are needed once per image).
    func releaseStages() {
        executables.withLock { cache in
            cache.remove { if case .stage = $0 { true } else { false } }
        }
    }

    private func pooledShape(_ pool: ValueID, for input: Shape) -> Shape {
        // Shape inference of the original graph gives the pooled vector's shape ([1, C, 1, 1]).
        let shapes = (try? graph.inferShapes(inputs: [input])) ?? []
        return shapes.isEmpty ? Shape(c: 1, h: 1, w: 1) : shapes[pool]
    }

    /// Runs `variant` on its inputs (the padded window first). A whole model with a row-local tail runs its head,
    /// then its tail band by band. `cancellation` is asked between ops: once raised, the run stops at the next op
    /// and this throws `EngineError.cancelled`.
    func run(_ variant: Variant, inputs: [Tensor], cancellation: Cancellation? = nil) throws -> [Tensor] {
        let shouldStop: (() -> Bool)? = cancellation.map { c in { c.isCancelled } }
        do {
            if case .model(let shape) = variant, let plan = bandPlan(for: shape) {
                return [try runBanded(inputs[0], plan, shouldStop: shouldStop)]
            }
            return try executable(variant).run(inputs: inputs, shouldStop: shouldStop)
        } catch BackendError.interrupted {
            throw EngineError.cancelled
        }
    }

    /// How a banded run of an input of `shape` goes: the split value's shape and the tail window.
    struct BandPlan {
        var split: RowBandSplit
        /// Shape of the split value (the head's output).
        var value: Shape
        /// Rows of the tail's window (band rows + 2 x halo).
        var windowRows: Int
        var tailShape: Shape { Shape(c: value.c, h: windowRows, w: value.w) }
        var bands: [RowBandSplit.Band] { split.bands(height: value.h, rows: windowRows - 2 * split.halo) }
    }

    /// Tail activations a band may hold, about: the tail then needs a sixth of what realesrgan-x4plus's whole
    /// 4x tail needs on a 276x276 window, for a few percent more tail work (the halo rows are computed twice).
    static let bandBytes = 96 << 20

    /// The banded plan for an input of `shape`, or nil when the model has no row-local tail or the split value is
    /// too short for bands to pay.
    func bandPlan(for shape: Shape, bandBytes: Int = LoadedModel.bandBytes) -> BandPlan? {
        guard let split = rowBands, let value = try? split.head.inferShapes(inputs: [shape])[split.head.outputs[0]],
              let probe = try? split.tail.inferShapes(inputs: [Shape(c: value.c, h: 8, w: value.w)]) else { return nil }
        // Bytes per split-value row of the two largest tail values (a convolution's input and output).
        let perRow = probe.map { $0.count * 4 / 8 }.sorted(by: >).prefix(2).reduce(0, +)
        // Window rows within the byte budget (at least 4 halos), then bands of equal height; windows are a multiple
        // of 4 rows high (an even number of 4x4 Winograd tiles at the tail's scale).
        let most = max(bandBytes / max(perRow, 1), 4 * split.halo, 8)
        guard value.h > most + most / 2 else { return nil }
        let count = (value.h + most - 2 * split.halo - 1) / (most - 2 * split.halo)
        let rows = ((value.h + count - 1) / count + 2 * split.halo + 3) / 4 * 4
        return BandPlan(split: split, value: value, windowRows: rows)
    }

    /// The head once, then the tail on each band window.
    func runBanded(_ input: Tensor, _ plan: BandPlan, shouldStop: (() -> Bool)? = nil) throws -> Tensor {
        let value = try executable(.head(input.shape)).run(inputs: [input], shouldStop: shouldStop)[0]
        let tail = try executable(.tail(plan.tailShape))
        return try plan.split.run(value: value, bands: plan.bands) { try tail.run(inputs: [$0], shouldStop: shouldStop)[0] }
    }

    /// Activation bytes per pixel, measured once by compiling 96x96 probes: of the whole graph (unbanded models),
    /// or of the head (per input pixel) and of the tail (per split-value pixel).
    struct Probes {
        var whole = 0.0, head = 0.0, tail = 0.0
    }
    private let probes = Mutex<Probes?>(nil)

    private func measuredProbes() throws(EngineError) -> Probes {
        if let p = probes.withLock({ $0 }) { return p }
        let side = 96
        let shape = Shape(c: 3, h: side, w: side)
        var p = Probes()
        do {
            if let split = rowBands {
                let value = try split.head.inferShapes(inputs: [shape])[split.head.outputs[0]]
                let rows = min(value.h, 96)
                p.head = Double(try backend.compile(split.head, inputShape: shape).workspaceBytes) / Double(side * side)
                p.tail = Double(try backend.compile(split.tail, inputShape: Shape(c: value.c, h: rows, w: value.w))
                    .workspaceBytes) / Double(rows * value.w)
            } else {
                p.whole = Double(try backend.compile(graph, inputShape: shape).workspaceBytes) / Double(side * side)
            }
        } catch {
            throw .backend("cannot compile \(id) for a \(side)x\(side) window: \(error)")
        }
        probes.withLock { $0 = p }
        return p
    }

    /// The activation memory a network window of `height` x `width` (padding included) needs, estimated from the
    /// probes: with a row-local tail, the head's arena, the split value handed to the tail and one band's tail arena
    /// (or the whole tail when the window is too short for bands).
    func workspaceBytes(height: Int, width: Int) throws(EngineError) -> Double {
        let p = try measuredProbes()
        let shape = Shape(c: 3, h: height, w: width), pixels = Double(height * width)
        if let plan = bandPlan(for: shape) {
            return p.head * pixels + 4 * Double(plan.value.count) + p.tail * Double(plan.windowRows * plan.value.w)
        }
        guard let split = rowBands, let value = try? split.head.inferShapes(inputs: [shape])[split.head.outputs[0]] else {
            return p.whole * pixels
        }
        return p.head * pixels + p.tail * Double(value.h * value.w)
    }

    /// Compiles what a run on a `[1, c, h, w]` input of `shape` needs (banded models: head and tail), so the
    /// first run pays no compilation.
    public func prepare(inputShape shape: Shape) throws {
        if let plan = bandPlan(for: shape) {
            _ = try executable(.head(shape))
            _ = try executable(.tail(plan.tailShape))
        } else {
            _ = try executable(.model(shape))
        }
    }

    /// Runs the raw network on a `[1, c, h, w]` tensor (already padded as the pipeline requires).
    public func runNetwork(_ input: Tensor) throws -> Tensor {
        try run(.model(input.shape), inputs: [input])[0]
    }
}

/// Compiled executables keyed by variant, least recently used first out once their arenas exceed a byte budget
/// (at most 8 entries whatever their size).
struct ExecutableCache {
    private var entries: [LoadedModel.Variant: ExecutableBox] = [:]
    private var order: [LoadedModel.Variant] = []   // least recently used first

    var count: Int { entries.count }
    var bytes: Int { entries.values.reduce(0) { $0 + $1.executable.workspaceBytes } }

    mutating func use(_ key: LoadedModel.Variant) -> ExecutableBox? {
        guard let box = entries[key] else { return nil }
        order.removeAll { $0 == key }
        order.append(key)
        return box
    }

    mutating func insert(_ box: ExecutableBox, for key: LoadedModel.Variant, budget: Int) {
        entries[key] = box
        order.removeAll { $0 == key }
        order.append(key)
        while order.count > 1 && (order.count > 8 || bytes > budget) {
            entries[order.removeFirst()] = nil
        }
    }

    mutating func remove(where predicate: (LoadedModel.Variant) -> Bool) {
        for key in order where predicate(key) { entries[key] = nil }
        order.removeAll(where: predicate)
    }
}

/// Executables are used by one caller at a time (the engine serialises runs per model).
final class ExecutableBox: @unchecked Sendable {
    let executable: any Executable
    init(executable: any Executable) { self.executable = executable }
}
