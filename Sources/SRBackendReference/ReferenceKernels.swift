public import SRCore

/// Naive kernels, one per op. Inputs are NCHW; `outputShape` comes from shape inference.
public enum ReferenceKernels {
    public static func evaluate(_ op: Op, inputs: [Tensor], outputShape: Shape) -> Tensor {
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
        }
    }

    static func applyActivation(_ a: Activation?, _ data: inout [Float], shape: Shape) {
        guard let a else { return }
        let plane = shape.h * shape.w
        for i in data.indices { data[i] = a.apply(data[i], channel: (i / plane) % shape.c) }
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
        return Tensor(dims: x.dims, data: out)
    }

    /// Index of `(n, c, h, w)` in `s`, with size-1 axes broadcast.
    @inline(__always)
    static func broadcastIndex(_ s: Shape, _ n: Int, _ c: Int, _ h: Int, _ w: Int) -> Int {
        (((s.n == 1 ? 0 : n) * s.c + (s.c == 1 ? 0 : c)) * s.h + (s.h == 1 ? 0 : h)) * s.w + (s.w == 1 ? 0 : w)
    }

    public static func binary(_ a: Tensor, _ b: Tensor, _ f: BinaryOperator, _ o: Shape) -> Tensor {
        let sa = a.shape, sb = b.shape
        var out = [Float](repeating: 0, count: o.count)
        var i = 0
        for n in 0..<o.n { for c in 0..<o.c { for h in 0..<o.h { for w in 0..<o.w {
            out[i] = f.apply(a.data[broadcastIndex(sa, n, c, h, w)], b.data[broadcastIndex(sb, n, c, h, w)])
            i += 1
        } } } }
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

    public static func linear(_ x: Tensor, _ l: Linear) -> Tensor {
        let n = x.shape.n, inF = l.inFeatures, outF = l.outFeatures
        var out = [Float](repeating: 0, count: n * outF)
        for b in 0..<n { for o in 0..<outF {
            var acc = l.bias?[o] ?? 0
            for i in 0..<inF { acc += l.weight.data[o * inF + i] * x.data[b * inF + i] }
            out[b * outF + o] = l.activation?.apply(acc, channel: o) ?? acc
        } }
        return Tensor(dims: [n, outF, 1, 1], data: out)
    }
}
