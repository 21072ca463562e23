#if canImport(Glibc)
import Glibc
#endif

/// The forward and gradient rule of every op: one exhaustive switch each (tinygrad's "one table keyed by op"), so
/// a new `Op` case does not compile until it has both, or throws `GradientError.noRule` by name.
extension GraphTape {
    struct RuleResult {
        var inputs: [[Float]?]
        var parameters: [(ParameterRole, [Float])] = []
    }

    func noRule(_ node: Node, _ detail: String = "") -> GradientError {
        .noRule(op: node.op.kind, node: node.name, detail: detail)
    }

    // MARK: - Forward

    func forwardRule(_ id: ValueID, _ node: Node, _ x: [Tensor]) throws -> (Tensor, Saved?) {
        let o = shapes[id]
        func out(_ data: [Float]) -> Tensor { Tensor(dims: o.dims, data: data) }
        switch node.op {
        case .input:
            preconditionFailure("graph inputs are bound by forward")
        case .constant(let t):
            return (Tensor(dims: o.dims, data: t.data), nil)
        case .conv2d(let p):
            let z = try kernels.convolutionForward(x[0], p, output: o)
            guard let a = p.activation else { return (z, nil) }
            return (out(ElementWise.mapChannels(z.data, o) { a.apply($0, channel: $1) }), Saved(values: z.data))
        case .deconv2d:
            throw noRule(node, "transposed convolutions are inference-only")
        case .activation(let a):
            let s = x[0].shape
            switch a {
            case .relu: return (out(ElementWise.map(x[0].data) { max($0, 0) }), nil)
            case .leakyRelu(let slope): return (out(ElementWise.map(x[0].data) { $0 > 0 ? $0 : $0 * slope }), nil)
            default: return (out(ElementWise.mapChannels(x[0].data, s) { a.apply($0, channel: $1) }), nil)
            }
        case .binary(let b):
            if x[0].dims == x[1].dims { return (out(ElementWise.map(x[0].data, x[1].data) { b.apply($0, $1) }), nil) }
            return (out(Broadcast.apply(x[0], x[1], o, b)), nil)
        case .weightedSum(let k):
            guard x.allSatisfy({ $0.dims == o.dims }) else { throw noRule(node, "inputs of different shapes") }
            if k.count == 2 { return (out(ElementWise.map(x[0].data, x[1].data) { k[0] * $0 + k[1] * $1 }), nil) }
            var acc = ElementWise.map(x[0].data) { k[0] * $0 }
            for (t, c) in zip(x.dropFirst(), k.dropFirst()) { acc = ElementWise.map(acc, t.data) { $0 + c * $1 } }
            return (out(acc), nil)
        case .concat:
            return (out(Channels.concat(x.map(\.data), x.map(\.shape), o)), nil)
        case .crop(let c):
            return (out(Channels.crop(x[0].data, x[0].shape, c, o, adjoint: false)), nil)
        case .pixelShuffle(let r, let mode):
            guard mode == .channelsFirst else { throw noRule(node, "depth-first (DCR) pixel shuffle") }
            return (out(TrainingLoops.shuffle(x[0].data, x[0].shape, factor: r, inverse: false)), nil)
        case .pixelUnshuffle(let r):
            return (out(TrainingLoops.shuffle(x[0].data, o, factor: r, inverse: true)), nil)
        case .resize(let r):
            let s = x[0].shape
            guard let factor = integerFactor(r, s, o) else {
                throw noRule(node, "resize other than an integer factor with half-pixel centres")
            }
            switch r.mode {
            case .bilinear: return (out(TrainingLoops.upsampleBilinear(x[0].data, s, factor: factor)), nil)
            case .nearest: return (out(TrainingLoops.upsampleNearest(x[0].data, s, factor: factor, adjoint: false)), nil)
            case .bicubic: throw noRule(node, "bicubic resize")
            }
        case .pool(let p):
            let s = x[0].shape
            if p.global, p.kind == .average {
                let plane = Float(s.h * s.w)
                return (out(ElementWise.channelSumsPerImage(x[0].data, s).map { $0 / plane }), nil)
            }
            guard let k = squareWindow(p) else { throw noRule(node, "pooling other than global average or k x k max with stride k") }
            let (y, argmax) = TrainingLoops.maxPool(x[0].data, s, window: k)
            return (out(y), Saved(indices: argmax))
        case .linear(let l):
            let s = x[0].shape
            let z = TrainingLoops.linear(x[0].data, l.weight.data, l.bias, batch: s.n, inputs: l.inFeatures,
                                         outputs: l.outFeatures)
            return (out(z.applying(l.activation, o)), l.activation == nil ? nil : Saved(values: z))
        case .matmul, .layerNorm, .softmax, .reshape, .permute, .roll, .windowPartition, .windowReverse, .slice, .convert:
            throw noRule(node, "not yet differentiable (image CNN ops are)")
        case .batchNorm(let b):
            let s = x[0].shape
            guard mode == .training else {
                let (scale, shift) = b.evaluationAffine
                return (out(ElementWise.mapChannels(x[0].data, s) { $0 * scale[$1] + shift[$1] }), nil)
            }
            guard s.n * s.h * s.w > 1 else {
                throw GraphError.shapeMismatch(node: node.name, op: node.op.kind,
                                               detail: "batch statistics need more than one value per channel, got \(s)")
            }
            let (mean, variance) = TrainingLoops.batchStatistics(x[0].data, s)
            let invStd = variance.map { 1 / ($0 + b.epsilon).squareRoot() }
            let xhat = ElementWise.mapChannels(x[0].data, s) { value, c in (value - mean[c]) * invStd[c] }
            updateRunningStatistics(node, b, mean: mean, variance: variance, count: s.n * s.h * s.w)
            return (out(ElementWise.mapChannels(xhat, s) { value, c in value * b.gamma[c] + b.beta[c] }),
                    Saved(values: xhat + invStd))
        }
    }

    // MARK: - Backward

    func gradientRule(_ id: ValueID, _ node: Node, _ g: [Float], wantInputs: [Bool],
                      wantParameters: Bool) throws -> RuleResult {
        let o = shapes[id]
        let x = node.inputs.map { values[$0]! }
        let keep = saved[id] ?? Saved()
        func bound(_ role: ParameterRole) -> Bool { wantParameters && node.bindings.contains { $0.role == role } }
        switch node.op {
        case .input, .constant:
            return RuleResult(inputs: [])
        case .conv2d(let p):
            var gz = g
            var result = RuleResult(inputs: [nil])
            if let a = p.activation {
                gz = activationGradient(a, g, pre: keep.values, post: values[id]!.data, o)
                if case .prelu(let slopes) = a, bound(.slopes) {
                    result.parameters.append((.slopes, slopeGradient(g, pre: keep.values, o, shared: slopes.count == 1)))
                }
            }
            let dy = Tensor(dims: o.dims, data: gz)
            if wantInputs[0] { result.inputs[0] = try kernels.convolutionBackwardData(dy, p, input: x[0].shape).data }
            if bound(.weight) || bound(.bias) {
                let (dw, db) = try kernels.convolutionBackwardWeights(x[0], dy, p)
                if bound(.weight) { result.parameters.append((.weight, dw)) }
                if bound(.bias), let db { result.parameters.append((.bias, db)) }
            }
            return result
        case .deconv2d:
            throw noRule(node, "transposed convolutions are inference-only")
        case .activation(let a):
            var result = RuleResult(inputs: [wantInputs[0] ? activationGradient(a, g, pre: x[0].data, post: values[id]!.data, o) : nil])
            if case .prelu(let slopes) = a, bound(.slopes) {
                result.parameters.append((.slopes, slopeGradient(g, pre: x[0].data, o, shared: slopes.count == 1)))
            }
            return result
        case .binary(let b):
            let a0 = x[0].data, a1 = x[1].data
            let (d0, d1): ([Float], [Float])
            switch b {
            case .add: (d0, d1) = (g, g)
            case .sub: (d0, d1) = (g, ElementWise.map(g) { -$0 })
            case .mul, .div, .max, .min:
                let b0 = x[0].dims == o.dims ? a0 : Broadcast.expand(x[0], o)
                let b1 = x[1].dims == o.dims ? a1 : Broadcast.expand(x[1], o)
                switch b {
                case .mul: (d0, d1) = (ElementWise.map(g, b1) { $0 * $1 }, ElementWise.map(g, b0) { $0 * $1 })
                case .div:
                    d0 = ElementWise.map(g, b1) { $0 / $1 }
                    d1 = ElementWise.map(ElementWise.map(g, b0) { $0 * $1 }, b1) { -$0 / ($1 * $1) }
                default:
                    // The gradient goes to the selected operand (the first on ties).
                    let takeFirst = ElementWise.map(b0, b1) { (b == .max ? $0 >= $1 : $0 <= $1) ? 1 : 0 }
                    d0 = ElementWise.map(g, takeFirst) { $0 * $1 }
                    d1 = ElementWise.map(g, takeFirst) { $0 * (1 - $1) }
                }
            }
            return RuleResult(inputs: [x[0].dims == o.dims ? d0 : Broadcast.reduce(d0, o, to: x[0].shape),
                                       x[1].dims == o.dims ? d1 : Broadcast.reduce(d1, o, to: x[1].shape)])
        case .weightedSum(let k):
            return RuleResult(inputs: k.enumerated().map { i, c in
                wantInputs[i] ? (c == 1 ? g : ElementWise.map(g) { $0 * c }) : nil
            })
        case .concat:
            return RuleResult(inputs: Channels.split(g, o, x.map(\.shape)))
        case .crop(let c):
            return RuleResult(inputs: [Channels.crop(g, x[0].shape, c, o, adjoint: true)])
        case .pixelShuffle(let r, _):
            return RuleResult(inputs: [TrainingLoops.shuffle(g, x[0].shape, factor: r, inverse: true)])
        case .pixelUnshuffle(let r):
            return RuleResult(inputs: [TrainingLoops.shuffle(g, o, factor: r, inverse: false)])
        case .resize(let r):
            let s = x[0].shape, factor = integerFactor(r, s, o)!
            return RuleResult(inputs: [r.mode == .bilinear ? TrainingLoops.upsampleBilinearAdjoint(g, s, factor: factor)
                                                           : TrainingLoops.upsampleNearest(g, s, factor: factor, adjoint: true)])
        case .pool(let p):
            let s = x[0].shape
            if p.global {
                let plane = s.h * s.w, scale = 1 / Float(plane)
                return RuleResult(inputs: [(0..<s.count).map { g[$0 / plane] * scale }])
            }
            var dx = [Float](repeating: 0, count: s.count)
            for (j, i) in keep.indices.enumerated() { dx[i] += g[j] }
            return RuleResult(inputs: [dx])
        case .linear(let l):
            let s = x[0].shape, k = l.inFeatures, n = l.outFeatures
            var gz = g
            if let a = l.activation { gz = activationGradient(a, g, pre: keep.values, post: values[id]!.data, o) }
            var result = RuleResult(inputs: [wantInputs[0]
                ? TrainingLoops.linearInputGradient(gz, l.weight.data, batch: s.n, inputs: k, outputs: n) : nil])
            if bound(.weight) {
                result.parameters.append((.weight, TrainingLoops.linearWeightGradient(gz, x[0].data, batch: s.n, inputs: k, outputs: n)))
            }
            if bound(.bias) {
                var db = [Float](repeating: 0, count: n)
                for b in 0..<s.n { for j in 0..<n { db[j] += gz[b * n + j] } }
                result.parameters.append((.bias, db))
            }
            return result
        case .matmul, .layerNorm, .softmax, .reshape, .permute, .roll, .windowPartition, .windowReverse, .slice, .convert:
            throw noRule(node, "not yet differentiable (image CNN ops are)")
        case .batchNorm(let b):
            let s = x[0].shape
            if mode == .evaluation {
                let invStd = b.runningVar.map { 1 / ($0 + b.epsilon).squareRoot() }, mean = b.runningMean
                var result = RuleResult(inputs: [ElementWise.mapChannels(g, s) { gi, c in gi * b.gamma[c] * invStd[c] }])
                if bound(.gamma) {
                    let dGamma = g.withUnsafeBufferPointer { gs in x[0].data.withUnsafeBufferPointer { xs in
                        ElementWise.channelSums(s) { i, c in Double(gs[i] * (xs[i] - mean[c]) * invStd[c]) }
                    } }
                    result.parameters.append((.gamma, dGamma.map { Float($0) }))
                }
                if bound(.beta) {
                    result.parameters.append((.beta, g.withUnsafeBufferPointer { gs in
                        ElementWise.channelSums(s) { i, _ in Double(gs[i]) }.map { Float($0) }
                    }))
                }
                return result
            }
            // With x̂ = (x - μ) σ⁻¹ and m values per channel:
            // dγ = Σ g x̂, dβ = Σ g, dx = γ σ⁻¹ (g - dβ/m - x̂ dγ/m).
            let c = s.c, m = Float(s.n * s.h * s.w)
            let xhat = Array(keep.values[0..<s.count]), invStd = Array(keep.values[s.count..<(s.count + c)])
            let (sumG, sumGX) = g.withUnsafeBufferPointer { gs in xhat.withUnsafeBufferPointer { xh in
                (ElementWise.channelSums(s) { i, _ in Double(gs[i]) }.map { Float($0) },
                 ElementWise.channelSums(s) { i, _ in Double(gs[i] * xh[i]) }.map { Float($0) })
            } }
            var result = RuleResult(inputs: [wantInputs[0] ? ElementWise.mapChannels(g, xhat, s) { gi, xh, c in
                b.gamma[c] * invStd[c] * (gi - sumG[c] / m - xh * sumGX[c] / m)
            } : nil])
            if bound(.gamma) { result.parameters.append((.gamma, sumGX)) }
            if bound(.beta) { result.parameters.append((.beta, sumG)) }
            return result
        }
    }

    // MARK: - Helpers

    /// d(loss)/d(pre-activation) from d(loss)/d(output) of activation `a`.
    func activationGradient(_ a: Activation, _ g: [Float], pre z: [Float], post y: [Float], _ s: Shape) -> [Float] {
        switch a {
        case .relu: return ElementWise.map(g, z) { $1 > 0 ? $0 : 0 }
        case .leakyRelu(let slope): return ElementWise.map(g, z) { $1 > 0 ? $0 : $0 * slope }
        case .prelu(let slopes):
            let shared = slopes.count == 1
            return ElementWise.mapChannels(g, z, s) { gi, zi, c in zi > 0 ? gi : gi * slopes[shared ? 0 : c] }
        case .sigmoid: return ElementWise.map(g, y) { $0 * $1 * (1 - $1) }
        case .swish:
            return ElementWise.map(g, z) { gi, zi in
                let sig = 1 / (1 + expf(-zi))
                return gi * (sig + zi * sig * (1 - sig))
            }
        case .clip(let lo, let hi): return ElementWise.map(g, z) { $1 > lo && $1 < hi ? $0 : 0 }
        case .linear(let scale, _): return ElementWise.map(g) { $0 * scale }
        case .gelu(let approximate):
            return ElementWise.map(g, z) { gi, zi in
                if approximate {
                    let k: Float = 0.7978845608028654, u = k * (zi + 0.044715 * zi * zi * zi), t = tanhf(u)
                    return gi * (0.5 * (1 + t) + 0.5 * zi * (1 - t * t) * k * (1 + 3 * 0.044715 * zi * zi))
                }
                let cdf = 0.5 * (1 + erff(zi * 0.7071067811865476)), pdf = expf(-0.5 * zi * zi) * 0.3989422804014327
                return gi * (cdf + zi * pdf)
            }
        }
    }

    /// d(loss)/d(slopes) of PReLU: per channel (or in all when `shared`) the sum of `g * z` where `z <= 0`.
    func slopeGradient(_ g: [Float], pre z: [Float], _ s: Shape, shared: Bool) -> [Float] {
        let perChannel = g.withUnsafeBufferPointer { gs in z.withUnsafeBufferPointer { zs in
            ElementWise.channelSums(s) { i, _ in zs[i] > 0 ? 0 : Double(gs[i] * zs[i]) }
        } }
        return shared ? [Float(perChannel.reduce(0, +))] : perChannel.map { Float($0) }
    }

    /// The integer upsampling factor of a resize with half-pixel centres, if it is one.
    func integerFactor(_ r: Resize, _ s: Shape, _ o: Shape) -> Int? {
        guard !r.alignCorners, s.h > 0, o.h % s.h == 0, o.w % s.w == 0, o.h / s.h == o.w / s.w, o.h >= s.h else { return nil }
        return o.h / s.h
    }

    /// The side of a `k x k` max pool with stride `k` and no padding.
    func squareWindow(_ p: Pool) -> Int? {
        guard p.kind == .max, !p.global, p.kernelH == p.kernelW, p.strideH == p.kernelH, p.strideW == p.kernelW,
              p.padding == .zero else { return nil }
        return p.kernelH
    }
}

extension [Float] {
    /// The values with `activation` applied per channel of `shape` (unchanged without one).
    func applying(_ activation: Activation?, _ shape: Shape) -> [Float] {
        guard let activation else { return self }
        return ElementWise.mapChannels(self, shape) { activation.apply($0, channel: $1) }
    }
}

extension ElementWise {
    /// Per image and channel sums of an NCHW tensor: `[n * c]` values.
    static func channelSumsPerImage(_ x: [Float], _ s: Shape) -> [Float] {
        let plane = s.h * s.w
        return (0..<(s.n * s.c)).map { p in
            var acc = 0.0
            for i in (p * plane)..<((p + 1) * plane) { acc += Double(x[i]) }
            return Float(acc)
        }
    }
}

/// Channel concatenation and crops on batched NCHW arrays, with their adjoints.
enum Channels {
    static func concat(_ xs: [[Float]], _ shapes: [Shape], _ o: Shape) -> [Float] {
        var y = [Float](repeating: 0, count: o.count)
        let plane = o.h * o.w
        for n in 0..<o.n {
            var c0 = 0
            for (x, s) in zip(xs, shapes) {
                let count = s.c * plane
                y.withUnsafeMutableBufferPointer { ys in x.withUnsafeBufferPointer { src in
                    (ys.baseAddress! + (n * o.c + c0) * plane).update(from: src.baseAddress! + n * count, count: count)
                } }
                c0 += s.c
            }
        }
        return y
    }

    static func split(_ g: [Float], _ o: Shape, _ shapes: [Shape]) -> [[Float]?] {
        let plane = o.h * o.w
        var c0 = 0
        return shapes.map { s in
            var part = [Float](repeating: 0, count: s.count)
            let count = s.c * plane
            for n in 0..<o.n {
                part.withUnsafeMutableBufferPointer { ps in g.withUnsafeBufferPointer { gs in
                    (ps.baseAddress! + n * count).update(from: gs.baseAddress! + (n * o.c + c0) * plane, count: count)
                } }
            }
            c0 += s.c
            return part
        }
    }

    /// The crop of `x` (shape `s`) to `o`, or (`adjoint`) the crop's gradient `x` (shape `o`) placed back into `s`.
    static func crop(_ x: [Float], _ s: Shape, _ c: Crop, _ o: Shape, adjoint: Bool) -> [Float] {
        let cr = c.range(axis: 0, size: s.c), hr = c.range(axis: 1, size: s.h), wr = c.range(axis: 2, size: s.w)
        var y = [Float](repeating: 0, count: adjoint ? s.count : o.count)
        for n in 0..<s.n { for (ci, ch) in cr.enumerated() { for (yi, row) in hr.enumerated() { for (xi, col) in wr.enumerated() {
            let big = ((n * s.c + ch) * s.h + row) * s.w + col, small = ((n * o.c + ci) * o.h + yi) * o.w + xi
            if adjoint { y[big] = x[small] } else { y[small] = x[big] }
        } } } }
        return y
    }
}

/// NumPy-style broadcasting over the four NCHW axes (size-1 axes repeat), for binary ops of unequal shapes.
enum Broadcast {
    static func index(_ i: Int, _ o: Shape, _ s: Shape) -> Int {
        let w = i % o.w, h = (i / o.w) % o.h, c = (i / (o.w * o.h)) % o.c, n = i / (o.w * o.h * o.c)
        return ((min(n, s.n - 1) * s.c + min(c, s.c - 1)) * s.h + min(h, s.h - 1)) * s.w + min(w, s.w - 1)
    }

    static func expand(_ x: Tensor, _ o: Shape) -> [Float] {
        let s = x.shape
        return (0..<o.count).map { x.data[index($0, o, s)] }
    }

    static func apply(_ a: Tensor, _ b: Tensor, _ o: Shape, _ op: BinaryOperator) -> [Float] {
        let sa = a.shape, sb = b.shape
        return (0..<o.count).map { op.apply(a.data[index($0, o, sa)], b.data[index($0, o, sb)]) }
    }

    /// The gradient `g` of the broadcast shape `o` summed back onto `s`.
    static func reduce(_ g: [Float], _ o: Shape, to s: Shape) -> [Float] {
        var out = [Float](repeating: 0, count: s.count)
        for i in 0..<o.count { out[index(i, o, s)] += g[i] }
        return out
    }
}
