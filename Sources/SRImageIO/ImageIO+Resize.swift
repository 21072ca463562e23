import VipsShim

extension ImageIO {
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
}
