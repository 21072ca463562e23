#if canImport(Glibc)
import Glibc
#endif

/// MATLAB's `imresize(..., 'bicubic')`, the resampler of the super-resolution papers' protocol.
///
/// Following MATLAB's documented algorithm: Keys' cubic kernel with a = -0.5; when shrinking, the kernel is widened
/// by 1/scale (antialiasing) and scaled by `scale`; each output sample's weights are normalised to sum 1; indices
/// beyond the border are mirrored with the edge sample repeated (`symmetric`); output sides are `ceil(side * scale)`;
/// the dimension with the smaller scale is resized first. Values are neither rounded nor clamped here: callers
/// quantise where the protocol does (`SRProtocol`). Developer cross-check: `scripts/sr_eval_reference.py`.
public enum MatlabResize {
    /// MATLAB `imresize(image, [height width], 'bicubic')`, per channel, no clamping.
    public static func resize(_ image: PlanarImage, height: Int, width: Int) -> PlanarImage {
        precondition(height > 0 && width > 0 && image.height > 0 && image.width > 0, "resize needs non-empty sizes")
        let scaleH = Double(height) / Double(image.height), scaleW = Double(width) / Double(image.width)
        return resize(image, height: height, width: width, scaleH: scaleH, scaleW: scaleW)
    }

    /// MATLAB `imresize(image, 1/scale, 'bicubic')`: the LR image of the SR papers' protocol.
    public static func downscale(_ image: PlanarImage, by scale: Int) -> PlanarImage {
        let s = 1 / Double(scale)
        return resize(image, height: Int((Double(image.height) * s).rounded(.up)),
                      width: Int((Double(image.width) * s).rounded(.up)), scaleH: s, scaleW: s)
    }

    /// MATLAB `imresize(image, scale, 'bicubic')`: the bicubic upscaling baseline.
    public static func upscale(_ image: PlanarImage, by scale: Int) -> PlanarImage {
        resize(image, height: image.height * scale, width: image.width * scale,
               scaleH: Double(scale), scaleW: Double(scale))
    }

    static func resize(_ image: PlanarImage, height: Int, width: Int, scaleH: Double, scaleW: Double) -> PlanarImage {
        if scaleW < scaleH {
            return resizeRows(resizeColumns(image, width: width, scale: scaleW), height: height, scale: scaleH)
        }
        return resizeColumns(resizeRows(image, height: height, scale: scaleH), width: width, scale: scaleW)
    }

    /// Keys' cubic convolution kernel with a = -0.5.
    static func cubic(_ x: Double) -> Double {
        let a = abs(x), a2 = a * a, a3 = a2 * a
        if a <= 1 { return 1.5 * a3 - 2.5 * a2 + 1 }
        if a <= 2 { return -0.5 * a3 + 2.5 * a2 - 4 * a + 2 }
        return 0
    }

    /// The weights and source indices of every output sample along one dimension (`taps` of each).
    struct Contributions {
        var taps: Int
        var weights: [Float]
        var indices: [Int]
    }

    static func contributions(input n: Int, output m: Int, scale: Double) -> Contributions {
        let width = scale < 1 ? 4 / scale : 4
        let taps = Int(width.rounded(.up)) + 2
        var weights = [Double](repeating: 0, count: m * taps)
        var indices = [Int](repeating: 0, count: m * taps)
        for i in 0..<m {
            // MATLAB's 1-based output coordinate mapped into the input.
            let u = Double(i + 1) / scale + 0.5 * (1 - 1 / scale)
            let left = Int((u - width / 2).rounded(.down))
            var sum = 0.0
            for t in 0..<taps {
                let j = left + t
                let w = scale < 1 ? scale * cubic(scale * (u - Double(j))) : cubic(u - Double(j))
                weights[i * taps + t] = w
                sum += w
                // 1-based j mirrored into 0..<n with the edge repeated.
                var k = (j - 1) % (2 * n)
                if k < 0 { k += 2 * n }
                indices[i * taps + t] = k < n ? k : 2 * n - 1 - k
            }
            for t in 0..<taps { weights[i * taps + t] /= sum }
        }
        // Drop taps whose weight is zero for every output sample (MATLAB does the same; it only saves work).
        let used = (0..<taps).filter { t in (0..<m).contains { weights[$0 * taps + t] != 0 } }
        var w = [Float](), idx = [Int]()
        w.reserveCapacity(m * used.count)
        idx.reserveCapacity(m * used.count)
        for i in 0..<m {
            for t in used {
                w.append(Float(weights[i * taps + t]))
                idx.append(indices[i * taps + t])
            }
        }
        return Contributions(taps: used.count, weights: w, indices: idx)
    }

    static func resizeColumns(_ image: PlanarImage, width: Int, scale: Double) -> PlanarImage {
        if width == image.width && scale == 1 { return image }
        let c = contributions(input: image.width, output: width, scale: scale)
        var out = [Float](repeating: 0, count: image.channels * image.height * width)
        image.data.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for row in 0..<(image.channels * image.height) {
                    let s = row * image.width, d = row * width
                    for x in 0..<width {
                        var acc: Float = 0
                        for t in 0..<c.taps { acc += c.weights[x * c.taps + t] * src[s + c.indices[x * c.taps + t]] }
                        dst[d + x] = acc
                    }
                }
            }
        }
        return PlanarImage(channels: image.channels, height: image.height, width: width, data: out)
    }

    static func resizeRows(_ image: PlanarImage, height: Int, scale: Double) -> PlanarImage {
        if height == image.height && scale == 1 { return image }
        let c = contributions(input: image.height, output: height, scale: scale)
        let w = image.width
        var out = [Float](repeating: 0, count: image.channels * height * w)
        image.data.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for ch in 0..<image.channels {
                    let plane = ch * image.height * w, outPlane = ch * height * w
                    for y in 0..<height {
                        let d = outPlane + y * w
                        for t in 0..<c.taps {
                            let weight = c.weights[y * c.taps + t], s = plane + c.indices[y * c.taps + t] * w
                            for x in 0..<w { dst[d + x] += weight * src[s + x] }
                        }
                    }
                }
            }
        }
        return PlanarImage(channels: image.channels, height: height, width: w, data: out)
    }
}
