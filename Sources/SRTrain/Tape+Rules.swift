#if canImport(Glibc)
import Glibc
#endif

/// Forward and gradient rules, one switch each over `TrainOp`.
extension Tape {
    func forward(_ op: TrainOp, _ v: [Variable]) throws -> Node {
        let x = v[0], s = x.shape
        var saved: [Float] = [], indices: [Int] = []
        let out: Variable
        switch op {
        case .conv2d(let stride, let padding):
            let w = v[1]
            guard w.shape.c == s.c, w.shape.h == w.shape.w else {
                throw TrainError.shapeMismatch(op: "conv2d", detail: "input \(s) vs weights \(w.shape)")
            }
            let o = TShape(n: s.n, c: w.shape.n, h: (s.h + 2 * padding - w.shape.h) / stride + 1,
                           w: (s.w + 2 * padding - w.shape.w) / stride + 1)
            out = Variable(o, data: try convolution.forward(x: x, w: w, b: v.count > 2 ? v[2] : nil, stride: stride,
                                                            padding: padding, output: o))
        case .relu:
            out = Variable(s, data: x.data.map { max($0, 0) })
        case .leakyRelu(let slope):
            out = Variable(s, data: x.data.map { $0 > 0 ? $0 : $0 * slope })
        case .prelu:
            let a = v[1].data, plane = s.h * s.w
            var y = x.data
            for i in y.indices where y[i] < 0 { y[i] *= a.count == 1 ? a[0] : a[(i / plane) % s.c] }
            out = Variable(s, data: y)
        case .sigmoid:
            out = Variable(s, data: x.data.map { 1 / (1 + expf(-$0)) })
        case .channelAffine(let scale, let shift):
            guard scale.count == s.c, shift.count == s.c else {
                throw TrainError.shapeMismatch(op: "channelAffine", detail: "\(scale.count) scales for \(s.c) channels")
            }
            let plane = s.h * s.w
            var y = x.data
            for i in y.indices { let c = (i / plane) % s.c; y[i] = y[i] * scale[c] + shift[c] }
            out = Variable(s, data: y)
        case .axpby(let a, let b):
            let y = v[1]
            guard y.shape == s else { throw TrainError.shapeMismatch(op: "axpby", detail: "\(s) vs \(y.shape)") }
            var r = [Float](repeating: 0, count: s.count)
            for i in r.indices { r[i] = a * x.data[i] + b * y.data[i] }
            out = Variable(s, data: r)
        case .pixelShuffle(let r):
            guard s.c % (r * r) == 0 else { throw TrainError.shapeMismatch(op: "pixelShuffle", detail: "\(s.c) channels, factor \(r)") }
            let o = TShape(n: s.n, c: s.c / (r * r), h: s.h * r, w: s.w * r)
            var y = [Float](repeating: 0, count: o.count)
            Self.shuffle(s, r) { src, dst in y[dst] = x.data[src] }
            out = Variable(o, data: y)
        case .batchNorm(let epsilon):
            let stats = Self.batchStatistics(x, epsilon: epsilon)
            let gamma = v[1].data, beta = v[2].data, plane = s.h * s.w
            var y = [Float](repeating: 0, count: s.count)
            for i in y.indices {
                let c = (i / plane) % s.c
                y[i] = stats.saved[i] * gamma[c] + beta[c]
            }
            saved = stats.saved
            out = Variable(s, data: y)
        case .linear:
            let w = v[1], k = s.c * s.h * s.w, o = w.shape.n
            guard w.shape.c == k else { throw TrainError.shapeMismatch(op: "linear", detail: "\(k) inputs vs weights \(w.shape)") }
            var y = [Float](repeating: 0, count: s.n * o)
            for n in 0..<s.n { for j in 0..<o {
                var acc = v.count > 2 ? v[2].data[j] : 0
                for i in 0..<k { acc += w.data[j * k + i] * x.data[n * k + i] }
                y[n * o + j] = acc
            } }
            out = Variable(TShape(n: s.n, c: o, h: 1, w: 1), data: y)
        case .maxPool2:
            let o = TShape(n: s.n, c: s.c, h: s.h / 2, w: s.w / 2)
            var y = [Float](repeating: 0, count: o.count)
            indices = [Int](repeating: 0, count: o.count)
            for p in 0..<(s.n * s.c) { for oy in 0..<o.h { for ox in 0..<o.w {
                var best = -Float.infinity, at = 0
                for dy in 0..<2 { for dx in 0..<2 {
                    let i = (p * s.h + oy * 2 + dy) * s.w + ox * 2 + dx
                    if x.data[i] > best { best = x.data[i]; at = i }
                } }
                let j = (p * o.h + oy) * o.w + ox
                y[j] = best
                indices[j] = at
            } } }
            out = Variable(o, data: y)
        case .l1Loss, .mseLoss, .charbonnierLoss:
            let t = v[1]
            guard t.shape == s else { throw TrainError.shapeMismatch(op: op.name, detail: "\(s) vs \(t.shape)") }
            var sum = 0.0
            for i in 0..<s.count {
                let d = Double(x.data[i] - t.data[i])
                switch op {
                case .l1Loss: sum += abs(d)
                case .mseLoss: sum += d * d
                case .charbonnierLoss(let e): sum += (d * d + Double(e * e)).squareRoot()
                default: break
                }
            }
            out = Variable(TShape(n: 1, c: 1, h: 1, w: 1), data: [Float(sum / Double(s.count))])
        case .bceWithLogits(let target):
            var sum = 0.0
            for z in x.data {
                let d = Double(z)
                sum += max(d, 0) - d * Double(target) + log(1 + exp(-abs(d)))
            }
            out = Variable(TShape(n: 1, c: 1, h: 1, w: 1), data: [Float(sum / Double(s.count))])
        }
        return Node(op: op, inputs: v, output: out, saved: saved, savedIndices: indices)
    }

    func backward(_ node: Node, _ g: [Float]) throws {
        let v = node.inputs, x = v[0], s = x.shape
        switch node.op {
        case .conv2d(let stride, let padding):
            let w = v[1], o = node.output.shape
            if x.requiresGrad {
                x.accumulate(try convolution.backwardData(dy: g, w: w, input: s, output: o, stride: stride, padding: padding))
            }
            if w.requiresGrad || (v.count > 2 && v[2].requiresGrad) {
                let (dw, db) = try convolution.backwardWeights(x: x, dy: g, weights: w.shape, bias: v.count > 2, output: o,
                                                               stride: stride, padding: padding)
                if w.requiresGrad { w.accumulate(dw) }
                if v.count > 2, v[2].requiresGrad, let db { v[2].accumulate(db) }
            }
        case .relu:
            if x.requiresGrad { x.accumulate(zip(g, x.data).map { $1 > 0 ? $0 : 0 }) }
        case .leakyRelu(let slope):
            if x.requiresGrad { x.accumulate(zip(g, x.data).map { $1 > 0 ? $0 : $0 * slope }) }
        case .prelu:
            let a = v[1], plane = s.h * s.w
            func slope(_ i: Int) -> Int { a.data.count == 1 ? 0 : (i / plane) % s.c }
            if x.requiresGrad {
                var dx = g
                for i in dx.indices where x.data[i] <= 0 { dx[i] *= a.data[slope(i)] }
                x.accumulate(dx)
            }
            if a.requiresGrad {
                var da = [Float](repeating: 0, count: a.data.count)
                for i in g.indices where x.data[i] <= 0 { da[slope(i)] += g[i] * x.data[i] }
                a.accumulate(da)
            }
        case .sigmoid:
            if x.requiresGrad { x.accumulate(zip(g, node.output.data).map { $0 * $1 * (1 - $1) }) }
        case .channelAffine(let scale, _):
            if x.requiresGrad {
                let plane = s.h * s.w
                var dx = g
                for i in dx.indices { dx[i] *= scale[(i / plane) % s.c] }
                x.accumulate(dx)
            }
        case .axpby(let a, let b):
            if x.requiresGrad { x.accumulate(g.map { $0 * a }) }
            if v[1].requiresGrad { v[1].accumulate(g.map { $0 * b }) }
        case .pixelShuffle(let r):
            if x.requiresGrad {
                var dx = [Float](repeating: 0, count: s.count)
                Self.shuffle(s, r) { src, dst in dx[src] = g[dst] }
                x.accumulate(dx)
            }
        case .batchNorm:
            let gamma = v[1], beta = v[2], plane = s.h * s.w, m = Float(s.n * plane), c = s.c
            let xhat = node.saved, invStd = Array(node.saved[s.count..<(s.count + c)])
            var sumG = [Float](repeating: 0, count: c), sumGX = [Float](repeating: 0, count: c)
            for i in 0..<s.count {
                let ch = (i / plane) % c
                sumG[ch] += g[i]
                sumGX[ch] += g[i] * xhat[i]
            }
            if gamma.requiresGrad { gamma.accumulate(sumGX) }
            if beta.requiresGrad { beta.accumulate(sumG) }
            if x.requiresGrad {
                var dx = [Float](repeating: 0, count: s.count)
                for i in 0..<s.count {
                    let ch = (i / plane) % c
                    dx[i] = gamma.data[ch] * invStd[ch] / m * (m * g[i] - sumG[ch] - xhat[i] * sumGX[ch])
                }
                x.accumulate(dx)
            }
        case .linear:
            let w = v[1], k = s.c * s.h * s.w, o = w.shape.n
            if x.requiresGrad {
                var dx = [Float](repeating: 0, count: s.count)
                for n in 0..<s.n { for j in 0..<o { let gj = g[n * o + j]
                    for i in 0..<k { dx[n * k + i] += gj * w.data[j * k + i] } } }
                x.accumulate(dx)
            }
            if w.requiresGrad {
                var dw = [Float](repeating: 0, count: w.data.count)
                for n in 0..<s.n { for j in 0..<o { let gj = g[n * o + j]
                    for i in 0..<k { dw[j * k + i] += gj * x.data[n * k + i] } } }
                w.accumulate(dw)
            }
            if v.count > 2, v[2].requiresGrad {
                var db = [Float](repeating: 0, count: o)
                for n in 0..<s.n { for j in 0..<o { db[j] += g[n * o + j] } }
                v[2].accumulate(db)
            }
        case .maxPool2:
            if x.requiresGrad {
                var dx = [Float](repeating: 0, count: s.count)
                for (j, i) in node.savedIndices.enumerated() { dx[i] += g[j] }
                x.accumulate(dx)
            }
        case .l1Loss, .mseLoss, .charbonnierLoss:
            let t = v[1], scale = g[0] / Float(s.count)
            var d = [Float](repeating: 0, count: s.count)
            for i in d.indices {
                let e = x.data[i] - t.data[i]
                switch node.op {
                case .l1Loss: d[i] = e > 0 ? scale : (e < 0 ? -scale : 0)
                case .mseLoss: d[i] = 2 * e * scale
                case .charbonnierLoss(let eps): d[i] = e / (e * e + eps * eps).squareRoot() * scale
                default: break
                }
            }
            if x.requiresGrad { x.accumulate(d) }
            if t.requiresGrad { t.accumulate(d.map { -$0 }) }
        case .bceWithLogits(let target):
            if x.requiresGrad {
                let scale = g[0] / Float(s.count)
                x.accumulate(x.data.map { (1 / (1 + expf(-$0)) - target) * scale })
            }
        }
    }

    /// Normalised input (count values), then 1/std, mean and biased variance per channel.
    static func batchStatistics(_ x: Variable, epsilon: Float) -> (saved: [Float], c: Int) {
        let s = x.shape, plane = s.h * s.w, c = s.c
        var mean = [Double](repeating: 0, count: c), sq = [Double](repeating: 0, count: c)
        for i in 0..<s.count {
            let ch = (i / plane) % c, d = Double(x.data[i])
            mean[ch] += d
            sq[ch] += d * d
        }
        let m = Double(s.n * plane)
        var variance = [Float](repeating: 0, count: c), means = [Float](repeating: 0, count: c)
        var invStd = [Float](repeating: 0, count: c)
        for ch in 0..<c {
            let mu = mean[ch] / m
            means[ch] = Float(mu)
            variance[ch] = Float(max(sq[ch] / m - mu * mu, 0))
            invStd[ch] = 1 / (variance[ch] + epsilon).squareRoot()
        }
        var saved = [Float](repeating: 0, count: s.count)
        for i in 0..<s.count {
            let ch = (i / plane) % c
            saved[i] = (x.data[i] - means[ch]) * invStd[ch]
        }
        return (saved + invStd + means + variance, c)
    }

    /// Calls `body(sourceIndex, destinationIndex)` for every element of a PyTorch-order pixel shuffle of `s`.
    static func shuffle(_ s: TShape, _ r: Int, _ body: (Int, Int) -> Void) {
        let oc = s.c / (r * r), oh = s.h * r, ow = s.w * r
        for n in 0..<s.n { for c in 0..<oc { for i in 0..<r { for j in 0..<r {
            let ic = c * r * r + i * r + j
            for y in 0..<s.h { for x in 0..<s.w {
                body(((n * s.c + ic) * s.h + y) * s.w + x, ((n * oc + c) * oh + y * r + i) * ow + x * r + j)
            } }
        } } } }
    }
}
