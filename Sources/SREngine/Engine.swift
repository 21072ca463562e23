import Foundation
public import SRCore
public import SRImageIO
import SRBackendDNNL
import SRBackendReference
import Synchronization

/// The one path every entry point (CLI, server, evaluation) uses: resolve a model, run it on an image.
public final class Engine: Sendable {
    public let store: ModelStore
    public let backend: any Backend
    private let models = Mutex<[String: LoadedModel]>([:])
    /// Runs of the same model are serialised: each compiled executable owns one activation arena.
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

    /// Upscales `image` by the model's native scale.
    ///
    /// Colour goes through the network with the model family's padding; gray images are expanded to RGB for the
    /// network and converted back (BT.601 luma); alpha is upscaled separately with bicubic interpolation.
    public func upscale(_ image: Image, with model: LoadedModel) throws(EngineError) -> Image {
        let s = model.scale
        var color = image.colorTensor
        let gray = color.shape.c == 1
        if gray { color = Tensor(dims: [1, 3, image.height, image.width], data: color.data + color.data + color.data) }

        let plan = Pipelines.plan(model.pipeline, scale: s, height: image.height, width: image.width)
        let padded = Pipelines.pad(color, plan)
        let raw: Tensor
        do {
            raw = try runLock.withLock { _ in try model.runNetwork(padded) }
        } catch let error as EngineError {
            throw error
        } catch {
            throw .backend(String(describing: error))
        }
        let oh = image.height * s, ow = image.width * s
        guard raw.shape.c == 3, raw.shape.h >= plan.originY + oh, raw.shape.w >= plan.originX + ow else {
            throw .backend("model '\(model.id)' produced \(raw.shape) for a padded input \(padded.shape); expected at least \(oh)x\(ow) at x\(s)")
        }
        var out = Pipelines.cropClamped(raw, y: plan.originY, x: plan.originX, height: oh, width: ow)
        if gray { out = Self.luma(out) }

        var alpha: Tensor?
        if let a = image.alphaTensor {
            let resized = ReferenceKernels.resize(a, Resize(mode: .bicubic, scaleH: Float(s), scaleW: Float(s)),
                                                  Shape(c: 1, h: oh, w: ow))
            alpha = Tensor(dims: resized.dims, data: resized.data.map { min(max($0, 0), 1) })
        }
        return Image(color: out, alpha: alpha, bitDepth: image.bitDepth, iccProfile: image.iccProfile)
    }

    /// BT.601 luma of an RGB tensor, as a one-channel tensor.
    static func luma(_ t: Tensor) -> Tensor {
        let plane = t.shape.h * t.shape.w
        var y = [Float](repeating: 0, count: plane)
        for i in 0..<plane { y[i] = 0.299 * t.data[i] + 0.587 * t.data[plane + i] + 0.114 * t.data[2 * plane + i] }
        return Tensor(dims: [1, 1, t.shape.h, t.shape.w], data: y)
    }
}
