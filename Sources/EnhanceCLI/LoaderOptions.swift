import ArgumentParser
import SRImageIO

/// `--allow-all-loaders`, for the commands that read images the user names (upscale, eval, train).
struct LoaderOptions: ParsableArguments {
    @Flag(name: .customLong("allow-all-loaders"), help: ArgumentHelp(
        "Also read formats outside PNG/JPEG/WebP/TIFF/GIF/AVIF/HEIC (PDF, SVG, BMP, JPEG 2000, ... through libvips' other loaders); only for files you trust."))
    var allowAllLoaders = false

    /// Opens libvips' other loaders when asked (process-wide; they are blocked by default).
    func apply() {
        if allowAllLoaders { ImageIO.loadersRestricted = false }
    }
}
