#if canImport(Glibc)
import Glibc
#endif

/// Gradient rules: one switch over `TrainOp`. Each case takes d(loss)/d(output) `g` and accumulates
/// d(loss)/d(input) into every input that `requiresGrad`.
extension Tape {
    func backward(_ node: Node, _ g: [Float]) throws {
        let v = node.inputs, x = v[0], s = x.shape
        /// Accumulates into input `k` when it needs a gradient; `rule` runs only then.
        func flow(_ k: Int, _ rule: () throws -> [Float]) rethrows {
            if v.count > k, v[k].requiresGrad { v[k].accumulate(try rule()) }
        }
        switch node.op {
        case .conv2d(let stride, let padding):
            let w = v[1], o = node.output.shape
            try flow(0) {
                try convolution.backwardData(dy: g, w: w, input: s, output: o, stride: stride, padding: padding)
            }
            let bias = v.count > 2
            if w.requiresGrad || (bias && v[2].requiresGrad) {
                let (dw, db) = try convolution.backwardWeights(x: x, dy: g, weights: w.shape, bias: bias, output: o,
                                                               stride: stride, padding: padding)
                if w.requiresGrad { w.accumulate(dw) }
                if bias, v[2].requiresGrad, let db { v[2].accumulate(db) }
            }
        case .relu:
            flow(0) { ElementWise.map(g, x.data) { $1 > 0 ? $0 : 0 } }
        case .leakyRelu(let slope):
            flow(0) { ElementWise.map(g, x.data) { $1 > 0 ? $0 : $0 * slope } }
        case .prelu:
            let a = v[1].data, shared = a.count == 1
            flow(0) { ElementWise.mapChannels(g, x.data, s) { gi, xi, c in xi > 0 ? gi : gi * a[shared ? 0 : c] } }
            flow(1) {
                let perChannel = g.withUnsafeBufferPointer { gs in x.data.withUnsafeBufferPointer { xs in
                    ElementWise.channelSums(s) { i, _ in xs[i] > 0 ? 0 : Double(gs[i] * xs[i]) }
                } }
                return shared ? [Float(perChannel.reduce(0, +))] : perChannel.map { Float($0) }
            }
        case .sigmoid:
            flow(0) { ElementWise.map(g, node.output.data) { $0 * $1 * (1 - $1) } }
        case .affine(let scale, _):
            flow(0) { ElementWise.map(g) { $0 * scale } }
        case .channelAffine(let scale, _):
            flow(0) { ElementWise.mapChannels(g, s) { gi, c in gi * scale[c] } }
        case .axpby(let a, let b):
            flow(0) { a == 1 ? g : ElementWise.map(g) { $0 * a } }
            flow(1) { b == 1 ? g : ElementWise.map(g) { $0 * b } }
        case .pixelShuffle(let r):
            flow(0) { TrainKernels.shuffle(g, s, factor: r, inverse: true) }
        case .upsampleBilinear(let r):
            flow(0) { TrainKernels.upsampleAdjoint(g, s, factor: r) }
        case .batchNorm:
            // With x̂ = (x - μ) σ⁻¹ and m values per channel:
            // dγ = Σ g x̂, dβ = Σ g, dx = γ σ⁻¹ (g - dβ/m - x̂ dγ/m).
            let c = s.c, m = Float(s.n * s.h * s.w)
            let invStd = Array(node.saved[s.count..<(s.count + c)])
            let (sumG, sumGX) = g.withUnsafeBufferPointer { gs in node.saved.withUnsafeBufferPointer { xh in
                (ElementWise.channelSums(s) { i, _ in Double(gs[i]) }.map { Float($0) },
                 ElementWise.channelSums(s) { i, _ in Double(gs[i] * xh[i]) }.map { Float($0) })
            } }
            flow(1) { sumGX }
            flow(2) { sumG }
            flow(0) {
                let gamma = v[1].data
                return ElementWise.mapChannels(g, node.saved, s) { gi, xh, c in
                    gamma[c] * invStd[c] * (gi - sumG[c] / m - xh * sumGX[c] / m)
                }
            }
        case .batchNormInference:
            let invStd = node.saved, gamma = v[1].data, mean = v[3].data
            flow(0) { ElementWise.mapChannels(g, s) { gi, c in gi * gamma[c] * invStd[c] } }
            flow(1) {
                g.withUnsafeBufferPointer { gs in x.data.withUnsafeBufferPointer { xs in
                    ElementWise.channelSums(s) { i, c in Double(gs[i] * (xs[i] - mean[c]) * invStd[c]) }.map { Float($0) }
                } }
            }
            flow(2) {
                g.withUnsafeBufferPointer { gs in ElementWise.channelSums(s) { i, _ in Double(gs[i]) }.map { Float($0) } }
            }
        case .flatten:
            flow(0) { g }
        case .linear:
            let w = v[1], k = s.c * s.h * s.w, o = w.shape.n
            flow(0) { TrainKernels.linearInputGradient(g, w.data, batch: s.n, inputs: k, outputs: o) }
            flow(1) { TrainKernels.linearWeightGradient(g, x.data, batch: s.n, inputs: k, outputs: o) }
            flow(2) {
                var db = [Float](repeating: 0, count: o)
                for n in 0..<s.n { for j in 0..<o { db[j] += g[n * o + j] } }
                return db
            }
        case .maxPool2:
            flow(0) {
                var dx = [Float](repeating: 0, count: s.count)
                for (j, i) in node.savedIndices.enumerated() { dx[i] += g[j] }
                return dx
            }
        case .mean:
            flow(0) { [Float](repeating: g[0] / Float(s.count), count: s.count) }
        case .sum:
            flow(0) { [Float](repeating: g[0], count: s.count) }
        case .l1Loss, .mseLoss, .charbonnierLoss:
            let scale = g[0] / Float(s.count), op = node.op, eps = op.charbonnierEpsilon
            // d(loss)/d(input 0); the target's gradient is its negation.
            let d = ElementWise.map(x.data, v[1].data) { a, b in
                let e = a - b
                switch op {
                case .l1Loss: return e > 0 ? scale : (e < 0 ? -scale : 0)
                case .mseLoss: return 2 * e * scale
                default: return e / (e * e + eps * eps).squareRoot() * scale
                }
            }
            flow(0) { d }
            flow(1) { ElementWise.map(d) { -$0 } }
        case .bceWithLogits(let target):
            let scale = g[0] / Float(s.count)
            flow(0) { ElementWise.map(x.data) { (1 / (1 + expf(-$0)) - target) * scale } }
        }
    }
}
