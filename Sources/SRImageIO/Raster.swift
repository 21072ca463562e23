import VipsShim

/// A finished image in its compact form: interleaved 8- or 16-bit samples, what encoders take.
///
/// Upscaled outputs live here rather than in float `Image`s: a 16000x12000 RGB result is 576 MB at 8 bits instead
/// of 2.3 GB of floats. Samples are `round(v * max)` of values in `[0, 1]` (max 255 or 65535); 16-bit samples are
/// native-endian `UInt16`.
public struct Raster: Sendable {
    public let width: Int
    public let height: Int
    /// 1 (gray), 2 (gray + alpha), 3 (RGB) or 4 (RGBA).
    public let bands: Int
    /// 8 or 16.
    public let depth: Int
    public var bytes: [UInt8]
    public var iccProfile: [UInt8]?
    public var exif: [UInt8]?
    public var xmp: [UInt8]?

    /// A zero-filled raster.
    public init(width: Int, height: Int, bands: Int, depth: Int, iccProfile: [UInt8]? = nil,
                exif: [UInt8]? = nil, xmp: [UInt8]? = nil) {
        precondition(depth == 8 || depth == 16, "depth must be 8 or 16")
        self.width = width
        self.height = height
        self.bands = bands
        self.depth = depth
        self.bytes = [UInt8](repeating: 0, count: width * height * bands * (depth / 8))
        self.iccProfile = iccProfile
        self.exif = exif
        self.xmp = xmp
    }

    public var hasAlpha: Bool { bands == 2 || bands == 4 }

    /// Quantises a float image (at its own bit depth unless `depth` is given).
    public init(_ image: Image, depth: Int? = nil) {
        self.init(width: image.width, height: image.height, bands: image.channels, depth: depth ?? image.bitDepth,
                  iccProfile: image.iccProfile, exif: image.exif, xmp: image.xmp)
        setRows(0, planar: image.pixels, rows: image.height, firstBand: 0, bandCount: image.channels)
    }

    /// Writes planar float rows: `planar` holds `bandCount` planes of `rows x width` values (clamped to `[0, 1]`), stored in
    /// bands `firstBand..<firstBand + bandCount` of rows `firstRow..<firstRow + rows`.
    public mutating func setRows(_ firstRow: Int, planar: [Float], rows: Int, firstBand: Int, bandCount: Int) {
        precondition(planar.count == bandCount * rows * width && firstRow + rows <= height && firstBand + bandCount <= bands)
        let plane = rows * width, bands = self.bands, width = self.width
        let maxValue: Float = depth == 16 ? 65535 : 255
        let base = firstRow * width
        planar.withUnsafeBufferPointer { src in
            bytes.withUnsafeMutableBytes { raw in
                if depth == 8 {
                    let dst = raw.bindMemory(to: UInt8.self)
                    for c in 0..<bandCount { for i in 0..<plane {
                        dst[(base + i) * bands + firstBand + c] = UInt8(min(max(src[c * plane + i] * maxValue + 0.5, 0), maxValue))
                    } }
                } else {
                    let dst = raw.bindMemory(to: UInt16.self)
                    for c in 0..<bandCount { for i in 0..<plane {
                        dst[(base + i) * bands + firstBand + c] = UInt16(min(max(src[c * plane + i] * maxValue + 0.5, 0), maxValue))
                    } }
                }
            }
        }
    }

    /// Sample `band` of pixel (`x`, `y`) as a value in `[0, 1]`.
    public func value(x: Int, y: Int, band: Int) -> Float {
        let i = (y * width + x) * bands + band
        if depth == 8 { return Float(bytes[i]) / 255 }
        return bytes.withUnsafeBytes { Float($0.load(fromByteOffset: i * 2, as: UInt16.self)) / 65535 }
    }

    /// Back to planar floats.
    public var image: Image {
        let plane = width * height
        var pixels = [Float](repeating: 0, count: plane * bands)
        for i in 0..<plane { for c in 0..<bands { pixels[c * plane + i] = value(x: i % width, y: i / width, band: c) } }
        return Image(width: width, height: height, channels: bands, pixels: pixels, bitDepth: depth,
                     iccProfile: iccProfile, exif: exif, xmp: xmp)
    }

    /// The same samples at another depth (16 -> 8 rounds to nearest; 8 -> 16 scales by 257).
    public func converted(toDepth newDepth: Int) -> Raster {
        guard newDepth != depth else { return self }
        var out = Raster(width: width, height: height, bands: bands, depth: newDepth, iccProfile: iccProfile, exif: exif, xmp: xmp)
        let n = width * height * bands
        bytes.withUnsafeBytes { src in
            out.bytes.withUnsafeMutableBytes { dst in
                if newDepth == 8 {
                    let s = src.bindMemory(to: UInt16.self), d = dst.bindMemory(to: UInt8.self)
                    for i in 0..<n { d[i] = UInt8((UInt32(s[i]) * 255 + 32767) / 65535) }
                } else {
                    let s = src.bindMemory(to: UInt8.self), d = dst.bindMemory(to: UInt16.self)
                    for i in 0..<n { d[i] = UInt16(s[i]) * 257 }
                }
            }
        }
        return out
    }

    /// Composited onto `background` (values in `[0, 1]`), without alpha.
    public func flattened(onto background: (r: Float, g: Float, b: Float)) -> Raster {
        guard hasAlpha else { return self }
        let colours = bands - 1
        var out = Raster(width: width, height: height, bands: colours, depth: depth, iccProfile: iccProfile, exif: exif, xmp: xmp)
        let maxValue: Float = depth == 16 ? 65535 : 255
        let clampedBG = ImageIO.backgroundPlanes(background, colours: colours).map { $0 * maxValue }
        let pixels = width * height, bands = self.bands
        bytes.withUnsafeBytes { src in
            out.bytes.withUnsafeMutableBytes { dst in
                func composite(_ read: (Int) -> Float, _ write: (Int, Float) -> Void) {
                    for p in 0..<pixels {
                        let a = read(p * bands + colours) / maxValue
                        for c in 0..<colours { write(p * colours + c, a * read(p * bands + c) + (1 - a) * clampedBG[c] + 0.5) }
                    }
                }
                if depth == 8 {
                    let s = src.bindMemory(to: UInt8.self), d = dst.bindMemory(to: UInt8.self)
                    composite({ Float(s[$0]) }, { d[$0] = UInt8(min($1, maxValue)) })
                } else {
                    let s = src.bindMemory(to: UInt16.self), d = dst.bindMemory(to: UInt16.self)
                    composite({ Float(s[$0]) }, { d[$0] = UInt16(min($1, maxValue)) })
                }
            }
        }
        return out
    }
}

extension ImageIO {
    /// Resamples a raster to exactly `width` x `height` (lanczos3 down, nohalo up, alpha-premultiplied) without a
    /// full float copy.
    public static func resize(_ raster: Raster, width: Int, height: Int) throws(ImageIOError) -> Raster {
        _ = started
        guard width > 0, height > 0, width <= 10_000_000, height <= 10_000_000 else {
            throw .resizeFailed(detail: "target size \(width)x\(height) is out of range")
        }
        if width == raster.width && height == raster.height { return raster }
        let result = raster.bytes.withUnsafeBytes { src in
            enh_vips_resize_samples(src.baseAddress, Int32(raster.width), Int32(raster.height), Int32(raster.bands),
                                    Int32(raster.depth), raster.hasAlpha ? 1 : 0, Int32(width), Int32(height))
        }
        guard let result else { throw .resizeFailed(detail: lastError()) }
        defer { enh_vips_free(result) }
        var out = Raster(width: width, height: height, bands: raster.bands, depth: raster.depth,
                         iccProfile: raster.iccProfile, exif: raster.exif, xmp: raster.xmp)
        out.bytes.withUnsafeMutableBytes { $0.copyMemory(from: UnsafeRawBufferPointer(start: result, count: $0.count)) }
        return out
    }
}
