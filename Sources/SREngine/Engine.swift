import Foundation
public import SRCore
public import SRImageIO
import SRBackendDNNL
import SRBackendReference
import Synchronization

/// How to run a model over an image.
public struct UpscaleOptions: Sendable, Equatable {
    /// Bytes the network's activations may use at once; the tile size follows from it. Default 1 GiB.
    public var maxMemory: Int
    /// Tile side in input pixels; `nil` picks it from `maxMemory`, `0` forces the whole image in one piece.
    public var tileSize: Int?
    /// Minimum overlap of neighbouring tiles in input pixels; the overlap is blended smoothly.
    public var overlap: Int
    /// Extra input pixels each tile's network sees on every side, whose output is discarded.
    public var context: Int
    /// For models with squeeze-excitation blocks (Real-CUGAN): compute their statistics once for the whole image
    /// and share them across tiles (more passes, seamless result) instead of per tile.
    public var shareStatistics: Bool

    public static let defaultMaxMemory = 1 << 30

    public init(maxMemory: Int = UpscaleOptions.defaultMaxMemory, tileSize: Int? = nil, overlap: Int = 16,
                context: Int = 32, shareStatistics: Bool = true) {
        self.maxMemory = maxMemory
        self.tileSize = tileSize
        self.overlap = overlap
        self.context = context
        self.shareStatistics = shareStatistics
    }
}

/// The one path every entry point (CLI, server, evaluation) uses: resolve a model, run it on an image.
public final class Engine: Sendable {
    public let store: ModelStore
    public let backend: any Backend
    private let models = Mutex<[String: LoadedModel]>([:])
    /// Runs are serialised: each compiled executable owns one activation arena.
    private let runLock = Mutex<Void>(())

    /// - Parameters:
    ///   - threads: worker threads for the oneDNN backend (default: all cores).
    public init(store: ModelStore = ModelStore(), backend: (any Backend)? = nil, threads: Int? = nil) {
        self.store = store
        self.backend = backend ?? DNNLBackend()
        if let threads { DNNLBackend.setThreads(threads) }
    }

    /// Loads (once) the model named by a manifest id or a `.param` path.
    public func model(_ idOrPath: String) throws(EngineError) -> LoadedModel {
        if let m = models.withLock({ $0[idOrPath] }) { return m }
        let resolved = try store.resolve(idOrPath)
        let loaded = try LoadedModel.load(resolved, backend: backend)
        models.withLock { $0[idOrPath] = loaded }
        return loaded
    }

    /// The tile side (input pixels) `options` allow for `model`, or nil when the whole image fits.
    public func tileSize(for model: LoadedModel, height: Int, width: Int, options: UpscaleOptions) throws(EngineError) -> Int? {
        if let t = options.tileSize { return t == 0 || (t >= height && t >= width) ? nil : max(t, 16) }
        let bytesPerPixel = try model.workspaceBytesPerPixel()
        let plan = Pipelines.plan(model.pipeline, scale: model.scale, height: height, width: width)
        let margin = max(plan.top + plan.bottom, plan.left + plan.right) + 2 * options.context
        let pixels = Double(options.maxMemory) / bytesPerPixel
        let side = Int(pixels.squareRoot()) - margin
        if (height + margin) * (width + margin) <= Int(pixels) { return nil }
        // Multiples of 4 keep Real-CUGAN's alignment padding out of every tile.
        return max(32, side / 4 * 4)
    }

    /// Upscales `image` by the model's native scale.
    ///
    /// Colour goes through the network with the model family's padding, in overlapping tiles when the image is
    /// larger than the memory budget allows; gray images are expanded to RGB for the network and converted back
    /// (BT.601 luma); alpha is upscaled separately with bicubic interpolation.
    public func upscale(_ image: Image, with model: LoadedModel,
                        options: UpscaleOptions = UpscaleOptions()) throws(EngineError) -> Image {
        let s = model.scale
        var color = image.colorTensor
        let gray = color.shape.c == 1
        if gray { color = Tensor(dims: [1, 3, image.height, image.width], data: color.data + color.data + color.data) }
        let oh = image.height * s, ow = image.width * s
        let tile = try tileSize(for: model, height: image.height, width: image.width, options: options)
        let tiler = Tiler(height: image.height, width: image.width, scale: s,
                          tile: tile ?? max(image.height, image.width), overlap: options.overlap)

        var out = [Float](repeating: 0, count: (gray ? 1 : 3) * oh * ow)
        let context = tile == nil ? 0 : options.context
        do {
            try runLock.withLock { _ in
                var shared: [Tensor]?
                if let tile, let statistics = model.statistics, options.shareStatistics {
                    shared = try sharedStatistics(color, model: model, statistics: statistics, tile: tile,
                                                  overlap: options.overlap, context: context)
                }
                try tiler.run(channels: 3, region: { y0, x0, h, w in
                    try self.region(color, model: model, y0: y0, x0: x0, height: h, width: w,
                                    context: context, statistics: shared)
                }, emit: { firstRow, rows in
                    let n = rows.shape.h
                    let finished = gray ? Self.luma(rows) : rows
                    for c in 0..<finished.shape.c {
                        let src = c * n * ow, dst = (c * oh + firstRow) * ow
                        for i in 0..<(n * ow) { out[dst + i] = min(max(finished.data[src + i], 0), 1) }
                    }
                })
            }
        } catch let error as EngineError {
            throw error
        } catch {
            throw .backend(String(describing: error))
        }
        let outColor = Tensor(dims: [1, gray ? 1 : 3, oh, ow], data: out)

        var alpha: Tensor?
        if let a = image.alphaTensor {
            let resized = ReferenceKernels.resize(a, Resize(mode: .bicubic, scaleH: Float(s), scaleW: Float(s)),
                                                  Shape(c: 1, h: oh, w: ow))
            alpha = Tensor(dims: resized.dims, data: resized.data.map { min(max($0, 0), 1) })
        }
        return Image(color: outColor, alpha: alpha, bitDepth: image.bitDepth, iccProfile: image.iccProfile)
    }

    /// The network input for one tile: the region plus `context` real pixels on every side (the window slides
    /// inwards at the image borders, so every tile has the same shape and border tiles see exactly what the
    /// whole-image run sees), padded as the model family requires.
    private func window(_ color: Tensor, model: LoadedModel, y0: Int, x0: Int, height: Int, width: Int,
                        context: Int) -> (input: Tensor, plan: Pipelines.Plan, dy: Int, dx: Int) {
        let fullH = color.shape.h, fullW = color.shape.w
        let winH = min(fullH, height + 2 * context), winW = min(fullW, width + 2 * context)
        let wy = min(max(y0 - context, 0), fullH - winH), wx = min(max(x0 - context, 0), fullW - winW)
        let plan = Pipelines.plan(model.pipeline, scale: model.scale, height: winH, width: winW)
        return (Pipelines.window(color, y0: wy, x0: wx, height: winH, width: winW, plan), plan, y0 - wy, x0 - wx)
    }

    /// The network's output for one image region; the output of the context around it is discarded.
    private func region(_ color: Tensor, model: LoadedModel, y0: Int, x0: Int, height: Int, width: Int,
                        context: Int, statistics: [Tensor]?) throws -> Tensor {
        let s = model.scale
        let w = window(color, model: model, y0: y0, x0: x0, height: height, width: width, context: context)
        let raw = if let statistics {
            try model.run(.withStatistics(w.input.shape), inputs: [w.input] + statistics)[0]
        } else {
            try model.run(.model(w.input.shape), inputs: [w.input])[0]
        }
        let needH = w.plan.originY + (w.dy + height) * s, needW = w.plan.originX + (w.dx + width) * s
        guard raw.shape.c == 3, raw.shape.h >= needH, raw.shape.w >= needW else {
            throw EngineError.backend("model '\(model.id)' produced \(raw.shape) for a padded input \(w.input.shape); " +
                                      "expected at least \(needH)x\(needW) at x\(s)")
        }
        return Pipelines.crop(raw, y: w.plan.originY + w.dy * s, x: w.plan.originX + w.dx * s,
                              height: height * s, width: width * s)
    }

    /// Squeeze-excitation statistics shared by all tiles: pool by pool, the mean over every tile of what that
    /// tile's pool computes given the shared values of the earlier pools.
    private func sharedStatistics(_ color: Tensor, model: LoadedModel, statistics: SharedStatistics,
                                  tile: Int, overlap: Int, context: Int) throws -> [Tensor] {
        let th = min(tile, color.shape.h), tw = min(tile, color.shape.w)
        let ys = Tiler.starts(length: color.shape.h, tile: th, overlap: overlap)
        let xs = Tiler.starts(length: color.shape.w, tile: tw, overlap: overlap)
        var shared: [Tensor] = []
        defer { model.releaseStages() }
        for k in statistics.pools.indices {
            var sum: [Float]?
            var dims: [Int] = []
            for y0 in ys {
                for x0 in xs {
                    let w = window(color, model: model, y0: y0, x0: x0, height: th, width: tw, context: context)
                    let pooled = try model.run(.stage(k, w.input.shape), inputs: [w.input] + shared)[0]
                    dims = pooled.dims
                    if sum == nil { sum = pooled.data } else { for i in pooled.data.indices { sum![i] += pooled.data[i] } }
                }
            }
            let n = Float(ys.count * xs.count)
            shared.append(Tensor(dims: dims, data: sum!.map { $0 / n }))
        }
        return shared
    }

    /// BT.601 luma of an RGB tensor, as a one-channel tensor.
    static func luma(_ t: Tensor) -> Tensor {
        let plane = t.shape.h * t.shape.w
        var y = [Float](repeating: 0, count: plane)
        for i in 0..<plane { y[i] = 0.299 * t.data[i] + 0.587 * t.data[plane + i] + 0.114 * t.data[2 * plane + i] }
        return Tensor(dims: [1, 1, t.shape.h, t.shape.w], data: y)
    }
}
