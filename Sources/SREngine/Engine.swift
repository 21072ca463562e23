import Foundation
public import SRCore
public import SRImageIO
import Synchronization

/// The one path every entry point (CLI, server, evaluation) uses: resolve a model, run it on an image.
///
/// The engine knows backends only through the `Backend` protocol: the caller builds the list once (the CLI's
/// `BackendOptions`, from `--threads`, `--precision` and the environment) and each model runs on the first backend of
/// the list that supports every op of its graph.
public final class Engine: Sendable {
    public let store: ModelStore
    /// The backends, in order of preference (a reference backend, if any, last).
    public let backends: [any Backend]
    /// Loaded models, least recently used first.
    private let models = Mutex<[(key: String, model: LoadedModel)]>([])
    /// Memory the loaded models may hold together (`LoadedModel.residentBytes`); beyond it the least recently used
    /// are unloaded (the one in use stays; its cached executables stay within the plan's
    /// `executableCacheBytes`). nil: no limit.
    public let modelMemory: Int?
    /// Whether models with a row-local tail run it in row bands (on by default; off only for experiments).
    public let rowBands: Bool
    /// Runs are serialised: each compiled executable owns one activation arena.
    let runLock = Mutex<Void>(())

    /// - Parameters:
    ///   - backends: the backends to run models on, most preferred first; must not be empty. Each is told to
    ///     prepare the calling thread (`Backend.prepareCurrentThread`, e.g. its OpenMP thread count), so create
    ///     the engine on the thread that runs it (a server creates one per worker thread).
    ///   - modelMemory: memory the loaded models may hold together before the least recently used are unloaded
    ///     (a server whose clients name many models); nil: keep every model loaded.
    ///   - rowBands: run row-local tails in bands (`false` only for experiments).
    public init(store: ModelStore = ModelStore(), backends: [any Backend], modelMemory: Int? = nil,
                rowBands: Bool = true) {
        precondition(!backends.isEmpty, "an engine needs at least one backend")
        self.store = store
        self.backends = backends
        self.modelMemory = modelMemory
        self.rowBands = rowBands
        for backend in backends { backend.prepareCurrentThread() }
    }

    /// The first backend of the list that supports every op of `graph`.
    /// - Throws: `EngineError.backend` naming each backend with the node and op it cannot run.
    public func backend(for graph: Graph, model: String) throws(EngineError) -> any Backend {
        try Self.backend(from: backends, for: graph, model: model)
    }

    /// The first of `backends` that supports every op of `graph` (see `backend(for:model:)`).
    public static func backend(from backends: [any Backend], for graph: Graph,
                               model: String) throws(EngineError) -> any Backend {
        var refusals: [String] = []
        for backend in backends {
            guard let refusal = backend.unsupportedNode(in: graph) else { return backend }
            refusals.append(refusal.description)
        }
        throw .backend(refusals.isEmpty ? "no backend was given to run \(model)"
                       : "no backend can run \(model): \(refusals.joined(separator: "; "))")
    }

    /// Loads (once) the model named by a manifest id, a `.param` path or a `.pth` / `.pt` / `.safetensors` path.
    public func model(_ idOrPath: String) throws(EngineError) -> LoadedModel {
        let cached: LoadedModel? = models.withLock { list in
            guard let i = list.firstIndex(where: { $0.key == idOrPath }) else { return nil }
            let entry = list.remove(at: i)
            list.append(entry)
            return entry.model
        }
        if let cached {
            trimLoadedModels()
            return cached
        }
        let resolved = try store.resolve(idOrPath)
        // Make room first: the models being replaced may hold most of the budget.
        trimLoadedModels(keepingMostRecent: false)
        let loaded = try LoadedModel.load(resolved, engine: self)
        models.withLock { $0.append((idOrPath, loaded)) }
        trimLoadedModels()
        return loaded
    }

    /// The keys of the loaded models, least recently used first.
    public var loadedModels: [String] { models.withLock { $0.map(\.key) } }

    /// Bytes the loaded models hold together (`LoadedModel.residentBytes`).
    public var residentBytes: Int { models.withLock { $0.reduce(0) { $0 + $1.model.residentBytes } } }

    /// Keeps the loaded models within `modelMemory`: unloads the least recently used while they hold more together
    /// (the most recently used stays). A run that still holds a model finishes with it; its memory goes when the
    /// run lets go. Runs on every `model(_:)` (also before a new model loads); a server also calls it after each
    /// job, once the model it ran has compiled its executables.
    public func trimLoadedModels() {
        trimLoadedModels(keepingMostRecent: true)
    }

    /// Before a run of `model` that may use `working` bytes (its plan's budget): unloads the other models, least
    /// recently used first, while they, `model` and the run would hold more than `modelMemory` together. A server
    /// whose budget fits one model and one job at a time then holds one model (a two-model replica peaked at
    /// 2.17 GB with `--max-memory 1G`: the first model stayed loaded through the second one's job).
    func makeRoom(for model: LoadedModel, working: Int) {
        guard let budget = modelMemory else { return }
        models.withLock { list in
            while let victim = list.firstIndex(where: { $0.model !== model }),
                  list.reduce(0, { $0 + ($1.model === model ? 0 : $1.model.residentBytes) })
                      + model.residentBytes + working > budget {
                list.remove(at: victim)
            }
        }
    }

    private func trimLoadedModels(keepingMostRecent: Bool) {
        guard let budget = modelMemory else { return }
        models.withLock { list in
            let keep = keepingMostRecent ? 1 : 0
            while list.count > keep, list.reduce(0, { $0 + $1.model.residentBytes }) > budget {
                list.removeFirst()
            }
        }
    }

    /// Upscales `image`: the model at its native scale (tiled when the image is larger than the memory budget
    /// allows), then a resampler to `options.outputSize`.
    ///
    /// Gray images go through the network as RGB and come back as BT.601 luma; alpha is upscaled separately
    /// (`options.alpha`); bit depth, ICC profile, EXIF and XMP are carried over. The result is a compact 8/16-bit
    /// raster filled row band by row band, so memory stays bounded by the output size plus one band.
    public func upscale(_ image: Image, with model: LoadedModel,
                        options: UpscaleOptions = UpscaleOptions()) throws(EngineError) -> Raster {
        let s = model.scale
        let target: (width: Int, height: Int)
        do {
            target = try options.outputSize.resolve(inputWidth: image.width, inputHeight: image.height, nativeScale: s)
        } catch {
            throw .invalidOption(error.description)
        }
        var raster = Raster(width: image.width * s, height: image.height * s, bands: image.channels,
                            depth: image.bitDepth, iccProfile: image.iccProfile, exif: image.exif, xmp: image.xmp)
        let plan = try self.plan(for: model, height: image.height, width: image.width, options: options)
        makeRoom(for: model, working: plan.budgets.memory)
        let gray = image.colorChannels == 1
        do {
            try runLock.withLock { _ in
                let rows = try Self.rowSources(image, model: model, plan: plan, options: options, engine: self)
                while let (first, band) = try rows.color() {
                    let planes = gray ? Self.luma(band) : band
                    raster.setRows(first, planar: planes.data, rows: band.shape.h,
                                   firstBand: 0, bandCount: planes.shape.c)
                }
                while let alpha = rows.alpha, let (first, band) = try alpha() {
                    raster.setRows(first, planar: band.data, rows: band.shape.h,
                                   firstBand: image.colorChannels, bandCount: 1)
                }
            }
        } catch let error as EngineError {
            throw error
        } catch {
            throw .backend(String(describing: error))
        }
        if (target.width, target.height) != (raster.width, raster.height) {
            do { raster = try ImageIO.resize(raster, width: target.width, height: target.height) } catch {
                throw .image(error)
            }
        }
        return raster
    }

    /// The colour (always RGB for the network) and alpha row sources of one upscale.
    static func rowSources(_ image: Image, model: LoadedModel, plan: ExecutionPlan, options: UpscaleOptions,
                           engine: Engine) throws -> (color: TiledRun.Rows, alpha: TiledRun.Rows?) {
        var color = image.colorTensor
        if image.colorChannels == 1 {
            color = Tensor(dims: [1, 3, image.height, image.width], data: color.data + color.data + color.data)
        }
        let colorRows = try TiledRun(engine: engine, model: model, source: color, plan: plan, options: options).colorRows()
        let alphaRows = try image.alphaTensor.map {
            try TiledRun(engine: engine, model: model, source: $0, plan: plan, options: options).alphaRows(mode: options.alpha)
        }
        return (colorRows, alphaRows)
    }

    /// BT.601 luma of an RGB tensor, as a one-channel tensor.
    static func luma(_ t: Tensor) -> Tensor {
        let plane = t.shape.h * t.shape.w
        var y = [Float](repeating: 0, count: plane)
        for i in 0..<plane { y[i] = 0.299 * t.data[i] + 0.587 * t.data[plane + i] + 0.114 * t.data[2 * plane + i] }
        return Tensor(dims: [1, 1, t.shape.h, t.shape.w], data: y)
    }
}
