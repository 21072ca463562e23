import Foundation
public import SRCore
public import SRImageIO
import SRBackendDNNL
import Synchronization

/// Numeric precision of inference.
public enum Precision: String, Sendable, CaseIterable {
    /// 32-bit floats throughout (the default; matches the reference engines).
    case fp32
    /// bfloat16 convolutions and activations with fp32 accumulation: about twice the arithmetic throughput on CPUs
    /// with AVX512-BF16, at a small cost in accuracy.
    case bf16
}

/// The one path every entry point (CLI, server, evaluation) uses: resolve a model, run it on an image.
public final class Engine: Sendable {
    public let store: ModelStore
    public let backend: any Backend
    /// Loaded models, least recently used first.
    private let models = Mutex<[(key: String, model: LoadedModel)]>([])
    /// Memory the loaded models may hold together (`LoadedModel.residentBytes`); beyond it the least recently used
    /// are unloaded (the one just asked for always stays). nil: no limit.
    public let modelMemory: Int?
    /// Runs are serialised: each compiled executable owns one activation arena.
    let runLock = Mutex<Void>(())

    /// - Parameters:
    ///   - threads: worker threads for the oneDNN backend (default: all cores).
    ///   - precision: numeric precision of the oneDNN backend (ignored when `backend` is given).
    ///   - modelMemory: memory the loaded models may hold together before the least recently used are unloaded
    ///     (a server whose clients name many models); nil: keep every model loaded.
    public init(store: ModelStore = ModelStore(), backend: (any Backend)? = nil, threads: Int? = nil,
                precision: Precision = .fp32, modelMemory: Int? = nil) {
        self.store = store
        self.modelMemory = modelMemory
        let algorithm = ProcessInfo.processInfo.environment["ENHANCE_CONV_ALGORITHM"]
            .flatMap(DNNLBackend.ConvolutionAlgorithm.init(rawValue:)) ?? .winograd
        self.backend = backend ?? DNNLBackend(convolutionAlgorithm: algorithm,
                                              precision: precision == .bf16 ? .bf16 : .fp32)
        if let threads { DNNLBackend.setThreads(threads) }
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
        let loaded = try LoadedModel.load(resolved, backend: backend)
        models.withLock { $0.append((idOrPath, loaded)) }
        trimLoadedModels()
        return loaded
    }

    /// The keys of the loaded models, least recently used first.
    public var loadedModels: [String] { models.withLock { $0.map(\.key) } }

    /// Unloads least recently used models while they hold more than `modelMemory` together (a run that still
    /// holds one finishes with it; its memory goes when the run lets go). Runs on every `model(_:)`; a server also
    /// calls it after each job, once the model it ran has compiled its executables.
    public func trimLoadedModels() {
        guard let budget = modelMemory else { return }
        models.withLock { list in
            while list.count > 1, list.reduce(0, { $0 + $1.model.residentBytes }) > budget {
                list.removeFirst()
            }
        }
    }

    /// The tile side (input pixels) `options` allow for `model`, or nil when the whole image fits.
    ///
    /// The budget covers the network's activations for one window (measured per pixel) and the float bands of
    /// output rows (one tile high, the whole output wide): the one being blended, the one handed out and, while an
    /// encoder's request straddles two, the one before.
    public func tileSize(for model: LoadedModel, height: Int, width: Int, options: UpscaleOptions) throws(EngineError) -> Int? {
        if let t = options.tileSize { return t == 0 || (t >= height && t >= width) ? nil : max(t, 16) }
        let plan = Pipelines.plan(model.pipeline, scale: model.scale, height: height, width: width,
                                  alignment: model.alignment,
                                  window: model.suitsBackend)
        let s = Double(model.scale)
        func cost(_ tile: Int?) throws(EngineError) -> Double {
            let context = tile == nil ? 0 : options.context
            let winH = min(height, (tile ?? height) + 2 * context), winW = min(width, (tile ?? width) + 2 * context)
            let activations = try model.workspaceBytes(height: winH + plan.top + plan.bottom,
                                                       width: winW + plan.left + plan.right)
            let band = 3 * 3 * 4 * Double(min(tile ?? height, height)) * s * Double(width) * s
            return activations + band
        }
        let budget = Double(options.maxMemory)
        if try cost(nil) <= budget { return nil }
        // Multiples of 4 keep Real-CUGAN's alignment padding out of every tile.
        var tile = max(height, width) / 4 * 4
        while tile > 32, try cost(tile) > budget { tile -= 4 }
        return tile
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
        let tile = try tileSize(for: model, height: image.height, width: image.width, options: options)
        let gray = image.colorChannels == 1
        do {
            try runLock.withLock { _ in
                let rows = try Self.rowSources(image, model: model, tile: tile, options: options, engine: self)
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
    static func rowSources(_ image: Image, model: LoadedModel, tile: Int?, options: UpscaleOptions,
                           engine: Engine) throws -> (color: TiledRun.Rows, alpha: TiledRun.Rows?) {
        var color = image.colorTensor
        if image.colorChannels == 1 {
            color = Tensor(dims: [1, 3, image.height, image.width], data: color.data + color.data + color.data)
        }
        let colorRows = try TiledRun(engine: engine, model: model, source: color, tile: tile, options: options).colorRows()
        let alphaRows = try image.alphaTensor.map {
            try TiledRun(engine: engine, model: model, source: $0, tile: tile, options: options).alphaRows(mode: options.alpha)
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
