/// The structural loops of the gradient rules (data movement, per-channel statistics, pooling, fully connected), each
/// forward with its adjoint, on plain NCHW arrays, split across threads by `ParallelLoops`.
public enum TrainingLoops {
    // MARK: Pixel shuffle

    /// PyTorch-order pixel shuffle of `x` (`[n, c*r*r, h, w] -> [n, c, h*r, w*r]`), or its adjoint (the inverse
    /// permutation, `[n, c, h*r, w*r] -> [n, c*r*r, h, w]`) when `inverse`; `s` is the shuffle's input shape.
    public static func shuffle(_ x: [Float], _ s: Shape, factor r: Int, inverse: Bool) -> [Float] {
        let oc = s.c / (r * r), ow = s.w * r, plane = s.h * s.w
        var y = [Float](repeating: 0, count: x.count)
        x.withUnsafeBufferPointer { xs in y.withUnsafeMutableBufferPointer { ys in
            guard let src = xs.baseAddress, let dst = ys.baseAddress else { return }
            // One task per input plane `(n, c*r*r + i*r + j)`: it fills every r-th pixel of output plane (n, c).
            ParallelLoops.forEachChunk(s.n * s.c, grain: max(1, ParallelLoops.grain / max(plane, 1))) { range in
                for p in range {
                    let n = p / s.c, ic = p % s.c, c = ic / (r * r), i = (ic / r) % r, j = ic % r
                    let inBase = p * plane, outBase = (n * oc + c) * plane * r * r
                    for yy in 0..<s.h {
                        let row = inBase + yy * s.w, outRow = outBase + (yy * r + i) * ow + j
                        if inverse {
                            for xx in 0..<s.w { dst[row + xx] = src[outRow + xx * r] }
                        } else {
                            for xx in 0..<s.w { dst[outRow + xx * r] = src[row + xx] }
                        }
                    }
                }
            }
        } }
        return y
    }

    // MARK: Upsampling

    /// Source positions (clamped) and weights of linear interpolation from `side` to `side * factor` with
    /// half-pixel centres: the taps of the inference backends' bilinear resize.
    static func bilinearTaps(_ side: Int, factor: Int) -> (index: [Int], weights: [Float]) {
        let outSize = side * factor, scale = Double(side) / Double(outSize)
        var index = [Int](), weights = [Float]()
        index.reserveCapacity(2 * outSize)
        weights.reserveCapacity(2 * outSize)
        for d in 0..<outSize {
            let f = Float((Double(d) + 0.5) * scale - 0.5)
            let base = Int(f.rounded(.down)), t = f - Float(base)
            for (k, w) in [1 - t, t].enumerated() {
                index.append(min(max(base + k, 0), side - 1))
                weights.append(w)
            }
        }
        return (index, weights)
    }

    /// Bilinear upsampling of every plane of `x` (shape `s`) by `factor` (PyTorch's `align_corners=False`).
    public static func upsampleBilinear(_ x: [Float], _ s: Shape, factor r: Int) -> [Float] {
        let ty = bilinearTaps(s.h, factor: r), tx = bilinearTaps(s.w, factor: r)
        let oh = s.h * r, ow = s.w * r, planes = s.n * s.c
        var y = [Float](repeating: 0, count: planes * oh * ow)
        x.withUnsafeBufferPointer { xs in y.withUnsafeMutableBufferPointer { ys in
            guard let src = xs.baseAddress, let dst = ys.baseAddress else { return }
            ParallelLoops.forEachChunk(planes, grain: max(1, ParallelLoops.grain / (oh * ow))) { range in
                for p in range {
                    let a = src + p * s.h * s.w, b = dst + p * oh * ow
                    for oy in 0..<oh {
                        let r0 = a + ty.index[2 * oy] * s.w, r1 = a + ty.index[2 * oy + 1] * s.w
                        let wy0 = ty.weights[2 * oy], wy1 = ty.weights[2 * oy + 1]
                        for ox in 0..<ow {
                            let x0 = tx.index[2 * ox], x1 = tx.index[2 * ox + 1]
                            let wx0 = tx.weights[2 * ox], wx1 = tx.weights[2 * ox + 1]
                            b[oy * ow + ox] = wy0 * (wx0 * r0[x0] + wx1 * r0[x1]) + wy1 * (wx0 * r1[x0] + wx1 * r1[x1])
                        }
                    }
                }
            }
        } }
        return y
    }

    /// The adjoint of `upsampleBilinear`: scatters `g` (the upsampled shape) back onto the input grid of shape `s`.
    public static func upsampleBilinearAdjoint(_ g: [Float], _ s: Shape, factor r: Int) -> [Float] {
        let ty = bilinearTaps(s.h, factor: r), tx = bilinearTaps(s.w, factor: r)
        let oh = s.h * r, ow = s.w * r, planes = s.n * s.c
        var dx = [Float](repeating: 0, count: s.count)
        g.withUnsafeBufferPointer { gs in dx.withUnsafeMutableBufferPointer { ds in
            guard let src = gs.baseAddress, let dst = ds.baseAddress else { return }
            ParallelLoops.forEachChunk(planes, grain: max(1, ParallelLoops.grain / (oh * ow))) { range in
                for p in range {
                    let b = src + p * oh * ow, a = dst + p * s.h * s.w
                    for oy in 0..<oh {
                        let r0 = a + ty.index[2 * oy] * s.w, r1 = a + ty.index[2 * oy + 1] * s.w
                        let wy0 = ty.weights[2 * oy], wy1 = ty.weights[2 * oy + 1]
                        for ox in 0..<ow {
                            let v = b[oy * ow + ox]
                            let x0 = tx.index[2 * ox], x1 = tx.index[2 * ox + 1]
                            let wx0 = tx.weights[2 * ox], wx1 = tx.weights[2 * ox + 1]
                            r0[x0] += v * wy0 * wx0
                            r0[x1] += v * wy0 * wx1
                            r1[x0] += v * wy1 * wx0
                            r1[x1] += v * wy1 * wx1
                        }
                    }
                }
            }
        } }
        return dx
    }

    /// Nearest-neighbour upsampling by an integer factor, or its adjoint (the sum over each `r x r` block) when
    /// `adjoint`; `s` is the small side's shape.
    public static func upsampleNearest(_ x: [Float], _ s: Shape, factor r: Int, adjoint: Bool) -> [Float] {
        let oh = s.h * r, ow = s.w * r, planes = s.n * s.c
        var y = [Float](repeating: 0, count: adjoint ? s.count : planes * oh * ow)
        x.withUnsafeBufferPointer { xs in y.withUnsafeMutableBufferPointer { ys in
            guard let src = xs.baseAddress, let dst = ys.baseAddress else { return }
            ParallelLoops.forEachChunk(planes, grain: max(1, ParallelLoops.grain / max(oh * ow, 1))) { range in
                for p in range {
                    let small = p * s.h * s.w, big = p * oh * ow
                    for oy in 0..<oh { for ox in 0..<ow {
                        let i = small + (oy / r) * s.w + ox / r, o = big + oy * ow + ox
                        if adjoint { dst[i] += src[o] } else { dst[o] = src[i] }
                    } }
                }
            }
        } }
        return y
    }

    // MARK: Batch statistics

    /// Per-channel batch mean and biased variance (two passes in Double), as batch norm normalises with them.
    public static func batchStatistics(_ x: [Float], _ s: Shape) -> (mean: [Float], variance: [Float]) {
        let m = Double(s.n * s.h * s.w)
        let mean = x.withUnsafeBufferPointer { xs in ElementWise.channelSums(s) { i, _ in Double(xs[i]) }.map { $0 / m } }
        let variance = x.withUnsafeBufferPointer { xs in
            ElementWise.channelSums(s) { i, c in
                let d = Double(xs[i]) - mean[c]
                return d * d
            }.map { $0 / m }
        }
        return (mean.map { Float($0) }, variance.map { Float($0) })
    }

    // MARK: Pooling

    /// Max pooling with a `k x k` window and stride `k` (trailing rows and columns that do not fill a window are
    /// dropped, as PyTorch does) and the flat input index of every maximum (the first one on ties).
    public static func maxPool(_ x: [Float], _ s: Shape, window k: Int) -> (output: [Float], argmax: [Int]) {
        let oh = s.h / k, ow = s.w / k, planes = s.n * s.c
        var y = [Float](repeating: 0, count: planes * oh * ow), at = [Int](repeating: 0, count: y.count)
        x.withUnsafeBufferPointer { xs in y.withUnsafeMutableBufferPointer { ys in at.withUnsafeMutableBufferPointer { ats in
            guard let src = xs.baseAddress, let dst = ys.baseAddress, let arg = ats.baseAddress else { return }
            ParallelLoops.forEachChunk(planes, grain: max(1, ParallelLoops.grain / max(s.h * s.w, 1))) { range in
                for p in range { for oy in 0..<oh { for ox in 0..<ow {
                    var best = -Float.infinity, index = p * s.h * s.w + oy * k * s.w + ox * k
                    for dy in 0..<k { for dx in 0..<k {
                        let i = (p * s.h + oy * k + dy) * s.w + ox * k + dx
                        if src[i] > best { best = src[i]; index = i }
                    } }
                    let j = (p * oh + oy) * ow + ox
                    dst[j] = best
                    arg[j] = index
                } } }
            }
        } } }
        return (y, at)
    }

    // MARK: Fully connected

    /// `y[n, j] = b[j] + sum_i w[j, i] x[n, i]` for `x` `[batch, k]`, `w` `[o, k]`.
    public static func linear(_ x: [Float], _ w: [Float], _ b: [Float]?, batch: Int, inputs k: Int,
                              outputs o: Int) -> [Float] {
        var y = [Float](repeating: 0, count: batch * o)
        x.withUnsafeBufferPointer { xs in w.withUnsafeBufferPointer { ws in y.withUnsafeMutableBufferPointer { ys in
            guard let xp = xs.baseAddress, let wp = ws.baseAddress, let yp = ys.baseAddress else { return }
            ParallelLoops.forEachChunk(batch * o, grain: max(1, ParallelLoops.grain / max(k, 1))) { range in
                for t in range {
                    let n = t / o, j = t % o
                    var acc = b?[j] ?? 0
                    for i in 0..<k { acc += wp[j * k + i] * xp[n * k + i] }
                    yp[t] = acc
                }
            }
        } } }
        return y
    }

    /// d(loss)/dx of `linear`: `dx[n, i] = sum_j g[n, j] w[j, i]`.
    public static func linearInputGradient(_ g: [Float], _ w: [Float], batch: Int, inputs k: Int, outputs o: Int) -> [Float] {
        var dx = [Float](repeating: 0, count: batch * k)
        g.withUnsafeBufferPointer { gs in w.withUnsafeBufferPointer { ws in dx.withUnsafeMutableBufferPointer { ds in
            guard let gp = gs.baseAddress, let wp = ws.baseAddress, let dp = ds.baseAddress else { return }
            ParallelLoops.forEachChunk(batch, grain: max(1, ParallelLoops.grain / max(k * o, 1))) { range in
                for n in range { for j in 0..<o {
                    let gj = gp[n * o + j]
                    for i in 0..<k { dp[n * k + i] += gj * wp[j * k + i] }
                } }
            }
        } } }
        return dx
    }

    /// d(loss)/dw of `linear`: `dw[j, i] = sum_n g[n, j] x[n, i]`.
    public static func linearWeightGradient(_ g: [Float], _ x: [Float], batch: Int, inputs k: Int, outputs o: Int) -> [Float] {
        var dw = [Float](repeating: 0, count: o * k)
        g.withUnsafeBufferPointer { gs in x.withUnsafeBufferPointer { xs in dw.withUnsafeMutableBufferPointer { ds in
            guard let gp = gs.baseAddress, let xp = xs.baseAddress, let dp = ds.baseAddress else { return }
            ParallelLoops.forEachChunk(o, grain: max(1, ParallelLoops.grain / max(k * batch, 1))) { range in
                for j in range { for n in 0..<batch {
                    let gj = gp[n * o + j]
                    for i in 0..<k { dp[j * k + i] += gj * xp[n * k + i] }
                } }
            }
        } } }
        return dw
    }
}
