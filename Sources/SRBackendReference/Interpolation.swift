/// Tap positions and weights for separable resampling, shared by the reference and oneDNN backends.
public enum Interpolation {
    /// Linear interpolation weights for fractional offset `t`.
    public static func linear(_ t: Float) -> [Float] { [1 - t, t] }

    /// Keys cubic convolution weights with A = -0.75 for taps at offsets -1, 0, 1, 2.
    public static func cubic(_ t: Float) -> [Float] {
        let a: Float = -0.75
        func near(_ x: Float) -> Float { ((a + 2) * x - (a + 3)) * x * x + 1 }
        func far(_ x: Float) -> Float { ((a * x - 5 * a) * x + 8 * a) * x - 4 * a }
        let w0 = far(t + 1), w1 = near(t), w2 = near(1 - t)
        return [w0, w1, w2, 1 - w0 - w1 - w2]
    }

    public struct Taps: Sendable {
        public var index: [Int]
        public var weights: [Float]
    }

    /// Source indices (clamped to the image) and weights of every output position. Half-pixel centres
    /// (`src = (dst + 0.5) * in/out - 0.5`) unless `alignCorners`.
    public static func taps(inSize: Int, outSize: Int, taps: Int, alignCorners: Bool,
                            weights: (Float) -> [Float]) -> Taps {
        var index = [Int](), w = [Float]()
        index.reserveCapacity(outSize * taps)
        w.reserveCapacity(outSize * taps)
        let scale: Double = alignCorners
            ? (outSize > 1 ? Double(inSize - 1) / Double(outSize - 1) : 0)
            : Double(inSize) / Double(outSize)
        for d in 0..<outSize {
            let f = Float(alignCorners ? Double(d) * scale : (Double(d) + 0.5) * scale - 0.5)
            let base = Int(f.rounded(.down))
            let t = f - Float(base)
            let first = taps == 4 ? base - 1 : base
            for (k, wk) in weights(t).enumerated() {
                index.append(min(max(first + k, 0), inSize - 1))
                w.append(wk)
            }
        }
        return Taps(index: index, weights: w)
    }
}
