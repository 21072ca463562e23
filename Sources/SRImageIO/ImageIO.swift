import VipsShim
import Foundation

/// Decoding, encoding and resampling through libvips.
public enum ImageIO {
    /// Header facts read without decoding the pixels.
    public struct Header: Sendable, Equatable {
        public var width: Int
        public var height: Int
        public var bands: Int
        public var loader: String
    }

    fileprivate static let started: Bool = enh_vips_init() == 0

    fileprivate static func lastError() -> String {
        guard let p = enh_vips_last_error() else { return "" }
        defer { enh_vips_free(p) }
        return String(cString: p).trimmingCharacters(in: .whitespacesAndNewlines)
            .replacingOccurrences(of: "\n", with: "; ")
    }

    /// Reads only the header of the file at `path` (cheap: no pixel decoding, whatever size the header claims).
    public static func header(path: String) throws(ImageIOError) -> Header {
        let image = try open(path: path)
        defer { enh_vips_unref(image) }
        return header(of: image)
    }

    /// Reads only the header of an encoded image in memory (cheap: no pixel decoding, whatever size it claims).
    public static func header(data: [UInt8]) throws(ImageIOError) -> Header {
        try data.withUnsafeBytes { raw in
            Result { () throws(ImageIOError) -> Header in
                let image = try open(buffer: raw, source: "the uploaded data")
                defer { enh_vips_unref(image) }
                return header(of: image)
            }
        }.get()
    }

    /// Decodes the file at `path`: upright by EXIF orientation, in sRGB (or gray), keeping alpha, 16 bits when the
    /// source has more than 8, with its ICC profile, EXIF and XMP.
    public static func decode(path: String) throws(ImageIOError) -> Image {
        let image = try open(path: path)
        defer { enh_vips_unref(image) }
        return try decode(image, source: path)
    }

    /// Decodes an encoded image held in memory.
    public static func decode(data: [UInt8]) throws(ImageIOError) -> Image {
        try data.withUnsafeBytes { raw in
            Result { () throws(ImageIOError) -> Image in
                let image = try open(buffer: raw, source: "the uploaded data")
                defer { enh_vips_unref(image) }
                return try decode(image, source: "the uploaded data")
            }
        }.get()
    }

    /// Like `decode(path:)`, but first reads the header and throws `tooLarge` — before any pixel is allocated —
    /// when the image has more than `maxPixels` pixels.
    public static func decode(path: String, maxPixels: Int) throws(ImageIOError) -> Image {
        let image = try open(path: path)
        defer { enh_vips_unref(image) }
        try check(header(of: image), maxPixels: maxPixels)
        return try decode(image, source: path)
    }

    /// Like `decode(data:)`, with the pixel-count check of `decode(path:maxPixels:)`.
    public static func decode(data: [UInt8], maxPixels: Int) throws(ImageIOError) -> Image {
        try data.withUnsafeBytes { raw in
            Result { () throws(ImageIOError) -> Image in
                let image = try open(buffer: raw, source: "the uploaded data")
                defer { enh_vips_unref(image) }
                try check(header(of: image), maxPixels: maxPixels)
                return try decode(image, source: "the uploaded data")
            }
        }.get()
    }

    private static func check(_ header: Header, maxPixels: Int) throws(ImageIOError) {
        let (pixels, overflow) = header.width.multipliedReportingOverflow(by: header.height)
        if overflow || pixels > maxPixels {
            throw .tooLarge(width: header.width, height: header.height, limit: maxPixels)
        }
    }

    private static func open(path: String) throws(ImageIOError) -> OpaquePointer {
        _ = started
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { throw .fileNotFound(path: path) }
        guard !isDirectory.boolValue else { throw .notAnImage(source: path, detail: "it is a directory") }
        guard let image = enh_vips_open_file(path) else {
            let detail = lastError()
            if let format = Format(sniffing: leadingBytes(of: path)), !format.isAvailable {
                throw .formatUnavailable(format: format)
            }
            throw .notAnImage(source: path, detail: detail)
        }
        return image
    }

    private static func leadingBytes(of path: String) -> [UInt8] {
        guard let handle = FileHandle(forReadingAtPath: path) else { return [] }
        defer { try? handle.close() }
        let data: Data? = try? handle.read(upToCount: 16)
        return data.map { [UInt8]($0) } ?? []
    }

    private static func open(buffer: UnsafeRawBufferPointer, source: String) throws(ImageIOError) -> OpaquePointer {
        _ = started
        guard buffer.count > 0, let base = buffer.baseAddress else { throw .notAnImage(source: source, detail: "it is empty") }
        guard let image = enh_vips_open_buffer(base, buffer.count) else {
            let detail = lastError()
            if let format = Format(sniffing: Array(buffer.prefix(16))), !format.isAvailable {
                throw .formatUnavailable(format: format)
            }
            throw .notAnImage(source: source, detail: detail)
        }
        return image
    }

    private static func header(of image: OpaquePointer) -> Header {
        let o = enh_vips_orientation(image)
        let w = Int(enh_vips_width(image)), h = Int(enh_vips_height(image))
        let swapped = o >= 5 && o <= 8
        return Header(width: swapped ? h : w, height: swapped ? w : h, bands: Int(enh_vips_bands(image)),
                      loader: String(cString: enh_vips_loader(image)))
    }

    private static func bytes(_ pointer: UnsafeMutableRawPointer?, _ count: Int) -> [UInt8]? {
        guard let pointer, count > 0 else { return nil }
        return Array(UnsafeRawBufferPointer(start: pointer, count: count))
    }

    private static func decode(_ image: OpaquePointer, source: String) throws(ImageIOError) -> Image {
        let bands = Int(enh_vips_bands(image))
        let interpretation = enh_vips_interpretation(image)
        // VIPS_INTERPRETATION_B_W = 1, GREY16 = 26; FORMAT_UCHAR = 0, CHAR = 1.
        let gray = interpretation == 1 || interpretation == 26
        let format = enh_vips_format(image)
        let depth = (format == 0 || format == 1) ? 8 : 16
        var iccData: UnsafeMutableRawPointer?
        let iccLength = enh_vips_icc_profile(image, &iccData)
        let sourceProfile = bytes(iccData, iccLength)
        enh_vips_free(iccData)

        var decoded = EnhDecoded()
        guard enh_vips_decode_full(image, 1, gray ? 1 : 0, Int32(depth), &decoded) == 0, let raw = decoded.pixels else {
            throw .decodeFailed(source: source, detail: lastError())
        }
        defer {
            enh_vips_free(decoded.pixels)
            enh_vips_free(decoded.exif)
            enh_vips_free(decoded.xmp)
        }
        let width = Int(decoded.width), height = Int(decoded.height), outBands = Int(decoded.bands)
        guard (1...4).contains(outBands), bands > 0 else {
            throw .decodeFailed(source: source, detail: "unsupported band count \(outBands)")
        }
        // libvips converted CMYK (or Lab, ...) sources to sRGB using their profile: that profile no longer describes
        // the pixels, so keep a profile only when its colour space is the pixels' own.
        let icc = sourceProfile.flatMap { profile in
            profileColourSpace(profile) == (outBands <= 2 ? "GRAY" : "RGB ") ? profile : nil
        }
        let plane = width * height
        var pixels = [Float](repeating: 0, count: plane * outBands)
        pixels.withUnsafeMutableBufferPointer { dst in
            if depth == 8 {
                let src = raw.assumingMemoryBound(to: UInt8.self)
                let k: Float = 1 / 255
                for i in 0..<plane { for c in 0..<outBands { dst[c * plane + i] = Float(src[i * outBands + c]) * k } }
            } else {
                let src = raw.assumingMemoryBound(to: UInt16.self)
                let k: Float = 1 / 65535
                for i in 0..<plane { for c in 0..<outBands { dst[c * plane + i] = Float(src[i * outBands + c]) * k } }
            }
        }
        return Image(width: width, height: height, channels: outBands, pixels: pixels, bitDepth: depth, iccProfile: icc,
                     exif: bytes(decoded.exif, decoded.exif_length), xmp: bytes(decoded.xmp, decoded.xmp_length))
    }

    /// The data colour space signature of an ICC profile (header bytes 16..<20), e.g. "RGB ", "GRAY", "CMYK".
    static func profileColourSpace(_ profile: [UInt8]) -> String? {
        guard profile.count >= 128 else { return nil }
        return String(decoding: profile[16..<20], as: UTF8.self)
    }

    /// One of the ICC profiles built into libvips — `"srgb"`, `"p3"` (Display P3) or `"cmyk"` — or nil.
    public static func builtinProfile(named name: String) -> [UInt8]? {
        _ = started
        var data: UnsafeMutableRawPointer?
        let length = enh_vips_builtin_profile(name, &data)
        defer { enh_vips_free(data) }
        _ = lastError()
        return bytes(data, length)
    }

    // MARK: - Resampling

    /// Resamples every channel (alpha included) to exactly `width` x `height`; the two axes scale independently.
    ///
    /// Runs on float32 data in libvips (no 8/16-bit rounding on the way). Colour is premultiplied by alpha first, so
    /// transparent pixels do not bleed into their neighbours, and divided again afterwards. A shrinking axis uses a
    /// lanczos3 kernel as wide as the shrink factor needs (libvips' reduce, no box pre-shrink); a growing axis uses
    /// libvips' nohalo interpolator, centre-aligned (pixel centres map to pixel centres). Results are clamped to
    /// `[0, 1]` (lanczos overshoot). Bit depth, ICC profile, EXIF and XMP are kept.
    public static func resize(_ image: Image, width: Int, height: Int) throws(ImageIOError) -> Image {
        _ = started
        guard width > 0, height > 0 else { throw .resizeFailed(detail: "target size \(width)x\(height) is empty") }
        guard image.width > 0, image.height > 0, image.channels > 0 else {
            throw .resizeFailed(detail: "the image is \(image.width)x\(image.height) with \(image.channels) channels")
        }
        let (area, overflow1) = width.multipliedReportingOverflow(by: height)
        let (_, overflow2) = area.multipliedReportingOverflow(by: image.channels * MemoryLayout<Float>.size)
        guard !overflow1, !overflow2, width <= 10_000_000, height <= 10_000_000 else {
            throw .resizeFailed(detail: "target size \(width)x\(height) is too large")
        }
        if width == image.width && height == image.height { return image }

        let bands = image.channels
        let plane = image.width * image.height
        let alpha = image.hasAlpha ? bands - 1 : nil
        // Interleaved, colour premultiplied by alpha.
        var interleaved = [Float](repeating: 0, count: plane * bands)
        image.pixels.withUnsafeBufferPointer { src in
            interleaved.withUnsafeMutableBufferPointer { dst in
                for i in 0..<plane {
                    let a = alpha.map { src[$0 * plane + i] } ?? 1
                    for c in 0..<bands {
                        let v = src[c * plane + i]
                        dst[i * bands + c] = c == alpha ? v : v * a
                    }
                }
            }
        }
        let result = interleaved.withUnsafeBufferPointer { src in
            enh_vips_resize(src.baseAddress, Int32(image.width), Int32(image.height), Int32(bands), Int32(width), Int32(height))
        }
        guard let result else { throw .resizeFailed(detail: lastError()) }
        defer { enh_vips_free(result) }

        let outPlane = width * height
        var pixels = [Float](repeating: 0, count: outPlane * bands)
        pixels.withUnsafeMutableBufferPointer { dst in
            for i in 0..<outPlane {
                var a: Float = 1
                if let alpha { a = min(max(result[i * bands + alpha], 0), 1); dst[alpha * outPlane + i] = a }
                for c in 0..<bands where c != alpha {
                    let v = result[i * bands + c]
                    // Where alpha is (almost) zero the colour is undefined; use 0 rather than amplify noise.
                    let colour = alpha == nil ? v : (a > 1e-6 ? v / a : 0)
                    dst[c * outPlane + i] = min(max(colour, 0), 1)
                }
            }
        }
        return Image(width: width, height: height, channels: bands, pixels: pixels, bitDepth: image.bitDepth,
                     iccProfile: image.iccProfile, exif: image.exif, xmp: image.xmp)
    }

    // MARK: - Encoding

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

    /// Converts to interleaved 8/16-bit samples, rounding to nearest (ncnn-style truncation of `v*max + 0.5`).
    static func interleave(_ image: Image, depth: Int, dropAlpha: Bool) -> (bytes: [UInt8], bands: Int) {
        let plane = image.width * image.height
        let bands = dropAlpha && image.hasAlpha ? image.channels - 1 : image.channels
        let maxValue: Float = depth == 16 ? 65535 : 255
        var out = [UInt8](repeating: 0, count: plane * bands * (depth / 8))
        image.pixels.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBytes { raw in
                if depth == 8 {
                    let dst = raw.bindMemory(to: UInt8.self)
                    for i in 0..<plane { for c in 0..<bands {
                        dst[i * bands + c] = UInt8(min(max(src[c * plane + i] * maxValue + 0.5, 0), maxValue))
                    } }
                } else {
                    let dst = raw.bindMemory(to: UInt16.self)
                    for i in 0..<plane { for c in 0..<bands {
                        dst[i * bands + c] = UInt16(min(max(src[c * plane + i] * maxValue + 0.5, 0), maxValue))
                    } }
                }
            }
        }
        return (out, bands)
    }

    /// `image` composited onto `background` (float, before any quantisation), without its alpha plane.
    static func flatten(_ image: Image, onto background: (r: Float, g: Float, b: Float)) -> Image {
        guard image.hasAlpha else { return image }
        let plane = image.width * image.height
        let colours = image.colorChannels
        let bg: [Float] = colours == 1
            ? [0.2126 * background.r + 0.7152 * background.g + 0.0722 * background.b]
            : [background.r, background.g, background.b]
        var pixels = [Float](repeating: 0, count: plane * colours)
        image.pixels.withUnsafeBufferPointer { src in
            pixels.withUnsafeMutableBufferPointer { dst in
                for c in 0..<colours {
                    let b = min(max(bg[c], 0), 1)
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

    private static func options(_ format: Format, _ options: EncodeOptions) -> String {
        switch format {
        case .jpeg: "[Q=\(options.quality ?? 92),optimize_coding]"
        case .webp: options.lossless ? "[lossless]" : "[Q=\(options.quality ?? 90)]"
        case .png: "[compression=\(options.compression ?? 6)]"
        case .tiff: "[compression=deflate]"
        case .avif: "[Q=\(options.quality ?? 50),compression=av1]"
        case .heic: "[Q=\(options.quality ?? 50),compression=hevc]"
        }
    }

    /// Checks the options against the format and returns the image as it will be written (alpha flattened when a
    /// background is given).
    private static func prepare(_ image: Image, _ format: Format, _ options: EncodeOptions) throws(ImageIOError) -> Image {
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
        if image.hasAlpha {
            if let background = options.background { return flatten(image, onto: background) }
            guard format.supportsAlpha else { throw .alphaNotSupported(format: format) }
        }
        return image
    }

    /// Runs `body` with the C description of `image` (quantised to `depth` bits) and what to attach to it.
    private static func withEncodeInput<R>(_ image: Image, depth: Int, options: EncodeOptions,
                                           _ body: (UnsafePointer<EnhEncodeInput>) -> R) -> R {
        let (bytes, bands) = interleave(image, depth: depth, dropAlpha: false)
        let exif = options.copyMetadata ? image.exif : nil
        let xmp = options.copyMetadata ? image.xmp : nil
        return bytes.withUnsafeBytes { raw in
            image.iccProfile.withUnsafeBufferPointerOrNil { icc in
                exif.withUnsafeBufferPointerOrNil { exif in
                    xmp.withUnsafeBufferPointerOrNil { xmp in
                        var input = EnhEncodeInput(
                            pixels: raw.baseAddress, width: Int32(image.width), height: Int32(image.height),
                            bands: Int32(bands), depth: Int32(depth),
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
        _ = started
        guard let format = Format(path: path) else { throw .unsupportedOutputFormat(path: path) }
        let image = try prepare(image, format, options)
        let directory = (path as NSString).deletingLastPathComponent
        let temp = (directory.isEmpty ? "." : directory) + "/.\((path as NSString).lastPathComponent).\(UUID().uuidString.prefix(8)).partial\(format.suffix)"
        let depth = format.supports16Bit ? image.bitDepth : 8
        let status = withEncodeInput(image, depth: depth, options: options) { input in
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

    /// Encodes `image` to memory in `format`.
    public static func encode(_ image: Image, format: Format, options: EncodeOptions = EncodeOptions()) throws(ImageIOError) -> [UInt8] {
        _ = started
        let image = try prepare(image, format, options)
        let depth = format.supports16Bit ? image.bitDepth : 8
        var out: UnsafeMutableRawPointer?
        var length = 0
        let status = withEncodeInput(image, depth: depth, options: options) { input in
            enh_vips_encode_buffer(input, format.suffix + Self.options(format, options), &out, &length)
        }
        guard status == 0, let out else { throw .encodeFailed(path: "<memory>", detail: lastError()) }
        defer { enh_vips_free(out) }
        return Array(UnsafeRawBufferPointer(start: out, count: length))
    }
}

extension Optional where Wrapped == [UInt8] {
    func withUnsafeBufferPointerOrNil<R>(_ body: (UnsafeBufferPointer<UInt8>?) -> R) -> R {
        switch self {
        case .some(let a): a.withUnsafeBufferPointer { body($0) }
        case .none: body(nil)
        }
    }
}
