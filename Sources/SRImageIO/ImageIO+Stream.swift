import Foundation
import VipsShim

/// Output rows computed on demand, so an encoder can write an image that never exists whole in memory.
public protocol RowProducer: AnyObject {
    var width: Int { get }
    var height: Int { get }
    /// Bands as produced: 1 gray, 2 gray+alpha, 3 RGB, 4 RGBA.
    var bands: Int { get }
    /// Bits per sample the source had (8 or 16).
    var depth: Int { get }
    var iccProfile: [UInt8]? { get }
    var exif: [UInt8]? { get }
    var xmp: [UInt8]? { get }
    /// Writes rows `firstRow..<firstRow + count` interleaved at `depth` bits; when `background` is given, alpha is
    /// composited onto it and left out (`bands - 1` bands). Rows are asked for in increasing order.
    func produce(firstRow: Int, count: Int, depth: Int, background: (r: Float, g: Float, b: Float)?,
                 into buffer: UnsafeMutableRawPointer) throws
}

/// What the C row callback needs; the first Swift error is kept to report it.
private final class StreamContext {
    let producer: any RowProducer
    let depth: Int
    let background: (r: Float, g: Float, b: Float)?
    var error: (any Error)?

    init(producer: any RowProducer, depth: Int, background: (r: Float, g: Float, b: Float)?) {
        self.producer = producer
        self.depth = depth
        self.background = background
    }
}

private let streamSource: EnhRowSource = { context, first, rows, buffer in
    let stream = Unmanaged<StreamContext>.fromOpaque(context!).takeUnretainedValue()
    guard stream.error == nil, let buffer else { return -1 }
    do {
        try stream.producer.produce(firstRow: Int(first), count: Int(rows), depth: stream.depth,
                                    background: stream.background, into: buffer)
        return 0
    } catch {
        stream.error = error
        return -1
    }
}

extension ImageIO {
    /// Writes the rows of `producer` to `path` atomically while they are being computed.
    public static func encode(_ producer: any RowProducer, to path: String,
                              options: EncodeOptions = EncodeOptions()) throws(ImageIOError) {
        _ = started
        guard let format = Format(path: path) else { throw .unsupportedOutputFormat(path: path) }
        PartialFiles.removeAbandoned(for: path)
        let temp = PartialFiles.temporary(for: path, suffix: format.suffix)
        try stream(producer, format: format, options: options, failure: path) { input, source, context in
            enh_vips_encode_stream_file(input, source, context, temp + Self.options(format, options))
        } onFailure: {
            try? FileManager.default.removeItem(atPath: temp)
        }
        guard rename(temp, path) == 0 else {
            let reason = String(cString: strerror(errno))
            try? FileManager.default.removeItem(atPath: temp)
            throw .encodeFailed(path: path, detail: reason)
        }
    }

    /// Encodes the rows of `producer` to memory in `format`.
    public static func encode(_ producer: any RowProducer, format: Format,
                              options: EncodeOptions = EncodeOptions()) throws(ImageIOError) -> [UInt8] {
        _ = started
        var out: UnsafeMutableRawPointer?
        var length = 0
        try stream(producer, format: format, options: options, failure: "<memory>") { input, source, context in
            enh_vips_encode_stream_buffer(input, source, context, format.suffix + Self.options(format, options), &out, &length)
        } onFailure: {}
        guard let out else { throw .encodeFailed(path: "<memory>", detail: "the encoder returned no data") }
        defer { enh_vips_free(out) }
        return Array(UnsafeRawBufferPointer(start: out, count: length))
    }

    private static func stream(_ producer: any RowProducer, format: Format, options: EncodeOptions, failure path: String,
                               _ encode: (UnsafePointer<EnhEncodeInput>, EnhRowSource, UnsafeMutableRawPointer) -> Int32,
                               onFailure: () -> Void) throws(ImageIOError) {
        try validate(options, format)
        let hasAlpha = producer.bands == 2 || producer.bands == 4
        var background = options.background
        if !hasAlpha { background = nil }
        if hasAlpha, background == nil, !format.supportsAlpha { throw .alphaNotSupported(format: format) }
        let depth = format.supports16Bit ? producer.depth : 8
        let bands = background == nil ? producer.bands : producer.bands - 1
        let context = StreamContext(producer: producer, depth: depth, background: background)
        let exif = options.copyMetadata ? producer.exif : nil, xmp = options.copyMetadata ? producer.xmp : nil
        let status = withExtendedLifetime(context) {
            producer.iccProfile.withUnsafeBufferPointerOrNil { icc in
                exif.withUnsafeBufferPointerOrNil { exif in
                    xmp.withUnsafeBufferPointerOrNil { xmp in
                        var input = EnhEncodeInput(
                            pixels: nil, width: Int32(producer.width), height: Int32(producer.height),
                            bands: Int32(bands), depth: Int32(depth),
                            icc: UnsafeRawPointer(icc?.baseAddress), icc_length: icc?.count ?? 0,
                            exif: UnsafeRawPointer(exif?.baseAddress), exif_length: exif?.count ?? 0,
                            xmp: UnsafeRawPointer(xmp?.baseAddress), xmp_length: xmp?.count ?? 0,
                            convert_to_srgb: options.convertToSRGB ? 1 : 0)
                        return encode(&input, streamSource, Unmanaged.passUnretained(context).toOpaque())
                    }
                }
            }
        }
        let message = lastError()
        guard status == 0, context.error == nil else {
            onFailure()
            if let error = context.error { throw .encodeFailed(path: path, detail: "producing the image failed: \(error)") }
            throw .encodeFailed(path: path, detail: message)
        }
    }
}
