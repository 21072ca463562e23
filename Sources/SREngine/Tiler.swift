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

    /// Region function: the output (`[1, channels, scale*h, scale*w]`) for input region `(y0, x0, h, w)`.
    typealias Region = (_ y0: Int, _ x0: Int, _ h: Int, _ w: Int) throws -> Tensor

    /// Runs every window and hands finished output rows `[firstRow, firstRow + rows)` to `emit`, in order.
    func run(channels: Int, region: @escaping Region, emit: (_ firstRow: Int, _ rows: Tensor) throws -> Void) throws {
        let cursor = Cursor(self, channels: channels, region: region)
        while let (first, rows) = try cursor.next() { try emit(first, rows) }
    }

    /// Pull-based form of `run`: each `next()` runs one row of windows and returns the rows it finished, so an
    /// encoder can ask for rows as it writes them.
    final class Cursor {
        let channels: Int
        private let region: Region
        private let tiler: Tiler
        private let ys: [Int], xs: [Int]
        private let wy: [[Float]], wx: [[Float]]
        private let rowSum: [Float], colSum: [Float]
        private let th: Int, tw: Int, outW: Int, bandRows: Int, tileW: Int
        private var band: [Float]
        private var bandStart = 0
        private var k = 0

        init(_ tiler: Tiler, channels: Int, region: @escaping Region) {
            self.tiler = tiler
            self.channels = channels
            self.region = region
            let s = tiler.scale
            th = min(tiler.tile, tiler.height)
            tw = min(tiler.tile, tiler.width)
            ys = Tiler.starts(length: tiler.height, tile: th, overlap: tiler.overlap)
            xs = Tiler.starts(length: tiler.width, tile: tw, overlap: tiler.overlap)
            wy = ys.indices.map { [ys, th] in Tiler.ramp(starts: ys, k: $0, tile: th, scale: s) }
            wx = xs.indices.map { [xs, tw] in Tiler.ramp(starts: xs, k: $0, tile: tw, scale: s) }
            outW = tiler.width * s
            bandRows = th * s
            tileW = tw * s
            var colSum = [Float](repeating: 0, count: outW)
            for (j, x0) in xs.enumerated() { for i in 0..<tileW { colSum[x0 * s + i] += wx[j][i] } }
            var rowSum = [Float](repeating: 0, count: tiler.height * s)
            for (k, y0) in ys.enumerated() { for i in 0..<bandRows { rowSum[y0 * s + i] += wy[k][i] } }
            self.colSum = colSum
            self.rowSum = rowSum
            band = [Float](repeating: 0, count: channels * bandRows * outW)
        }

        /// The next finished rows, or nil when the image is done.
        func next() throws -> (firstRow: Int, rows: Tensor)? {
            guard k < ys.count else { return nil }
            let s = tiler.scale, y0 = ys[k]
            precondition(y0 * s == bandStart)
            for (j, x0) in xs.enumerated() {
                let out = try region(y0, x0, th, tw)
                precondition(out.shape == Shape(c: channels, h: bandRows, w: tileW), "region returned \(out.shape)")
                let ry = wy[k], rx = wx[j]
                out.data.withUnsafeBufferPointer { src in
                    band.withUnsafeMutableBufferPointer { dst in
                        for c in 0..<channels {
                            for r in 0..<bandRows {
                                let a = (c * bandRows + r) * tileW, d = (c * bandRows + r) * outW + x0 * s
                                for i in 0..<tileW { dst[d + i] += src[a + i] * ry[r] * rx[i] }
                            }
                        }
                    }
                }
            }
            let finalEnd = k + 1 < ys.count ? ys[k + 1] * s : tiler.height * s
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
            let first = bandStart
            bandStart = finalEnd
            k += 1
            return (first, Tensor(dims: [1, channels, rows, outW], data: finished))
        }
    }
}

import SRCore
