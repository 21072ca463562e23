public import SRCore

/// A decoded image: planar float samples in `[0, 1]`, channel-major (`c, h, w`), plus what must survive a round trip.
public struct Image: Sendable {
    public var width: Int
    public var height: Int
    /// 1 (gray), 2 (gray + alpha), 3 (RGB) or 4 (RGBA).
    public var channels: Int
    /// Planar samples, `channels * height * width`, each in `[0, 1]`.
    public var pixels: [Float]
    /// Bits per sample of the source (8 or 16); encoders keep it unless told otherwise.
    public var bitDepth: Int
    /// The embedded ICC profile, kept as-is.
    public var iccProfile: [UInt8]?
    /// The source's EXIF block (`"Exif\0\0"` and a TIFF structure, as libvips stores it), with its orientation tag
    /// already reset to 1 because `pixels` are upright. Written back only with `EncodeOptions.copyMetadata`.
    public var exif: [UInt8]?
    /// The source's XMP packet (UTF-8 XML), as stored. Written back only with `EncodeOptions.copyMetadata`.
    public var xmp: [UInt8]?

    public init(width: Int, height: Int, channels: Int, pixels: [Float], bitDepth: Int = 8, iccProfile: [UInt8]? = nil,
                exif: [UInt8]? = nil, xmp: [UInt8]? = nil) {
        precondition(pixels.count == width * height * channels, "pixel count does not match \(channels)x\(height)x\(width)")
        self.width = width
        self.height = height
        self.channels = channels
        self.pixels = pixels
        self.bitDepth = bitDepth
        self.iccProfile = iccProfile
        self.exif = exif
        self.xmp = xmp
    }

    public var hasAlpha: Bool { channels == 2 || channels == 4 }
    public var colorChannels: Int { hasAlpha ? channels - 1 : channels }

    /// The colour planes as a `[1, c, h, w]` tensor.
    public var colorTensor: Tensor {
        // Without alpha the planes are the whole array, shared copy-on-write rather than copied.
        hasAlpha ? Tensor(dims: [1, colorChannels, height, width], data: Array(pixels[0..<(colorChannels * width * height)]))
            : Tensor(dims: [1, colorChannels, height, width], data: pixels)
    }

    /// The alpha plane as a `[1, 1, h, w]` tensor, if any.
    public var alphaTensor: Tensor? {
        guard hasAlpha else { return nil }
        let plane = width * height
        return Tensor(dims: [1, 1, height, width], data: Array(pixels[(colorChannels * plane)...]))
    }

    /// Builds an image from colour planes and an optional alpha plane of the same size.
    public init(color: Tensor, alpha: Tensor?, bitDepth: Int, iccProfile: [UInt8]?, exif: [UInt8]? = nil, xmp: [UInt8]? = nil) {
        let s = color.shape
        self.init(width: s.w, height: s.h, channels: s.c + (alpha == nil ? 0 : 1),
                  pixels: color.data + (alpha?.data ?? []), bitDepth: bitDepth, iccProfile: iccProfile,
                  exif: exif, xmp: xmp)
    }
}
