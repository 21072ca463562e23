import Foundation
import VipsShim

extension ImageIO {

    /// Output encoders, chosen from a file extension.
    public enum Format: String, Sendable, CaseIterable {
        case png, jpeg, webp, tiff
        /// AV1 in HEIF (needs libvips' heif module with an AV1 encoder).
        case avif
        /// HEVC in HEIF, `.heic` or `.heif` (needs libvips' heif module with an HEVC encoder).
        case heic

        public init?(path: String) {
            switch (path as NSString).pathExtension.lowercased() {
            case "png": self = .png
            case "jpg", "jpeg": self = .jpeg
            case "webp": self = .webp
            case "tif", "tiff": self = .tiff
            case "avif": self = .avif
            case "heic", "heif": self = .heic
            default: return nil
            }
        }

        /// Recognises HEIF/AVIF by their ISO-BMFF `ftyp` box (used to explain a failed open).
        init?(sniffing head: [UInt8]) {
            guard head.count >= 12, head[4...7].elementsEqual("ftyp".utf8) else { return nil }
            switch String(decoding: head[8...11], as: UTF8.self) {
            case "avif", "avis": self = .avif
            case "heic", "heix", "hevc", "hevx", "heim", "heis", "mif1", "msf1": self = .heic
            default: return nil
            }
        }

        public var suffix: String {
            switch self {
            case .png: ".png"
            case .jpeg: ".jpg"
            case .webp: ".webp"
            case .tiff: ".tif"
            case .avif: ".avif"
            case .heic: ".heic"
            }
        }

        /// A name for messages.
        public var name: String {
            switch self {
            case .png: "PNG"
            case .jpeg: "JPEG"
            case .webp: "WebP"
            case .tiff: "TIFF"
            case .avif: "AVIF"
            case .heic: "HEIC"
            }
        }

        var libvipsModule: String {
            switch self {
            case .avif, .heic: "heif"
            default: rawValue
            }
        }

        private var operations: (load: String, save: String) {
            switch self {
            case .avif, .heic: ("heifload", "heifsave")
            default: ("\(rawValue)load", "\(rawValue)save")
            }
        }

        /// Whether this libvips can both read and write the format (checked at run time: HEIF/AVIF depend on how
        /// libvips was built). An installed heif module may still lack an encoder for one codec; encoding then
        /// fails with `encodeFailed` and libheif's message.
        public var isAvailable: Bool {
            _ = ImageIO.started
            return enh_vips_has_operation(operations.load) != 0 && enh_vips_has_operation(operations.save) != 0
        }

        /// JPEG is the only output without an alpha channel.
        public var supportsAlpha: Bool { self != .jpeg }
        var supports16Bit: Bool { self == .png || self == .tiff }
    }

    public struct EncodeOptions: Sendable {
        /// Lossy quality 1...100 (JPEG: default 92; WebP: 90; AVIF/HEIC: libvips' 50). Ignored by PNG and TIFF.
        public var quality: Int?
        /// Lossless WebP. PNG and TIFF are always lossless; asking it of JPEG, AVIF or HEIC is an error.
        public var lossless: Bool
        /// PNG zlib level 0 (none, fastest) ... 9 (smallest); default 6. Ignored by the other formats.
        public var compression: Int?
        /// Write the image's EXIF and XMP (EXIF orientation reset to 1, since the pixels are upright). JPEG, PNG,
        /// WebP and HEIF/AVIF carry both; libvips' TIFF writer carries XMP only. Off by default.
        public var copyMetadata: Bool
        /// When the image has an ICC profile: transform the pixels from it to sRGB and embed no profile. When false
        /// (the default) the profile is embedded unchanged.
        public var convertToSRGB: Bool
        /// Flatten alpha onto this colour (components in `[0, 1]`, sRGB): `out = a * c + (1 - a) * background`.
        /// Gray images use its luma (0.2126 r + 0.7152 g + 0.0722 b). Without it, encoding an image with alpha to a
        /// format without alpha (JPEG) throws `alphaNotSupported`; formats with alpha keep it.
        public var background: (r: Float, g: Float, b: Float)?

        public init(quality: Int? = nil, lossless: Bool = false, compression: Int? = nil, copyMetadata: Bool = false,
                    convertToSRGB: Bool = false, background: (r: Float, g: Float, b: Float)? = nil) {
            self.quality = quality
            self.lossless = lossless
            self.compression = compression
            self.copyMetadata = copyMetadata
            self.convertToSRGB = convertToSRGB
            self.background = background
        }
    }

    /// The values a background colour gives `colours` colour planes (its luma for gray), clamped to `[0, 1]`.
    public static func backgroundPlanes(_ background: (r: Float, g: Float, b: Float), colours: Int) -> [Float] {
        let planes = colours == 1
            ? [0.2126 * background.r + 0.7152 * background.g + 0.0722 * background.b]
            : [background.r, background.g, background.b]
        return planes.map { min(max($0, 0), 1) }
    }

    /// `image` composited onto `background` (float, before any quantisation), without its alpha plane.
    static func flatten(_ image: Image, onto background: (r: Float, g: Float, b: Float)) -> Image {
        guard image.hasAlpha else { return image }
        let plane = image.width * image.height
        let colours = image.colorChannels
        let bg = backgroundPlanes(background, colours: colours)
        var pixels = [Float](repeating: 0, count: plane * colours)
        image.pixels.withUnsafeBufferPointer { src in
            pixels.withUnsafeMutableBufferPointer { dst in
                for c in 0..<colours {
                    let b = bg[c]
                    for i in 0..<plane {
                        let a = min(max(src[colours * plane + i], 0), 1)
                        dst[c * plane + i] = a * src[c * plane + i] + (1 - a) * b
                    }
                }
            }
        }
        var out = image
        out.channels = colours
        out.pixels = pixels
        return out
    }

    static func options(_ format: Format, _ options: EncodeOptions) -> String {
        switch format {
        case .jpeg: "[Q=\(options.quality ?? 92),optimize_coding]"
        case .webp: options.lossless ? "[lossless]" : "[Q=\(options.quality ?? 90)]"
        case .png: "[compression=\(options.compression ?? 6)]"
        case .tiff: "[compression=deflate]"
        case .avif: "[Q=\(options.quality ?? 50),compression=av1]"
        case .heic: "[Q=\(options.quality ?? 50),compression=hevc]"
        }
    }

    /// Checks the options against the format and the raster as it will be written: alpha flattened when a
    /// background is given, 16-bit samples reduced to 8 for 8-bit-only formats.
    private static func prepare(_ raster: Raster, _ format: Format, _ options: EncodeOptions) throws(ImageIOError) -> Raster {
        try validate(options, format)
        var raster = raster
        if raster.hasAlpha {
            if let background = options.background {
                raster = raster.flattened(onto: background)
            } else if !format.supportsAlpha {
                throw .alphaNotSupported(format: format)
            }
        }
        return format.supports16Bit ? raster : raster.converted(toDepth: 8)
    }

    /// Checks the encoder options against the format.
    static func validate(_ options: EncodeOptions, _ format: Format) throws(ImageIOError) {
        if let q = options.quality, !(1...100).contains(q) {
            throw .invalidOption(name: "quality", detail: "\(q) is outside 1...100")
        }
        if let c = options.compression, !(0...9).contains(c) {
            throw .invalidOption(name: "compression", detail: "\(c) is outside 0...9 (PNG zlib level)")
        }
        if options.lossless, ![.webp, .png, .tiff].contains(format) {
            throw .invalidOption(name: "lossless", detail: "\(format.name) output is lossy; use WebP, PNG or TIFF")
        }
        guard format.isAvailable else { throw .formatUnavailable(format: format) }
    }

    /// The raster an `Image` becomes for `format` (flattened in float when a background is given).
    private static func raster(_ image: Image, _ format: Format, _ options: EncodeOptions) -> Raster {
        var image = image
        if image.hasAlpha, let background = options.background { image = flatten(image, onto: background) }
        return Raster(image, depth: format.supports16Bit ? image.bitDepth : 8)
    }

    /// Runs `body` with the C description of `raster` and what to attach to it.
    static func withEncodeInput<R>(_ raster: Raster, options: EncodeOptions,
                                           _ body: (UnsafePointer<EnhEncodeInput>) -> R) -> R {
        let exif = options.copyMetadata ? raster.exif : nil
        let xmp = options.copyMetadata ? raster.xmp : nil
        return raster.bytes.withUnsafeBytes { raw in
            raster.iccProfile.withUnsafeBufferPointerOrNil { icc in
                exif.withUnsafeBufferPointerOrNil { exif in
                    xmp.withUnsafeBufferPointerOrNil { xmp in
                        var input = EnhEncodeInput(
                            pixels: raw.baseAddress, width: Int32(raster.width), height: Int32(raster.height),
                            bands: Int32(raster.bands), depth: Int32(raster.depth),
                            icc: UnsafeRawPointer(icc?.baseAddress), icc_length: icc?.count ?? 0,
                            exif: UnsafeRawPointer(exif?.baseAddress), exif_length: exif?.count ?? 0,
                            xmp: UnsafeRawPointer(xmp?.baseAddress), xmp_length: xmp?.count ?? 0,
                            convert_to_srgb: options.convertToSRGB ? 1 : 0)
                        return withUnsafePointer(to: &input) { body($0) }
                    }
                }
            }
        }
    }

    /// Writes `image` to `path` atomically (a temporary file in the same folder, then a rename).
    public static func encode(_ image: Image, to path: String, options: EncodeOptions = EncodeOptions()) throws(ImageIOError) {
        guard let format = Format(path: path) else { throw .unsupportedOutputFormat(path: path) }
        try encode(raster(image, format, options), to: path, options: options)
    }

    /// Encodes `image` to memory in `format`.
    public static func encode(_ image: Image, format: Format, options: EncodeOptions = EncodeOptions()) throws(ImageIOError) -> [UInt8] {
        try encode(raster(image, format, options), format: format, options: options)
    }

    /// Writes `raster` to `path` atomically (a temporary file in the same folder, then a rename).
    public static func encode(_ raster: Raster, to path: String, options: EncodeOptions = EncodeOptions()) throws(ImageIOError) {
        _ = started
        guard let format = Format(path: path) else { throw .unsupportedOutputFormat(path: path) }
        let raster = try prepare(raster, format, options)
        PartialFiles.removeAbandoned(for: path)
        let temp = PartialFiles.temporary(for: path, suffix: format.suffix)
        let status = withEncodeInput(raster, options: options) { input in
            enh_vips_encode_file(input, temp + Self.options(format, options))
        }
        guard status == 0 else {
            try? FileManager.default.removeItem(atPath: temp)
            throw .encodeFailed(path: path, detail: lastError())
        }
        guard rename(temp, path) == 0 else {
            let reason = String(cString: strerror(errno))
            try? FileManager.default.removeItem(atPath: temp)
            throw .encodeFailed(path: path, detail: reason)
        }
    }

    /// Encodes `raster` to memory in `format`.
    public static func encode(_ raster: Raster, format: Format, options: EncodeOptions = EncodeOptions()) throws(ImageIOError) -> [UInt8] {
        _ = started
        let raster = try prepare(raster, format, options)
        var out: UnsafeMutableRawPointer?
        var length = 0
        let status = withEncodeInput(raster, options: options) { input in
            enh_vips_encode_buffer(input, format.suffix + Self.options(format, options), &out, &length)
        }
        guard status == 0, let out else { throw .encodeFailed(path: "<memory>", detail: lastError()) }
        defer { enh_vips_free(out) }
        return Array(UnsafeRawBufferPointer(start: out, count: length))
    }
}
