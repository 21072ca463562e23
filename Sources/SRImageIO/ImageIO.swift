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
        /// Pages or frames in the file: 1 for a still image, more for an animated GIF/WebP or a multi-page TIFF
        /// (only the first is decoded).
        public var pages: Int = 1

        public init(width: Int, height: Int, bands: Int, loader: String, pages: Int = 1) {
            self.width = width
            self.height = height
            self.bands = bands
            self.loader = loader
            self.pages = pages
        }

        /// A warning to show the user when the file holds more than the one frame or page that is upscaled.
        public var droppedFramesWarning: String? {
            guard pages > 1 else { return nil }
            let what = loader.hasPrefix("tiff") ? "pages" : "frames"
            return "the image has \(pages) \(what); only the first is upscaled"
        }
    }

    /// The formats Enhance accepts from untrusted input (`loadersRestricted`), for messages.
    public static let acceptedFormats = "PNG, JPEG, WebP, TIFF, GIF, AVIF and HEIC"

    /// Whether only the loaders of the documented raster formats (PNG, JPEG, WebP, TIFF, GIF, AVIF/HEIC) may open
    /// images — the default, and always so in the server. libvips' other loaders (ImageMagick, PDF, SVG, JPEG 2000,
    /// JPEG XL, FITS, OpenEXR, ...) parse formats an upscaler has no need of, some of them expensive (an SVG's
    /// header is the whole document) or with a long record of vulnerabilities; they are blocked with
    /// `vips_block_untrusted_set` and `vips_operation_block_set`. Process-wide.
    public static var loadersRestricted: Bool {
        get { _ = started; return enh_vips_loaders_restricted() != 0 }
        set { _ = started; enh_vips_restrict_loaders(newValue ? 1 : 0) }
    }

    static let started: Bool = enh_vips_init() == 0

    static func lastError() -> String {
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
        // stat follows symbolic links. Only regular files: a FIFO or a device (/dev/zero) would block or never end.
        var info = stat()
        guard stat(path, &info) == 0 else {
            if errno == ENOENT || errno == ENOTDIR { throw .fileNotFound(path: path) }
            throw .notAnImage(source: path, detail: String(cString: strerror(errno)))
        }
        switch info.st_mode & S_IFMT {
        case S_IFREG: break
        case S_IFDIR: throw .notAnImage(source: path, detail: "it is a directory")
        case S_IFIFO: throw .notAnImage(source: path, detail: "it is a FIFO (named pipe), not a regular file")
        case S_IFCHR, S_IFBLK: throw .notAnImage(source: path, detail: "it is a device, not a regular file")
        default: throw .notAnImage(source: path, detail: "it is not a regular file")
        }
        guard let image = enh_vips_open_file(path) else {
            throw openFailure(source: path, head: leadingBytes(of: path))
        }
        return image
    }

    /// Why libvips could not open an image whose first bytes are `head`.
    private static func openFailure(source: String, head: [UInt8]) -> ImageIOError {
        let detail = lastError()
        if let format = Format(sniffing: head), !format.isAvailable { return .formatUnavailable(format: format) }
        if loadersRestricted, let name = BlockedFormat.name(sniffing: head) {
            return .formatNotAccepted(source: source, format: name)
        }
        return .notAnImage(source: source, detail: detail)
    }

    private static func leadingBytes(of path: String) -> [UInt8] {
        guard let handle = FileHandle(forReadingAtPath: path) else { return [] }
        defer { try? handle.close() }
        let data: Data? = try? handle.read(upToCount: 512)
        return data.map { [UInt8]($0) } ?? []
    }

    private static func open(buffer: UnsafeRawBufferPointer, source: String) throws(ImageIOError) -> OpaquePointer {
        _ = started
        guard buffer.count > 0, let base = buffer.baseAddress else { throw .notAnImage(source: source, detail: "it is empty") }
        guard let image = enh_vips_open_buffer(base, buffer.count) else {
            throw openFailure(source: source, head: Array(buffer.prefix(512)))
        }
        return image
    }

    private static func header(of image: OpaquePointer) -> Header {
        let o = enh_vips_orientation(image)
        let w = Int(enh_vips_width(image)), h = Int(enh_vips_height(image))
        let swapped = o >= 5 && o <= 8
        return Header(width: swapped ? h : w, height: swapped ? w : h, bands: Int(enh_vips_bands(image)),
                      loader: String(cString: enh_vips_loader(image)), pages: max(1, Int(enh_vips_pages(image))))
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
}

extension Optional where Wrapped == [UInt8] {
    func withUnsafeBufferPointerOrNil<R>(_ body: (UnsafeBufferPointer<UInt8>?) -> R) -> R {
        switch self {
        case .some(let a): a.withUnsafeBufferPointer { body($0) }
        case .none: body(nil)
        }
    }
}
