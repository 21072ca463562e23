/// Runs a region function over equal, overlapping windows of an image and blends them into one output.
///
/// Windows all have the same size (so one compiled executable serves every tile); the last window of a row or
/// column is shifted back to end at the image edge, so neighbours overlap by at least `overlap` input pixels.
/// Overlaps are blended with complementary linear ramps; every output pixel is divided by the sum of the weights
/// that reached it (a product of a row sum and a column sum, since the windows form a grid). Output rows are
/// emitted as soon as no later window touches them, so only one band of output is ever held in float.
struct Tiler {
    let height: Int
    let width: Int
    let scale: Int
    /// Window side in input pixels (clamped to the image).
    let tile: Int
    let overlap: Int

    /// Window starts along one axis.
    static func starts(length: Int, tile: Int, overlap: Int) -> [Int] {
        guard length > tile else { return [0] }
        let step = max(1, tile - overlap)
        let n = (length - tile + step - 1) / step + 1
        return (0..<n).map { k in Int((Double(k) * Double(length - tile) / Double(n - 1)).rounded()) }
    }

    /// The weight of each output pixel of window `k` along one axis (output units).
    static func ramp(starts: [Int], k: Int, tile: Int, scale: Int) -> [Float] {
        let n = tile * scale
        var w = [Float](repeating: 1, count: n)
        if k > 0 {
            let up = (starts[k - 1] + tile - starts[k]) * scale
            for i in 0..<min(up, n) { w[i] = min(w[i], (Float(i) + 0.5) / Float(up)) }
        }
        if k + 1 < starts.count {
            let down = (starts[k] + tile - starts[k + 1]) * scale
            for i in 0..<min(down, n) { w[n - 1 - i] = min(w[n - 1 - i], (Float(i) + 0.5) / Float(down)) }
        }
        return w
    }

    /// - Parameters:
    ///   - channels: output channels.
    ///   - region: the output (`[1, channels, scale*h, scale*w]`) for input region `(y0, x0, h, w)`.
    ///   - emit: receives finished output rows `[firstRow, firstRow + rows)` as `[1, channels, rows, scale*width]`.
    func run(channels: Int, region: (_ y0: Int, _ x0: Int, _ h: Int, _ w: Int) throws -> Tensor,
             emit: (_ firstRow: Int, _ rows: Tensor) throws -> Void) throws {
        let th = min(tile, height), tw = min(tile, width)
        let ys = Self.starts(length: height, tile: th, overlap: overlap)
        let xs = Self.starts(length: width, tile: tw, overlap: overlap)
        let wy = ys.indices.map { Self.ramp(starts: ys, k: $0, tile: th, scale: scale) }
        let wx = xs.indices.map { Self.ramp(starts: xs, k: $0, tile: tw, scale: scale) }
        let outW = width * scale, bandRows = th * scale, tileW = tw * scale
        var colSum = [Float](repeating: 0, count: outW)
        for (j, x0) in xs.enumerated() { for i in 0..<tileW { colSum[x0 * scale + i] += wx[j][i] } }
        var rowSum = [Float](repeating: 0, count: height * scale)
        for (k, y0) in ys.enumerated() { for i in 0..<bandRows { rowSum[y0 * scale + i] += wy[k][i] } }

        var band = [Float](repeating: 0, count: channels * bandRows * outW)
        var bandStart = 0
        for (k, y0) in ys.enumerated() {
            precondition(y0 * scale == bandStart)
            for (j, x0) in xs.enumerated() {
                let out = try region(y0, x0, th, tw)
                precondition(out.shape == Shape(c: channels, h: bandRows, w: tileW), "region returned \(out.shape)")
                out.data.withUnsafeBufferPointer { src in
                    band.withUnsafeMutableBufferPointer { dst in
                        for c in 0..<channels {
                            for r in 0..<bandRows {
                                let ry = wy[k][r]
                                let s = (c * bandRows + r) * tileW, d = (c * bandRows + r) * outW + x0 * scale
                                for i in 0..<tileW { dst[d + i] += src[s + i] * ry * wx[j][i] }
                            }
                        }
                    }
                }
            }
            let finalEnd = k + 1 < ys.count ? ys[k + 1] * scale : height * scale
            let rows = finalEnd - bandStart
            var finished = [Float](repeating: 0, count: channels * rows * outW)
            for c in 0..<channels {
                for r in 0..<rows {
                    let rs = rowSum[bandStart + r]
                    for x in 0..<outW {
                        finished[(c * rows + r) * outW + x] = band[(c * bandRows + r) * outW + x] / (rs * colSum[x])
                    }
                }
            }
            try emit(bandStart, Tensor(dims: [1, channels, rows, outW], data: finished))
            // Slide the band: keep the rows the next windows still add to.
            let keep = bandRows - rows
            for c in 0..<channels {
                let base = c * bandRows * outW
                if keep > 0 {
                    band.withUnsafeMutableBufferPointer { b in
                        let p = b.baseAddress! + base
                        p.update(from: p + rows * outW, count: keep * outW)
                    }
                }
                for i in (base + keep * outW)..<(base + bandRows * outW) { band[i] = 0 }
            }
            bandStart = finalEnd
        }
    }
}

import SRCore
