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

    public static let defaultMaxMemory = 1 << 30

    public init(maxMemory: Int = UpscaleOptions.defaultMaxMemory, tileSize: Int? = nil, overlap: Int = 16,
                context: Int = 32, shareStatistics: Bool = true, outputSize: OutputSize = .native,
                alpha: AlphaMode = .resample, tta: Bool = false) {
        self.maxMemory = maxMemory
        self.tileSize = tileSize
        self.overlap = overlap
        self.context = context
        self.shareStatistics = shareStatistics
        self.outputSize = outputSize
        self.alpha = alpha
        self.tta = tta
    }
}

/// How an alpha channel is upscaled.
public enum AlphaMode: String, Sendable, CaseIterable {
    /// Bicubic interpolation (sharp edges stay clean, no invented detail).
    case resample
    /// Through the model, as a gray image (what Real-ESRGAN's tools do; sharper, slower).
    case model
}
