/// The evaluation protocol of the super-resolution papers (SRCNN, VDSR, EDSR, ...), step by step.
///
/// HR images are cropped to a multiple of the scale; the LR input is MATLAB `imresize(HR, 1/scale, 'bicubic')`
/// rounded to 8 bits; an SR output is rounded to 8 bits; both are compared on MATLAB `rgb2ycbcr`'s Y channel (a gray
/// image is its own Y) with `scale` pixels shaved from every side, by PSNR (peak 255) and SSIM. All values here are
/// on the 0...255 scale.
public enum SRProtocol {
    /// PSNR and SSIM of one image.
    public struct Score: Sendable, Equatable {
        public var psnr: Double
        public var ssim: Double
        public init(psnr: Double, ssim: Double) {
            self.psnr = psnr
            self.ssim = ssim
        }
    }

    /// Crops the bottom and right so both sides are multiples of `scale`.
    public static func modCrop(_ image: PlanarImage, scale: Int) -> PlanarImage {
        let h = image.height / scale * scale, w = image.width / scale * scale
        if h == image.height && w == image.width { return image }
        var out = PlanarImage(zeros: image.channels, height: h, width: w)
        for c in 0..<image.channels { for y in 0..<h { for x in 0..<w { out[c, y, x] = image[c, y, x] } } }
        return out
    }

    /// Rounds to whole 8-bit levels and clamps to 0...255, as MATLAB does when a result is stored as uint8.
    public static func quantize(_ image: PlanarImage) -> PlanarImage {
        var out = image
        for i in out.data.indices { out.data[i] = min(max(out.data[i].rounded(.toNearestOrAwayFromZero), 0), 255) }
        return out
    }

    /// The LR input of the protocol: `imresize(modcrop(HR), 1/scale, 'bicubic')` as uint8.
    public static func lowResolution(_ hr: PlanarImage, scale: Int) -> PlanarImage {
        quantize(MatlabResize.downscale(modCrop(hr, scale: scale), by: scale))
    }

    /// The bicubic baseline: `imresize(LR, scale, 'bicubic')` as uint8.
    public static func bicubic(_ lr: PlanarImage, scale: Int) -> PlanarImage {
        quantize(MatlabResize.upscale(lr, by: scale))
    }

    /// MATLAB `rgb2ycbcr` luma of uint8 RGB (BT.601, 16...235), rounded to uint8; a single channel is returned as is.
    public static func luma(_ image: PlanarImage) -> PlanarImage {
        guard image.channels >= 3 else {
            return PlanarImage(channels: 1, height: image.height, width: image.width,
                               data: Array(image.data[0..<image.planeCount]))
        }
        let n = image.planeCount
        var y = [Float](repeating: 0, count: n)
        image.data.withUnsafeBufferPointer { p in
            for i in 0..<n {
                let v = 16 + (65.481 * Double(p[i]) + 128.553 * Double(p[n + i]) + 24.966 * Double(p[2 * n + i])) / 255
                y[i] = Float(v.rounded(.toNearestOrAwayFromZero))
            }
        }
        return PlanarImage(channels: 1, height: image.height, width: image.width, data: y)
    }

    /// Scores an SR output against the mod-cropped HR image (both uint8 levels, same size) on Y, shaving `scale`.
    public static func score(hr: PlanarImage, sr: PlanarImage, scale: Int) -> Score {
        let a = luma(modCrop(hr, scale: scale)), b = luma(quantize(sr))
        precondition(a.height == b.height && a.width == b.width, "the SR output must be the size of the cropped HR image")
        return Score(psnr: Metrics.psnr(a, b, border: scale), ssim: Metrics.ssim(a, b, border: scale))
    }
}
