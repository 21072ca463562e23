import VipsShim
import Foundation

/// Decoding and encoding through libvips.
public enum ImageIO {
    /// Header facts read without decoding the pixels.
    public struct Header: Sendable, Equatable {
        public var width: Int
        public var height: Int
        public var bands: Int
        public var loader: String
    }

    private static let started: Bool = enh_vips_init() == 0

    private static func lastError() -> String {
        guard let p = enh_vips_last_error() else { return "" }
        defer { enh_vips_free(p) }
        return String(cString: p).trimmingCharacters(in: .whitespacesAndNewlines)
            .replacingOccurrences(of: "\n", with: "; ")
    }

    /// Reads only the header of the file at `path` (cheap: no pixel decoding).
    public static func header(path: String) throws(ImageIOError) -> Header {
        let image = try open(path: path)
        defer { enh_vips_unref(image) }
        return header(of: image)
    }

    /// Reads only the header of an encoded image in memory.
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
    /// source has more than 8.
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

    private static func open(path: String) throws(ImageIOError) -> OpaquePointer {
        _ = started
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { throw .fileNotFound(path: path) }
        guard !isDirectory.boolValue else { throw .notAnImage(source: path, detail: "it is a directory") }
        guard let image = enh_vips_open_file(path) else { throw .notAnImage(source: path, detail: lastError()) }
        return image
    }

    private static func open(buffer: UnsafeRawBufferPointer, source: String) throws(ImageIOError) -> OpaquePointer {
        _ = started
        guard buffer.count > 0, let base = buffer.baseAddress else { throw .notAnImage(source: source, detail: "it is empty") }
        guard let image = enh_vips_open_buffer(base, buffer.count) else { throw .notAnImage(source: source, detail: lastError()) }
        return image
    }

    private static func header(of image: OpaquePointer) -> Header {
        let o = enh_vips_orientation(image)
        let w = Int(enh_vips_width(image)), h = Int(enh_vips_height(image))
        let swapped = o >= 5 && o <= 8
        return Header(width: swapped ? h : w, height: swapped ? w : h, bands: Int(enh_vips_bands(image)),
                      loader: String(cString: enh_vips_loader(image)))
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
        let icc: [UInt8]? = iccLength > 0 ? Array(UnsafeRawBufferPointer(start: iccData, count: iccLength)) : nil
        enh_vips_free(iccData)

        var w: Int32 = 0, h: Int32 = 0, b: Int32 = 0
        guard let raw = enh_vips_decode(image, 1, gray ? 1 : 0, Int32(depth), &w, &h, &b) else {
            throw .decodeFailed(source: source, detail: lastError())
        }
        defer { enh_vips_free(raw) }
        let width = Int(w), height = Int(h), outBands = Int(b)
        guard (1...4).contains(outBands), bands > 0 else {
            throw .decodeFailed(source: source, detail: "unsupported band count \(outBands)")
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
        return Image(width: width, height: height, channels: outBands, pixels: pixels, bitDepth: depth, iccProfile: icc)
    }

    // MARK: - Encoding

    /// Output encoders, chosen from a file extension.
    public enum Format: String, Sendable, CaseIterable {
        case png, jpeg, webp, tiff

        public init?(path: String) {
            switch (path as NSString).pathExtension.lowercased() {
            case "png": self = .png
            case "jpg", "jpeg": self = .jpeg
            case "webp": self = .webp
            case "tif", "tiff": self = .tiff
            default: return nil
            }
        }

        public var suffix: String {
            switch self {
            case .png: ".png"
            case .jpeg: ".jpg"
            case .webp: ".webp"
            case .tiff: ".tif"
            }
        }

        var supportsAlpha: Bool { self != .jpeg }
        var supports16Bit: Bool { self == .png || self == .tiff }
    }

    public struct EncodeOptions: Sendable {
        /// Lossy quality 1...100 (JPEG, WebP).
        public var quality: Int?
        public init(quality: Int? = nil) { self.quality = quality }
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

    private static func options(_ format: Format, _ options: EncodeOptions) -> String {
        switch format {
        case .jpeg: "[Q=\(options.quality ?? 92),optimize_coding]"
        case .webp: options.quality.map { "[Q=\($0)]" } ?? "[Q=90]"
        case .png: "[compression=6]"
        case .tiff: "[compression=deflate]"
        }
    }

    /// Writes `image` to `path` atomically (a temporary file in the same folder, then a rename).
    public static func encode(_ image: Image, to path: String, options: EncodeOptions = EncodeOptions()) throws(ImageIOError) {
        _ = started
        guard let format = Format(path: path) else { throw .unsupportedOutputFormat(path: path) }
        let directory = (path as NSString).deletingLastPathComponent
        let temp = (directory.isEmpty ? "." : directory) + "/.\((path as NSString).lastPathComponent).\(UUID().uuidString.prefix(8)).partial\(format.suffix)"
        let depth = format.supports16Bit ? image.bitDepth : 8
        let (bytes, bands) = interleave(image, depth: depth, dropAlpha: !format.supportsAlpha)
        let status = bytes.withUnsafeBytes { raw in
            image.iccProfile.withUnsafeBufferPointerOrNil { icc in
                enh_vips_save_file(raw.baseAddress, Int32(image.width), Int32(image.height), Int32(bands), Int32(depth),
                                   icc?.baseAddress, icc?.count ?? 0, temp + Self.options(format, options))
            }
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
        let depth = format.supports16Bit ? image.bitDepth : 8
        let (bytes, bands) = interleave(image, depth: depth, dropAlpha: !format.supportsAlpha)
        var out: UnsafeMutableRawPointer?
        var length = 0
        let status = bytes.withUnsafeBytes { raw in
            image.iccProfile.withUnsafeBufferPointerOrNil { icc in
                enh_vips_save_buffer(raw.baseAddress, Int32(image.width), Int32(image.height), Int32(bands), Int32(depth),
                                     icc?.baseAddress, icc?.count ?? 0, format.suffix + Self.options(format, options),
                                     &out, &length)
            }
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
