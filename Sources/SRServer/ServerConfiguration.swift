import Foundation
public import SRCore
import SREngine

/// Everything `enhance serve` can be told; the defaults suit a 2-core machine with a few GB of memory.
public struct ServerConfiguration: Sendable {
    public var host = "127.0.0.1"
    public var port = 5000
    /// The model of `/model/predict`, `/model/metadata` and of `/v1/upscale` without `model`; loaded before
    /// `/readyz` says ready.
    public var defaultModel = ModelManifest.embedded.default
    /// Inference workers; each owns an engine (its own compiled models and activation memory) and runs one job
    /// at a time with `threadsPerWorker` threads.
    public var workers = 1
    /// oneDNN threads per worker (default: the cores divided among the workers); `enhance serve` builds `backends`
    /// with it.
    public var threadsPerWorker: Int?
    /// The backends every worker's engine runs models on, most preferred first (`enhance serve` builds them once
    /// from its options; see `BackendOptions`). Must not be empty.
    public var backends: [any Backend] = []
    /// Jobs that may wait for a worker; one more gets `429` with `Retry-After`.
    public var queueLimit = 8
    /// Request bodies above this many bytes get `413`.
    public var maxBodyBytes = 64 << 20
    /// Input images above this many pixels get `422`, checked from the header before the pixels are decoded.
    public var maxInputPixels = 16_000_000
    /// Working memory of one upscale (network activations + finished row bands); sets the tile size.
    public var maxMemory = UpscaleOptions.defaultMaxMemory
    /// A request's work (queue wait + upscale + encode) is cancelled after this long and answered `504`.
    public var deadline: Duration = .seconds(300)
    /// A request body must have arrived this long after the request started, else the connection is closed (a
    /// slow or stalled client holds one of the `workers + queueLimit` admission slots while it uploads).
    public var uploadTimeout: Duration = .seconds(60)
    /// Origins allowed to call the API from a browser (`*` for any); empty: no CORS headers.
    public var corsOrigins: [String] = []
    /// Where the Swagger UI assets are; nil: the standard places (see `SwaggerUI.searchPaths`).
    public var swaggerUIDirectory: String?
    /// After SIGTERM, how long `/readyz` answers `503 draining` while requests are still served, so a load
    /// balancer stops sending new ones before the listener closes.
    public var drainDelay: Duration = .seconds(0)
    /// Where request outputs are written before they are streamed back (deleted at once).
    public var temporaryDirectory = NSTemporaryDirectory()
    /// Finished jobs stay visible at `/v1/jobs/{id}` this long.
    public var jobRetention: Duration = .seconds(300)

    public init() {}

    /// oneDNN threads each worker uses.
    public var resolvedThreadsPerWorker: Int {
        threadsPerWorker ?? max(1, ProcessInfo.processInfo.activeProcessorCount / max(1, workers))
    }
}
