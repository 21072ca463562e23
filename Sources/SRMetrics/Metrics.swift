#if canImport(Glibc)
import Glibc
#endif

/// Image quality metrics as the super-resolution papers compute them, on 0...255 values.
public enum Metrics {
    /// Peak signal-to-noise ratio in dB with peak 255 (infinity for identical images), after shaving `border`
    /// pixels off every side.
    public static func psnr(_ a: PlanarImage, _ b: PlanarImage, border: Int = 0) -> Double {
        precondition(a.channels == b.channels && a.height == b.height && a.width == b.width, "PSNR needs equal shapes")
        var sum = 0.0, count = 0
        for c in 0..<a.channels {
            for y in border..<(a.height - border) {
                for x in border..<(a.width - border) {
                    let d = Double(a[c, y, x]) - Double(b[c, y, x])
                    sum += d * d
                    count += 1
                }
            }
        }
        guard count > 0 else { return .nan }
        let mse = sum / Double(count)
        return mse == 0 ? .infinity : 10 * log10(255 * 255 / mse)
    }

    /// Structural similarity (Wang, Bovik, Sheikh, Simoncelli 2004, as their reference `ssim.m`): 11x11 Gaussian
    /// window with sigma 1.5, K1 = 0.01, K2 = 0.03, L = 255, 'valid' filtering, the mean of the SSIM map; on a
    /// single channel (the protocol's Y), after shaving `border` pixels.
    public static func ssim(_ a: PlanarImage, _ b: PlanarImage, border: Int = 0) -> Double {
        precondition(a.channels == 1 && b.channels == 1 && a.height == b.height && a.width == b.width,
                     "SSIM compares two single-channel images of equal size")
        let h = a.height - 2 * border, w = a.width - 2 * border
        guard h >= 11, w >= 11 else { return .nan }
        var x = [Double](repeating: 0, count: h * w), y = x
        for r in 0..<h {
            for c in 0..<w {
                x[r * w + c] = Double(a[0, r + border, c + border])
                y[r * w + c] = Double(b[0, r + border, c + border])
            }
        }
        var g = (0..<11).map { exp(-Double(($0 - 5) * ($0 - 5)) / (2 * 1.5 * 1.5)) }
        let total = g.reduce(0, +)
        g = g.map { $0 / total }
        func filter(_ v: [Double]) -> [Double] {
            let oh = h - 10, ow = w - 10
            var rows = [Double](repeating: 0, count: h * ow)
            for r in 0..<h { for c in 0..<ow {
                var s = 0.0
                for k in 0..<11 { s += g[k] * v[r * w + c + k] }
                rows[r * ow + c] = s
            } }
            var out = [Double](repeating: 0, count: oh * ow)
            for r in 0..<oh { for c in 0..<ow {
                var s = 0.0
                for k in 0..<11 { s += g[k] * rows[(r + k) * ow + c] }
                out[r * ow + c] = s
            } }
            return out
        }
        let c1 = (0.01 * 255) * (0.01 * 255), c2 = (0.03 * 255) * (0.03 * 255)
        let mx = filter(x), my = filter(y)
        let xx = filter(x.map { $0 * $0 }), yy = filter(y.map { $0 * $0 }), xy = filter(zip(x, y).map { $0 * $1 })
        var sum = 0.0
        for i in mx.indices {
            let sxx = xx[i] - mx[i] * mx[i], syy = yy[i] - my[i] * my[i], sxy = xy[i] - mx[i] * my[i]
            sum += ((2 * mx[i] * my[i] + c1) * (2 * sxy + c2)) / ((mx[i] * mx[i] + my[i] * my[i] + c1) * (sxx + syy + c2))
        }
        return sum / Double(mx.count)
    }
}
