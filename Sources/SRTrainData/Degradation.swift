public import SRCore
public import SRMetrics
import SRImageIO

#if canImport(Glibc)
import Glibc
#endif

/// Real-world degradations applied on the fly to make the LR of a training patch, for models that should cope with
/// blurred, noisy, compressed inputs (the idea of Real-ESRGAN's first-order degradation, simplified): a Gaussian blur
/// of random width, MATLAB-bicubic downscaling, Gaussian noise, JPEG compression, rounding to 8 bits. Each step has
/// a probability and a range; all randomness comes from the batch's seeded generator.
public struct DegradationConfig: Sendable, Equatable {
    public var blurProbability: Float = 0.8
    /// Gaussian blur sigma in HR pixels.
    public var blurSigma: ClosedRange<Float> = 0.2...2.5
    public var noiseProbability: Float = 0.5
    /// Gaussian noise sigma on the 0...255 scale.
    public var noiseSigma: ClosedRange<Float> = 1...20
    public var jpegProbability: Float = 0.5
    public var jpegQuality: ClosedRange<Int> = 35...95

    public init() {}

    /// Degrades an HR patch (0...255 RGB) into its LR patch (0...255, whole levels).
    public func apply(_ hr: PlanarImage, scale: Int, using g: inout SeededGenerator) -> PlanarImage {
        var x = hr
        if Float.random(in: 0..<1, using: &g) < blurProbability {
            x = Self.blur(x, sigma: Float.random(in: blurSigma, using: &g))
        }
        x = MatlabResize.downscale(x, by: scale)
        if Float.random(in: 0..<1, using: &g) < noiseProbability {
            let sigma = Float.random(in: noiseSigma, using: &g)
            for i in x.data.indices { x.data[i] += sigma * g.nextNormal() }
        }
        x = SRProtocol.quantize(x)
        if Float.random(in: 0..<1, using: &g) < jpegProbability {
            x = Self.jpeg(x, quality: Int.random(in: jpegQuality, using: &g)) ?? x
        }
        return x
    }

    /// Separable Gaussian blur with reflected borders (kernel radius 3 sigma).
    static func blur(_ image: PlanarImage, sigma: Float) -> PlanarImage {
        let radius = max(1, Int((3 * sigma).rounded(.up)))
        var k = (-radius...radius).map { expf(-Float($0 * $0) / (2 * sigma * sigma)) }
        let total = k.reduce(0, +)
        k = k.map { $0 / total }
        func reflect(_ i: Int, _ n: Int) -> Int {
            guard n > 1 else { return 0 }
            var j = i
            while j < 0 || j >= n { j = j < 0 ? -j : 2 * (n - 1) - j }
            return j
        }
        let h = image.height, w = image.width
        var tmp = image, out = image
        for c in 0..<image.channels {
            for y in 0..<h { for x in 0..<w {
                var s: Float = 0
                for t in -radius...radius { s += k[t + radius] * image[c, y, reflect(x + t, w)] }
                tmp[c, y, x] = s
            } }
            for y in 0..<h { for x in 0..<w {
                var s: Float = 0
                for t in -radius...radius { s += k[t + radius] * tmp[c, reflect(y + t, h), x] }
                out[c, y, x] = s
            } }
        }
        return out
    }

    /// Encodes to JPEG at `quality` through libvips and decodes again (nil if libvips cannot).
    static func jpeg(_ image: PlanarImage, quality: Int) -> PlanarImage? {
        let rgb = Image(width: image.width, height: image.height, channels: 3, pixels: image.data.map { $0 / 255 })
        guard let bytes = try? ImageIO.encode(rgb, format: .jpeg, options: ImageIO.EncodeOptions(quality: quality)),
              let back = try? ImageIO.decode(data: bytes), back.width == image.width, back.height == image.height,
              back.colorChannels == 3 else { return nil }
        return PlanarImage(channels: 3, height: image.height, width: image.width,
                           data: back.pixels[0..<(3 * image.planeCount)].map { ($0 * 255).rounded() })
    }
}
