import Foundation
public import SRCore
import SRWeights
public import SRModels
import Synchronization

/// A model ready to run: its graph (with any host-side residual folded in), what the host does around it
/// (`HostNeeds`), the backend it runs on and compiled executables cached per input shape, so a second image of the
/// same size pays no compilation.
public final class LoadedModel: Sendable {
    public let id: String
    public let scale: Int
    /// Padding, size rounding, output origin and shared statistics (declared by the architecture, or by the
    /// manifest's pipeline family for ncnn models).
    public let host: HostNeeds
    public let entry: ModelManifest.Entry?
    public let graph: Graph
    /// Network input sides are rounded up to a multiple of this (pixel-unshuffle models, Real-CUGAN).
    public var alignment: Int { host.sizeMultiple }
    /// The manifest's name for this model's host needs (`.plain` for any other).
    public var pipeline: ModelManifest.Pipeline { ModelManifest.Pipeline(host, scale: scale) }
    /// The architecture detected in a PyTorch / safetensors file (nil for ncnn models).
    public let architecture: String?
    /// Seconds spent reading and converting the weights.
    public let loadSeconds: Double
    /// The backend the model runs on: the first of the engine's list that supports every op of its graph, with
    /// state of its own shared by this model's executables (`Backend.sharingWeights()`).
    public let backend: any Backend

    /// Shared squeeze-excitation statistics for tiled runs (nil when the host needs declare none or the graph has
    /// no global pools).
    let statistics: SharedStatistics?
    /// The graph cut before its row-local high-resolution tail, which then runs in row bands (nil: no such tail,
    /// or banding turned off).
    let rowBands: RowBandSplit?
    private let executables = Mutex<ExecutableCache>(ExecutableCache())
    /// Bytes of the network's parameters as floats.
    let weightBytes: Int

    /// About how much memory the model holds while loaded: its weights as read, what its backend laid out from
    /// them for every executable (`Backend.sharedBytes`) and the arenas of its cached executables.
    public var residentBytes: Int { weightBytes + backend.sharedBytes + executableBytes }
    /// Activation bytes of the cached executables.
    var executableBytes: Int { executables.withLock { $0.bytes } }

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

    /// - Parameter backend: the backend chosen for `graph` (see `Engine.backend(for:)`); the model takes a copy that
    ///   shares laid-out weights between its executables.
    init(id: String, scale: Int, host: HostNeeds, entry: ModelManifest.Entry?, graph: Graph, backend: any Backend,
         loadSeconds: Double, architecture: String? = nil, rowBands: Bool = true) {
        self.id = id
        self.scale = scale
        self.host = host
        self.entry = entry
        self.graph = graph
        self.architecture = architecture
        // Executables of this model (one per input size, plus probes, heads and tails) share their laid-out weights.
        self.backend = backend.sharingWeights()
        self.loadSeconds = loadSeconds
        self.weightBytes = 4 * graph.nodes.reduce(0) { $0 + $1.op.parameterSizes.reduce(0, +) }
        self.statistics = host.sharedStatistics ? SharedStatistics(graph: graph) : nil
        self.rowBands = rowBands ? RowBandSplit.find(graph) : nil
    }

    /// Reads an ncnn model (its host needs from the manifest's pipeline family), or rebuilds the network of a
    /// PyTorch / safetensors file from its detected architecture (which declares its host needs), and picks the
    /// backend that runs it.
    static func load(_ resolved: ModelStore.Resolved, engine: Engine) throws(EngineError) -> LoadedModel {
        let start = Date()
        let paramPath: String, binPath: String
        switch resolved.files {
        case .ncnn(let param, let bin): (paramPath, binPath) = (param, bin)
        case .weights(let path): return try loadWeights(resolved, path: path, engine: engine, start: start)
        }
        let ncnn: NCNNModel
        do {
            ncnn = try NCNNModel.load(param: paramPath, bin: binPath, output: resolved.entry?.blobs.output)
        } catch {
            throw .modelFile(path: paramPath, underlying: .ncnn(error))
        }
        let scale: Int
        if let s = resolved.entry?.scale {
            scale = s
        } else {
            // Probe the native scale from shape inference.
            guard let shapes = try? ncnn.graph.inferShapes(inputs: [Shape(c: 3, h: 64, w: 64)]),
                  let out = ncnn.graph.outputs.first, shapes[out].h % 64 == 0, shapes[out].h == shapes[out].w else {
                throw .invalidOption("cannot infer the scale of \(paramPath): its output is not an integer multiple of its input")
            }
            scale = shapes[out].h / 64
        }
        let host = (resolved.entry?.pipeline ?? .realesrgan).hostNeeds(scale: scale)
        let graph = Self.hostGraph(ncnn.graph, host)
        return LoadedModel(id: resolved.id, scale: scale, host: host, entry: resolved.entry, graph: graph,
                           backend: try engine.backend(for: graph, model: resolved.id),
                           loadSeconds: Date().timeIntervalSince(start), rowBands: engine.rowBands)
    }

    /// A weight file: detect the architecture and build its RGB graph; the architecture's facts say how the host
    /// runs it.
    private static func loadWeights(_ resolved: ModelStore.Resolved, path: String, engine: Engine,
                                    start: Date) throws(EngineError) -> LoadedModel {
        let detected: DetectedModel
        let graph: Graph
        do { detected = try ArchitectureRegistry.standard.load(path: path) } catch {
            throw .modelFile(path: path, underlying: ModelFileError(error))
        }
        do { graph = Self.hostGraph(try detected.imageGraph(), detected.facts.host) } catch {
            throw .modelFile(path: path, underlying: .architecture(error))
        }
        return LoadedModel(id: resolved.id, scale: detected.facts.scale, host: detected.facts.host, entry: nil,
                           graph: graph, backend: try engine.backend(for: graph, model: resolved.id),
                           loadSeconds: Date().timeIntervalSince(start), architecture: detected.architecture,
                           rowBands: engine.rowBands)
    }

    /// The network with what its host needs add to the graph (Real-CUGAN x4's nearest residual).
    static func hostGraph(_ graph: Graph, _ host: HostNeeds) -> Graph {
        host.nearestResidual ? Pipelines.addNearestResidual(graph, padding: host.padding, scale: 4) : graph
    }

    /// The executable for `variant`, compiled on first use with `limits`; the model's cached executables stay
    /// within `cacheBytes` of activation memory (least recently used out first).
    func executable(_ variant: Variant, limits: CompileLimits = ExecutionPlan.Budgets.standard.compileLimits,
                    cacheBytes: Int = ExecutionPlan.Budgets.standard.executableCacheBytes) throws -> any Executable {
        let key = ExecutableCache.Key(variant: variant, limits: limits)
        if let cached = executables.withLock({ $0.use(key) }) { return cached.executable }
        let compiled: any Executable
        switch variant {
        case .model(let shape):
            compiled = try backend.compile(graph, inputShapes: [shape], limits: limits)
        case .stage(let k, let shape):
            let g = statistics!.stages[k]
            compiled = try backend.compile(g, inputShapes: [shape] + statistics!.pools[..<k].map { pooledShape($0, for: shape) },
                                           limits: limits)
        case .withStatistics(let shape):
            compiled = try backend.compile(statistics!.final,
                                           inputShapes: [shape] + statistics!.pools.map { pooledShape($0, for: shape) },
                                           limits: limits)
        case .head(let shape):
            compiled = try backend.compile(rowBands!.head, inputShapes: [shape], limits: limits)
        case .tail(let shape):
            compiled = try backend.compile(rowBands!.tail, inputShapes: [shape], limits: limits)
        }
        executables.withLock { $0.insert(ExecutableBox(executable: compiled), for: key, budget: cacheBytes) }
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

    /// Runs `variant` on its inputs (the padded window first) as `plan` says (band height, compile limits, cache
    /// budget). A whole model with a row-local tail runs its head, then its tail band by band. `cancellation` is
    /// asked between ops: once raised, the run stops at the next op and this throws `EngineError.cancelled`.
    func run(_ variant: Variant, inputs: [Tensor], budgets: ExecutionPlan.Budgets = .standard,
             cancellation: Cancellation? = nil) throws -> [Tensor] {
        let shouldStop: (() -> Bool)? = cancellation.map { c in { c.isCancelled } }
        do {
            if case .model(let shape) = variant, let plan = bandPlan(for: shape, bandBytes: budgets.bandBytes) {
                return [try runBanded(inputs[0], plan, budgets: budgets, shouldStop: shouldStop)]
            }
            return try executable(variant, limits: budgets.compileLimits, cacheBytes: budgets.executableCacheBytes)
                .run(inputs: inputs, shouldStop: shouldStop)
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

    /// Tail activations a band may hold at the default memory budget (96 MiB; `ExecutionPlan.Budgets.bandBytes`
    /// scales it with `--max-memory`): the tail then needs a sixth of what realesrgan-x4plus's whole 4x tail needs
    /// on a 276x276 window, for a few percent more tail work (the halo rows are computed twice).
    static let bandBytes = ExecutionPlan.Budgets.standard.bandBytes

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
    func runBanded(_ input: Tensor, _ plan: BandPlan, budgets: ExecutionPlan.Budgets = .standard,
                   shouldStop: (() -> Bool)? = nil) throws -> Tensor {
        let limits = budgets.compileLimits, cacheBytes = budgets.executableCacheBytes
        let value = try executable(.head(input.shape), limits: limits, cacheBytes: cacheBytes)
            .run(inputs: [input], shouldStop: shouldStop)[0]
        let tail = try executable(.tail(plan.tailShape), limits: limits, cacheBytes: cacheBytes)
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
                p.head = Double(try backend.workspaceEstimate(split.head, inputShapes: [shape])) / Double(side * side)
                p.tail = Double(try backend.workspaceEstimate(split.tail, inputShapes: [Shape(c: value.c, h: rows, w: value.w)]))
                    / Double(rows * value.w)
            } else {
                p.whole = Double(try backend.workspaceEstimate(graph, inputShapes: [shape])) / Double(side * side)
            }
        } catch {
            throw .backend("cannot compile \(id) for a \(side)x\(side) window: \(error)")
        }
        probes.withLock { $0 = p }
        return p
    }

    /// The activation memory a network window of `height` x `width` (padding included) needs, estimated from the
    /// probes: with a row-local tail, the head's arena, the split value handed to the tail and one band's tail arena
    /// (or the whole tail when the window is too short for bands of `bandBytes`).
    func workspaceBytes(height: Int, width: Int, bandBytes: Int = LoadedModel.bandBytes) throws(EngineError) -> Double {
        let p = try measuredProbes()
        let shape = Shape(c: 3, h: height, w: width), pixels = Double(height * width)
        if let plan = bandPlan(for: shape, bandBytes: bandBytes) {
            return p.head * pixels + 4 * Double(plan.value.count) + p.tail * Double(plan.windowRows * plan.value.w)
        }
        guard let split = rowBands, let value = try? split.head.inferShapes(inputs: [shape])[split.head.outputs[0]] else {
            return p.whole * pixels
        }
        return p.head * pixels + p.tail * Double(value.h * value.w)
    }

    /// Compiles what a run on a `[1, c, h, w]` input of `shape` needs (banded models: head and tail), so the
    /// first run pays no compilation.
    public func prepare(inputShape shape: Shape, budgets: ExecutionPlan.Budgets = .standard) throws {
        let limits = budgets.compileLimits, cacheBytes = budgets.executableCacheBytes
        if let plan = bandPlan(for: shape, bandBytes: budgets.bandBytes) {
            _ = try executable(.head(shape), limits: limits, cacheBytes: cacheBytes)
            _ = try executable(.tail(plan.tailShape), limits: limits, cacheBytes: cacheBytes)
        } else {
            _ = try executable(.model(shape), limits: limits, cacheBytes: cacheBytes)
        }
    }

    /// Runs the raw network on a `[1, c, h, w]` tensor (already padded as the pipeline requires).
    public func runNetwork(_ input: Tensor, budgets: ExecutionPlan.Budgets = .standard) throws -> Tensor {
        try run(.model(input.shape), inputs: [input], budgets: budgets)[0]
    }
}

/// Compiled executables keyed by variant and compile limits, least recently used first out once their arenas
/// exceed a byte budget (at most 8 entries whatever their size).
struct ExecutableCache {
    struct Key: Hashable {
        var variant: LoadedModel.Variant
        var limits: CompileLimits
    }
    private var entries: [Key: ExecutableBox] = [:]
    private var order: [Key] = []   // least recently used first

    var count: Int { entries.count }
    var bytes: Int { entries.values.reduce(0) { $0 + $1.executable.workspaceBytes } }

    mutating func use(_ key: Key) -> ExecutableBox? {
        guard let box = entries[key] else { return nil }
        order.removeAll { $0 == key }
        order.append(key)
        return box
    }

    mutating func insert(_ box: ExecutableBox, for key: Key, budget: Int) {
        entries[key] = box
        order.removeAll { $0 == key }
        order.append(key)
        while order.count > 1 && (order.count > 8 || bytes > budget) {
            entries[order.removeFirst()] = nil
        }
    }

    mutating func remove(where predicate: (LoadedModel.Variant) -> Bool) {
        for key in order where predicate(key.variant) { entries[key] = nil }
        order.removeAll { predicate($0.variant) }
    }
}

/// Executables are used by one caller at a time (the engine serialises runs per model).
final class ExecutableBox: @unchecked Sendable {
    let executable: any Executable
    init(executable: any Executable) { self.executable = executable }
}
