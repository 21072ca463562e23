import Synchronization

/// How to run a model over an image.
public struct UpscaleOptions: Sendable, Equatable {
    /// Bytes the upscaler may use for the network's activations and its band of finished rows; the tile size
    /// follows from it.
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
    /// The final size; the model runs at its native scale and a resampler reaches this size.
    public var outputSize: OutputSize
    /// How an alpha channel is upscaled.
    public var alpha: AlphaMode
    /// x8 self-ensemble: average the outputs for the 8 flips/rotations of the input (8x the work).
    public var tta: Bool
    /// Lets another thread stop the run: checked before every network pass, it then throws `EngineError.cancelled`.
    public var cancellation: Cancellation?
    /// Called with the finished fraction (0…1) of the network passes after each one.
    public var progress: ProgressSink?

    public static let defaultMaxMemory = 1 << 30

    public init(maxMemory: Int = UpscaleOptions.defaultMaxMemory, tileSize: Int? = nil, overlap: Int = 16,
                context: Int = 32, shareStatistics: Bool = true, outputSize: OutputSize = .native,
                alpha: AlphaMode = .resample, tta: Bool = false, cancellation: Cancellation? = nil,
                progress: ProgressSink? = nil) {
        self.maxMemory = maxMemory
        self.tileSize = tileSize
        self.overlap = overlap
        self.context = context
        self.shareStatistics = shareStatistics
        self.outputSize = outputSize
        self.alpha = alpha
        self.tta = tta
        self.cancellation = cancellation
        self.progress = progress
    }
}

/// How an alpha channel is upscaled.
public enum AlphaMode: String, Sendable, CaseIterable {
    /// Bicubic interpolation (sharp edges stay clean, no invented detail).
    case resample
    /// Through the model, as a gray image (what Real-ESRGAN's tools do; sharper, slower).
    case model
}

/// A flag another thread raises to stop an upscale between network passes (the server's deadlines and clients
/// that hang up). Equal only to itself.
public final class Cancellation: Sendable, Equatable {
    private let state = Mutex<(cancelled: Bool, handlers: [@Sendable () -> Void])>((false, []))
    public init() {}

    /// Raises the flag and runs the `onCancel` handlers (once).
    public func cancel() {
        let handlers = state.withLock { s -> [@Sendable () -> Void] in
            if s.cancelled { return [] }
            s.cancelled = true
            defer { s.handlers = [] }
            return s.handlers
        }
        for h in handlers { h() }
    }

    public var isCancelled: Bool { state.withLock { $0.cancelled } }

    /// Runs `handler` when the flag is raised (at once when it already is).
    public func onCancel(_ handler: @escaping @Sendable () -> Void) {
        let now = state.withLock { s in
            if s.cancelled { return true }
            s.handlers.append(handler)
            return false
        }
        if now { handler() }
    }

    public static func == (a: Cancellation, b: Cancellation) -> Bool { a === b }
}

/// Receives the progress of an upscale (finished fraction of its network passes). Equal only to itself.
public final class ProgressSink: Sendable, Equatable {
    let report: @Sendable (Double) -> Void
    public init(_ report: @escaping @Sendable (Double) -> Void) { self.report = report }
    public static func == (a: ProgressSink, b: ProgressSink) -> Bool { a === b }
}
