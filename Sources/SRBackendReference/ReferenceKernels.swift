public import SRCore
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Naive kernels, one per op, computing in f32. Image ops read NCHW; `outputShape` comes from shape inference and
/// gives the result its layout and element type (a bf16 result is rounded to bf16 once, at the end of its op).
public enum ReferenceKernels {
    public static func evaluate(_ op: Op, inputs: [Tensor], outputShape: Shape) -> Tensor {
        Tensor(shape: outputShape, data: compute(op, inputs: inputs, outputShape: outputShape).data)
    }

    static func compute(_ op: Op, inputs: [Tensor], outputShape: Shape) -> Tensor {
        switch op {
        case .input: preconditionFailure("graph inputs are bound by the executor, not evaluated")
        case .constant(let t): return Tensor(shape: t.shape, data: t.data)
        case .conv2d(let p): return conv2d(inputs[0], p, outputShape)
        case .deconv2d(let p): return deconv2d(inputs[0], p, outputShape)
        case .activation(let a): return activation(inputs[0], a)
        case .binary(let b): return binary(inputs[0], inputs[1], b, outputShape)
        case .weightedSum(let c): return weightedSum(inputs, c)
        case .concat: return concat(inputs, outputShape)
        case .crop(let c): return crop(inputs[0], c, outputShape)
        case .pixelShuffle(let r, let mode): return pixelShuffle(inputs[0], r, mode, outputShape)
        case .pixelUnshuffle(let r): return pixelUnshuffle(inputs[0], r, outputShape)
        case .resize(let r): return resize(inputs[0], r, outputShape)
        case .pool(let p): return pool(inputs[0], p, outputShape)
        case .linear(let l): return linear(inputs[0], l)
        case .batchNorm(let b): return batchNorm(inputs[0], b)
        case .matmul(let m): return matmul(inputs[0], inputs[1], m, outputShape)
        case .layerNorm(let p): return layerNorm(inputs[0], p)
        case .softmax(let axis): return softmax(inputs[0], axis: axis)
        case .reshape, .convert: return inputs[0]   // same values in the same order; `evaluate` applies the type
        case .permute(let p): return permute(inputs[0], p.order, outputShape)
        case .roll(let r): return roll(inputs[0], r)
        case .windowPartition(let size): return windowPartition(inputs[0], size: size, outputShape)
        case .windowReverse(let size): return windowReverse(inputs[0], size: size, outputShape)
        case .slice(let p): return slice(inputs[0], p, outputShape)
        }
    }

    /// Batch normalisation with the running statistics (evaluation mode).
    public static func batchNorm(_ x: Tensor, _ b: BatchNorm) -> Tensor {
        let s = x.shape, plane = s.h * s.w
        let (scale, shift) = b.evaluationAffine
        var out = x.data
        for i in out.indices {
            let c = (i / plane) % s.c
            out[i] = out[i] * scale[c] + shift[c]
        }
        return Tensor(dims: x.dims, data: out)
    }

    /// Applies `a` to every value; channels are axis 1 (per-channel PReLU slopes).
    static func applyActivation(_ a: Activation?, _ data: inout [Float], shape: Shape) {
        guard let a else { return }
        let channels = shape.rank >= 2 ? shape.dims[1] : 1
        let inner = shape.rank >= 2 ? shape.dims[2...].reduce(1, *) : 1
        for i in data.indices { data[i] = a.apply(data[i], channel: (i / inner) % channels) }
    }

    public static func conv2d(_ x: Tensor, _ p: Conv2d, _ o: Shape) -> Tensor {
        let s = x.shape
        var out = [Float](repeating: 0, count: o.count)
        let icg = p.weight.dims[1], ocg = p.outChannels / p.groups
        let kh = p.kernelH, kw = p.kernelW
        x.data.withUnsafeBufferPointer { xp in
            p.weight.data.withUnsafeBufferPointer { wp in
                out.withUnsafeMutableBufferPointer { op in
                    for n in 0..<o.n {
                        for oc in 0..<o.c {
                            let g = oc / ocg
                            let obase = ((n * o.c) + oc) * o.h * o.w
                            let bias = p.bias?[oc] ?? 0
                            for i in 0..<(o.h * o.w) { op[obase + i] = bias }
                            for icl in 0..<icg {
                                let ic = g * icg + icl
                                let xbase = ((n * s.c) + ic) * s.h * s.w
                                for ky in 0..<kh {
                                    for kx in 0..<kw {
                                        let wv = wp[((oc * icg + icl) * kh + ky) * kw + kx]
                                        for oy in 0..<o.h {
                                            let iy = oy * p.strideH - p.padding.top + ky * p.dilationH
                                            if iy < 0 || iy >= s.h { continue }
                                            let orow = obase + oy * o.w
                                            let xrow = xbase + iy * s.w
                                            for ox in 0..<o.w {
                                                let ix = ox * p.strideW - p.padding.left + kx * p.dilationW
                                                if ix < 0 || ix >= s.w { continue }
                                                op[orow + ox] += wv * xp[xrow + ix]
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        applyActivation(p.activation, &out, shape: o)
        return Tensor(shape: o, data: out)
    }

    public static func deconv2d(_ x: Tensor, _ p: Deconv2d, _ o: Shape) -> Tensor {
        let s = x.shape
        var out = [Float](repeating: 0, count: o.count)
        for n in 0..<o.n {
            for oc in 0..<o.c {
                let obase = (n * o.c + oc) * o.h * o.w
                let bias = p.bias?[oc] ?? 0
                for i in 0..<(o.h * o.w) { out[obase + i] = bias }
                for ic in 0..<s.c {
                    let xbase = (n * s.c + ic) * s.h * s.w
                    for ky in 0..<p.kernelH {
                        for kx in 0..<p.kernelW {
                            let wv = p.weight.data[((oc * s.c + ic) * p.kernelH + ky) * p.kernelW + kx]
                            for iy in 0..<s.h {
                                let oy = iy * p.strideH + ky * p.dilationH - p.padding.top
                                if oy < 0 || oy >= o.h { continue }
                                for ix in 0..<s.w {
                                    let ox = ix * p.strideW + kx * p.dilationW - p.padding.left
                                    if ox < 0 || ox >= o.w { continue }
                                    out[obase + oy * o.w + ox] += wv * x.data[xbase + iy * s.w + ix]
                                }
                            }
                        }
                    }
                }
            }
        }
        applyActivation(p.activation, &out, shape: o)
        return Tensor(shape: o, data: out)
    }

    public static func activation(_ x: Tensor, _ a: Activation) -> Tensor {
        var out = x.data
        applyActivation(a, &out, shape: x.shape)
        return Tensor(shape: x.shape, data: out)
    }

    /// Strides of `dims` read as a broadcast operand of an `outRank` result: aligned at the end, 0 on size-1 and
    /// missing axes.
    static func broadcastStrides(_ dims: [Int], outRank: Int) -> [Int] {
        let own = Shape.rowMajorStrides(dims)
        var out = [Int](repeating: 0, count: outRank)
        for i in 0..<dims.count where dims[i] != 1 { out[outRank - dims.count + i] = own[i] }
        return out
    }

    /// Calls `body` with each multi-index of `dims` in row-major order, as offsets through `strideSets`.
    static func forEachIndex(_ dims: [Int], _ strideSets: [[Int]], _ body: ([Int]) -> Void) {
        let total = dims.reduce(1, *)
        guard total > 0 else { return }
        var index = [Int](repeating: 0, count: dims.count)
        var offsets = [Int](repeating: 0, count: strideSets.count)
        for _ in 0..<total {
            body(offsets)
            var axis = dims.count - 1
            while axis >= 0 {
                index[axis] += 1
                for k in strideSets.indices { offsets[k] += strideSets[k][axis] }
                if index[axis] < dims[axis] { break }
                for k in strideSets.indices { offsets[k] -= strideSets[k][axis] * dims[axis] }
                index[axis] = 0
                axis -= 1
            }
        }
    }

    public static func binary(_ a: Tensor, _ b: Tensor, _ f: BinaryOperator, _ o: Shape) -> Tensor {
        var out = [Float]()
        out.reserveCapacity(o.count)
        let sa = broadcastStrides(a.shape.dims, outRank: o.rank), sb = broadcastStrides(b.shape.dims, outRank: o.rank)
        forEachIndex(o.dims, [sa, sb]) { at in out.append(f.apply(a.data[at[0]], b.data[at[1]])) }
        return Tensor(shape: o, data: out)
    }

    public static func weightedSum(_ xs: [Tensor], _ coeffs: [Float]) -> Tensor {
        var out = [Float](repeating: 0, count: xs[0].count)
        for (x, k) in zip(xs, coeffs) { for i in out.indices { out[i] += k * x.data[i] } }
        return Tensor(dims: xs[0].shape.dims, data: out)
    }

    public static func concat(_ xs: [Tensor], _ o: Shape) -> Tensor {
        var out = [Float]()
        out.reserveCapacity(o.count)
        for n in 0..<o.n {
            for x in xs {
                let plane = x.shape.c * x.shape.h * x.shape.w
                out.append(contentsOf: x.data[(n * plane)..<((n + 1) * plane)])
            }
        }
        return Tensor(shape: o, data: out)
    }

    public static func crop(_ x: Tensor, _ c: Crop, _ o: Shape) -> Tensor {
        let s = x.shape
        let rc = c.range(axis: 0, size: s.c), rh = c.range(axis: 1, size: s.h), rw = c.range(axis: 2, size: s.w)
        var out = [Float]()
        out.reserveCapacity(o.count)
        for n in 0..<s.n { for ch in rc { for h in rh {
            let base = ((n * s.c + ch) * s.h + h) * s.w
            out.append(contentsOf: x.data[(base + rw.lowerBound)..<(base + rw.upperBound)])
        } } }
        return Tensor(shape: o, data: out)
    }

    public static func pixelShuffle(_ x: Tensor, _ r: Int, _ mode: PixelShuffleMode, _ o: Shape) -> Tensor {
        let s = x.shape
        var out = [Float](repeating: 0, count: o.count)
        for n in 0..<o.n { for c in 0..<o.c { for i in 0..<r { for j in 0..<r {
            let ic = mode == .channelsFirst ? c * r * r + i * r + j : (i * r + j) * o.c + c
            for y in 0..<s.h { for xx in 0..<s.w {
                out[((n * o.c + c) * o.h + y * r + i) * o.w + xx * r + j] = x.data[((n * s.c + ic) * s.h + y) * s.w + xx]
            } }
        } } } }
        return Tensor(shape: o, data: out)
    }

    public static func pixelUnshuffle(_ x: Tensor, _ r: Int, _ o: Shape) -> Tensor {
        let s = x.shape
        var out = [Float](repeating: 0, count: o.count)
        for n in 0..<s.n { for c in 0..<s.c { for i in 0..<r { for j in 0..<r {
            let oc = c * r * r + i * r + j
            for y in 0..<o.h { for xx in 0..<o.w {
                out[((n * o.c + oc) * o.h + y) * o.w + xx] = x.data[((n * s.c + c) * s.h + y * r + i) * s.w + xx * r + j]
            } }
        } } } }
        return Tensor(shape: o, data: out)
    }

    public static func resize(_ x: Tensor, _ r: Resize, _ o: Shape) -> Tensor {
        switch r.mode {
        case .nearest: return resizeNearest(x, o)
        case .bilinear: return resizeSeparable(x, o, taps: 2, alignCorners: r.alignCorners, weights: Interpolation.linear)
        case .bicubic: return resizeSeparable(x, o, taps: 4, alignCorners: r.alignCorners, weights: Interpolation.cubic)
        }
    }

    /// Nearest neighbour: source index `floor(dst * in / out)`, clamped.
    static func resizeNearest(_ x: Tensor, _ o: Shape) -> Tensor {
        let s = x.shape
        var out = [Float](repeating: 0, count: o.count)
        let sy = Float(s.h) / Float(o.h), sx = Float(s.w) / Float(o.w)
        for nc in 0..<(o.n * o.c) { for y in 0..<o.h {
            let iy = min(Int(Float(y) * sy), s.h - 1)
            for xx in 0..<o.w {
                let ix = min(Int(Float(xx) * sx), s.w - 1)
                out[(nc * o.h + y) * o.w + xx] = x.data[(nc * s.h + iy) * s.w + ix]
            }
        } }
        return Tensor(shape: o, data: out)
    }

    /// Separable interpolation with `taps` taps along each axis; taps outside the image are clamped to the edge.
    static func resizeSeparable(_ x: Tensor, _ o: Shape, taps: Int, alignCorners: Bool,
                                weights: (Float) -> [Float]) -> Tensor {
        let s = x.shape
        let ty = Interpolation.taps(inSize: s.h, outSize: o.h, taps: taps, alignCorners: alignCorners, weights: weights)
        let tx = Interpolation.taps(inSize: s.w, outSize: o.w, taps: taps, alignCorners: alignCorners, weights: weights)
        var rows = [Float](repeating: 0, count: o.n * o.c * s.h * o.w)
        for nc in 0..<(o.n * o.c) { for y in 0..<s.h { for xx in 0..<o.w {
            var acc: Float = 0
            for k in 0..<taps { acc += tx.weights[xx * taps + k] * x.data[(nc * s.h + y) * s.w + tx.index[xx * taps + k]] }
            rows[(nc * s.h + y) * o.w + xx] = acc
        } } }
        var out = [Float](repeating: 0, count: o.count)
        for nc in 0..<(o.n * o.c) { for y in 0..<o.h { for xx in 0..<o.w {
            var acc: Float = 0
            for k in 0..<taps { acc += ty.weights[y * taps + k] * rows[(nc * s.h + ty.index[y * taps + k]) * o.w + xx] }
            out[(nc * o.h + y) * o.w + xx] = acc
        } } }
        return Tensor(shape: o, data: out)
    }

    public static func pool(_ x: Tensor, _ p: Pool, _ o: Shape) -> Tensor {
        let s = x.shape
        var out = [Float](repeating: 0, count: o.count)
        if p.global {
            for nc in 0..<(s.n * s.c) {
                let plane = x.data[(nc * s.h * s.w)..<((nc + 1) * s.h * s.w)]
                switch p.kind {
                case .average: out[nc] = plane.reduce(0, +) / Float(s.h * s.w)
                case .max: out[nc] = plane.max()!
                }
            }
            return Tensor(shape: o, data: out)
        }
        for nc in 0..<(s.n * s.c) { for oy in 0..<o.h { for ox in 0..<o.w {
            var acc: Float = p.kind == .max ? -.infinity : 0
            var count = 0
            for ky in 0..<p.kernelH { for kx in 0..<p.kernelW {
                let iy = oy * p.strideH - p.padding.top + ky, ix = ox * p.strideW - p.padding.left + kx
                guard iy >= 0, iy < s.h, ix >= 0, ix < s.w else { continue }
                let v = x.data[(nc * s.h + iy) * s.w + ix]
                acc = p.kind == .max ? max(acc, v) : acc + v
                count += 1
            } }
            if p.kind == .average { acc /= Float(p.countIncludesPadding ? p.kernelH * p.kernelW : max(count, 1)) }
            out[(nc * o.h + oy) * o.w + ox] = acc
        } } }
        return Tensor(shape: o, data: out)
    }

    /// `x · weightᵀ + bias` per row: one row per sample (`.flattened`) or per last-axis vector (`.lastAxis`).
    public static func linear(_ x: Tensor, _ l: Linear) -> Tensor {
        let inF = l.inFeatures, outF = l.outFeatures, rows = x.count / inF
        var out = [Float](repeating: 0, count: rows * outF)
        for b in 0..<rows { for o in 0..<outF {
            var acc = l.bias?[o] ?? 0
            for i in 0..<inF { acc += l.weight.data[o * inF + i] * x.data[b * inF + i] }
            out[b * outF + o] = l.activation?.apply(acc, channel: o) ?? acc
        } }
        switch l.input {
        case .flattened: return Tensor(dims: [x.shape.n, outF, 1, 1], data: out)
        case .lastAxis:
            var shape = x.shape
            shape[-1] = outF
            return Tensor(shape: shape, data: out)
        }
    }

    /// Batched `a · b` (or `a · bᵀ`) times `scale`, batch axes broadcast.
    public static func matmul(_ a: Tensor, _ b: Tensor, _ m: MatMul, _ o: Shape) -> Tensor {
        let sa = a.shape, sb = b.shape
        let rows = sa[-2], inner = sa[-1], cols = o[-1]
        let batchDims = Array(o.dims.dropLast(2))
        let aBatch = broadcastStrides(Array(sa.dims.dropLast(2)), outRank: batchDims.count).map { $0 * rows * inner }
        let bBatch = broadcastStrides(Array(sb.dims.dropLast(2)), outRank: batchDims.count).map { $0 * inner * cols }
        var out = [Float]()
        out.reserveCapacity(o.count)
        forEachIndex(batchDims.isEmpty ? [1] : batchDims, batchDims.isEmpty ? [[0], [0]] : [aBatch, bBatch]) { at in
            for i in 0..<rows { for j in 0..<cols {
                var acc: Float = 0
                for k in 0..<inner {
                    let bv = m.transposeB ? b.data[at[1] + j * inner + k] : b.data[at[1] + k * cols + j]
                    acc += a.data[at[0] + i * inner + k] * bv
                }
                out.append(acc * m.scale)
            } }
        }
        return Tensor(shape: o, data: out)
    }

    /// Normalises every last-axis vector (biased variance, accumulated in Double).
    public static func layerNorm(_ x: Tensor, _ p: LayerNorm) -> Tensor {
        let f = p.features, rows = x.count / f
        var out = x.data
        for r in 0..<rows {
            let base = r * f
            var mean = 0.0
            for i in 0..<f { mean += Double(x.data[base + i]) }
            mean /= Double(f)
            var variance = 0.0
            for i in 0..<f { let d = Double(x.data[base + i]) - mean; variance += d * d }
            variance /= Double(f)
            let inv = 1 / (variance + Double(p.epsilon)).squareRoot()
            for i in 0..<f {
                out[base + i] = Float((Double(x.data[base + i]) - mean) * inv) * p.gamma[i] + p.beta[i]
            }
        }
        return Tensor(shape: x.shape, data: out)
    }

    /// `exp(x - max) / Σ exp(x - max)` along `axis`.
    public static func softmax(_ x: Tensor, axis: Int) -> Tensor {
        let s = x.shape, a = s.normalised(axis)
        let size = s.dims[a], inner = s.dims[(a + 1)...].reduce(1, *), outer = s.dims[..<a].reduce(1, *)
        var out = x.data
        for o in 0..<outer { for i in 0..<inner {
            let base = o * size * inner + i
            var top = -Float.infinity
            for k in 0..<size { top = max(top, x.data[base + k * inner]) }
            var sum = 0.0
            for k in 0..<size {
                let e = expf(x.data[base + k * inner] - top)
                out[base + k * inner] = e
                sum += Double(e)
            }
            for k in 0..<size { out[base + k * inner] = Float(Double(out[base + k * inner]) / sum) }
        } }
        return Tensor(shape: s, data: out)
    }

    /// Output axis `i` is input axis `order[i]`.
    public static func permute(_ x: Tensor, _ order: [Int], _ o: Shape) -> Tensor {
        let own = Shape.rowMajorStrides(x.shape.dims)
        var out = [Float]()
        out.reserveCapacity(o.count)
        forEachIndex(o.dims, [order.map { own[$0] }]) { at in out.append(x.data[at[0]]) }
        return Tensor(shape: o, data: out)
    }

    /// `torch.roll`: output index `i` reads input index `(i - shift) mod size` on each rolled axis.
    public static func roll(_ x: Tensor, _ r: Roll) -> Tensor {
        let s = x.shape, own = Shape.rowMajorStrides(s.dims)
        var shift = [Int](repeating: 0, count: s.rank)
        for (k, axis) in zip(r.shifts, r.axes) { shift[s.normalised(axis)] += k }
        var out = [Float](repeating: 0, count: s.count)
        var index = [Int](repeating: 0, count: s.rank)
        for i in 0..<s.count {
            var rest = i
            for a in stride(from: s.rank - 1, through: 0, by: -1) { index[a] = rest % s.dims[a]; rest /= s.dims[a] }
            var source = 0
            for a in 0..<s.rank {
                let n = s.dims[a]
                source += (((index[a] - shift[a]) % n + n) % n) * own[a]
            }
            out[i] = x.data[source]
        }
        return Tensor(shape: s, data: out)
    }

    /// `[n, h, w, c] -> [n * h/s * w/s, s*s, c]`.
    public static func windowPartition(_ x: Tensor, size: Int, _ o: Shape) -> Tensor {
        let d = x.shape.dims, (n, h, w, c) = (d[0], d[1], d[2], d[3])
        var out = [Float]()
        out.reserveCapacity(o.count)
        for b in 0..<n { for wy in 0..<(h / size) { for wx in 0..<(w / size) {
            for y in 0..<size { for xx in 0..<size {
                let base = ((b * h + wy * size + y) * w + wx * size + xx) * c
                out.append(contentsOf: x.data[base..<(base + c)])
            } }
        } } }
        return Tensor(shape: o, data: out)
    }

    /// The inverse of `windowPartition`, into the `[n, h, w, c]` image `o`.
    public static func windowReverse(_ x: Tensor, size: Int, _ o: Shape) -> Tensor {
        let (n, h, w, c) = (o.dims[0], o.dims[1], o.dims[2], o.dims[3])
        var out = [Float](repeating: 0, count: o.count)
        var k = 0
        for b in 0..<n { for wy in 0..<(h / size) { for wx in 0..<(w / size) {
            for y in 0..<size { for xx in 0..<size {
                let base = ((b * h + wy * size + y) * w + wx * size + xx) * c
                for ch in 0..<c { out[base + ch] = x.data[k + ch] }
                k += c
            } }
        } } }
        return Tensor(shape: o, data: out)
    }

    public static func slice(_ x: Tensor, _ p: Slice, _ o: Shape) -> Tensor {
        let s = x.shape, a = s.normalised(p.axis)
        var st = Shape.rowMajorStrides(s.dims)
        let offset = p.start * st[a]
        st[a] *= p.step
        var out = [Float]()
        out.reserveCapacity(o.count)
        forEachIndex(o.dims, [st]) { at in out.append(x.data[offset + at[0]]) }
        return Tensor(shape: o, data: out)
    }
}
