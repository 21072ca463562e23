import ArgumentParser
import SREngine
import SRImageIO

extension AlphaMode: ExpressibleByArgument {}

/// Options shared by single-file and batch upscaling.
struct UpscaleOptionsGroup: ParsableArguments {
    @Option(name: .shortAndLong, help: "Model id (see `enhance models`), an ncnn .param file, or a PyTorch .pth/.pt or .safetensors file (architecture detected; see `enhance inspect`).")
    var model: String = ModelManifest.embedded.default

    @Option(name: .shortAndLong, parsing: .unconditional, help: ArgumentHelp(
        "Output size: a factor (4, 2.5), W:H with 0 or -1 keeping the aspect (1920:0), -n rounding the kept side to a multiple of n (1920:-2), or long:N.",
        valueName: "size"))
    var scale: String?

    @Option(parsing: .unconditional, help: "Output width in pixels (height keeps the aspect unless --height is given).")
    var width: Int?

    @Option(parsing: .unconditional, help: "Output height in pixels (width keeps the aspect unless --width is given).")
    var height: Int?

    @Option(name: .customLong("long-side"), parsing: .unconditional, help: "Output size of the longer side in pixels.")
    var longSide: Int?

    @Option(parsing: .unconditional, help: "Worker threads (default: all cores).")
    var threads: Int?

    @Option(help: "Numeric precision: fp32, or bf16 (about 2x faster on CPUs with AVX512-BF16, slightly less exact).")
    var precision: Precision = .fp32

    @Option(parsing: .unconditional, help: "JPEG/WebP/AVIF/HEIC quality, 1-100.")
    var quality: Int?

    @Flag(help: "Lossless WebP.")
    var lossless = false

    @Option(parsing: .unconditional, help: "PNG compression level 0-9 (default 6).")
    var compression: Int?

    @Option(help: "How to upscale an alpha channel.")
    var alpha: AlphaMode = .resample

    @Option(help: ArgumentHelp("Flatten transparency onto this colour (#rrggbb, r,g,b in 0-255, white or black); needed for JPEG output of images with alpha.",
                               valueName: "colour"))
    var background: String?

    @Flag(name: .customLong("copy-metadata"), help: "Copy EXIF and XMP metadata to the output.")
    var copyMetadata = false

    @Flag(name: .customLong("to-srgb"), help: "Convert colours to sRGB instead of keeping the input's ICC profile.")
    var toSRGB = false

    @Option(name: .customLong("max-memory"), help: ArgumentHelp("Working memory of the upscaler (network activations and the band of finished rows), e.g. 512M or 2G; sets the tile size.",
                                                                 valueName: "bytes"))
    var maxMemory: String?

    @Option(parsing: .unconditional, help: "Tile side in input pixels (0: whole image at once; default: from --max-memory).")
    var tile: Int?

    @Flag(help: "x8 self-ensemble: average over flips and rotations (8x slower, slightly cleaner).")
    var tta = false

    @Option(parsing: .unconditional, help: ArgumentHelp("Real-CUGAN denoise strength from 0 (none) to 3, fractions blend the neighbouring levels' weights; the scale comes from -m.",
                               valueName: "level"))
    var denoise: Double?

    @Option(help: ArgumentHelp("Blend the weights of -m with this model of the same architecture.", valueName: "model"))
    var blend: String?

    @Option(name: .customLong("blend-weight"), parsing: .unconditional, help: "Share of --blend in the weights, 0-1 (default 0.5).")
    var blendWeight: Double = 0.5

    func validate() throws {
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1, got \(threads)") }
        if let quality, !(1...100).contains(quality) { throw ValidationError("--quality must be 1...100, got \(quality)") }
        if let compression, !(0...9).contains(compression) { throw ValidationError("--compression must be 0...9, got \(compression)") }
        if let tile, tile < 0 { throw ValidationError("--tile must be 0 (whole image) or a positive size, got \(tile)") }
        if denoise != nil && blend != nil { throw ValidationError("use either --denoise or --blend, not both") }
        if !(0...1).contains(blendWeight) { throw ValidationError("--blend-weight must be between 0 and 1, got \(blendWeight)") }
        _ = try outputSize()
        _ = try parsedBackground()
        _ = try memoryBytes()
    }

    func outputSize() throws -> OutputSize {
        do {
            if scale == nil, width == nil, height == nil, longSide == nil { return .native }
            return try OutputSize(scale: scale, width: width, height: height, longSide: longSide)
        } catch {
            throw ValidationError(error.description)
        }
    }

    func memoryBytes() throws -> Int {
        guard let maxMemory else { return UpscaleOptions.defaultMaxMemory }
        guard let bytes = OptionText.bytes(maxMemory), bytes >= 16 << 20 else {
            throw ValidationError("--max-memory must be a size of at least 16M, such as 512M or 2G; got '\(maxMemory)'")
        }
        return bytes
    }

    func parsedBackground() throws -> (r: Float, g: Float, b: Float)? {
        guard let background else { return nil }
        guard let colour = OptionText.colour(background) else {
            throw ValidationError("--background must be \(OptionText.colourForms); got '\(background)'")
        }
        return colour
    }

    /// The model to run: -m, or a blend of it (--blend, --denoise).
    func loadModel(_ engine: Engine) throws -> LoadedModel {
        if let denoise {
            guard let entry = engine.store.manifest.entry(model), entry.architecture.hasPrefix("Real-CUGAN") else {
                throw ValidationError("--denoise applies to Real-CUGAN models; pick the scale with e.g. -m realcugan-se-x2-no-denoise")
            }
            return try engine.denoiseModel(scale: entry.scale, level: denoise)
        }
        if let blend { return try engine.blendedModel(model, blend, weight: blendWeight) }
        return try engine.model(model)
    }

    func engineOptions() throws -> UpscaleOptions {
        UpscaleOptions(maxMemory: try memoryBytes(), tileSize: tile, outputSize: try outputSize(), alpha: alpha, tta: tta)
    }

    func encodeOptions() throws -> ImageIO.EncodeOptions {
        ImageIO.EncodeOptions(quality: quality, lossless: lossless, compression: compression, copyMetadata: copyMetadata,
                              convertToSRGB: toSRGB, background: try parsedBackground())
    }
}
