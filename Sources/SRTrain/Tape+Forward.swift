#if canImport(Glibc)
import Glibc
#endif

/// Forward rules: one switch over `TrainOp`, checking shapes and computing the output (plus what the gradient rule
/// needs later).
extension Tape {
    static let scalar = TShape(n: 1, c: 1, h: 1, w: 1)

    func forward(_ op: TrainOp, _ v: [Variable]) throws -> Node {
        let x = v[0], s = x.shape
        var saved: [Float] = [], indices: [Int] = []
        func mismatch(_ detail: String) -> TrainError { .shapeMismatch(op: op.name, detail: detail) }
        func sameShape(_ other: Variable) throws {
            guard other.shape == s else { throw mismatch("\(s) vs \(other.shape)") }
        }
        func perChannel(_ values: Variable, _ what: String, sharedAllowed: Bool = false) throws {
            let n = values.data.count
            guard n == s.c || (sharedAllowed && n == 1) else {
                throw mismatch("\(n) \(what) for \(s.c) channels of \(s)")
            }
        }
        let out: Variable
        switch op {
        case .conv2d(let stride, let padding):
            let w = v[1].shape
            guard w.c == s.c, w.h == w.w, stride > 0, padding >= 0 else {
                throw mismatch("input \(s), weights \(w) (OIHW, square kernel), stride \(stride), padding \(padding)")
            }
            if v.count > 2 { guard v[2].data.count == w.n else { throw mismatch("\(v[2].data.count) biases for \(w.n) outputs") } }
            let o = TShape(n: s.n, c: w.n, h: (s.h + 2 * padding - w.h) / stride + 1, w: (s.w + 2 * padding - w.w) / stride + 1)
            guard s.h + 2 * padding >= w.h, s.w + 2 * padding >= w.w else { throw mismatch("kernel \(w.h) larger than padded input \(s)") }
            out = Variable(o, data: try convolution.forward(x: x, w: v[1], b: v.count > 2 ? v[2] : nil, stride: stride,
                                                            padding: padding, output: o))
        case .relu:
            out = Variable(s, data: ElementWise.map(x.data) { max($0, 0) })
        case .leakyRelu(let slope):
            out = Variable(s, data: ElementWise.map(x.data) { $0 > 0 ? $0 : $0 * slope })
        case .prelu:
            try perChannel(v[1], "slopes", sharedAllowed: true)
            let a = v[1].data, shared = a.count == 1
            out = Variable(s, data: ElementWise.mapChannels(x.data, s) { value, c in
                value > 0 ? value : value * a[shared ? 0 : c]
            })
        case .sigmoid:
            out = Variable(s, data: ElementWise.map(x.data) { 1 / (1 + expf(-$0)) })
        case .affine(let scale, let shift):
            out = Variable(s, data: ElementWise.map(x.data) { $0 * scale + shift })
        case .channelAffine(let scale, let shift):
            guard scale.count == s.c, shift.count == s.c else {
                throw mismatch("\(scale.count) scales and \(shift.count) shifts for \(s.c) channels")
            }
            out = Variable(s, data: ElementWise.mapChannels(x.data, s) { value, c in value * scale[c] + shift[c] })
        case .axpby(let a, let b):
            try sameShape(v[1])
            out = Variable(s, data: ElementWise.map(x.data, v[1].data) { a * $0 + b * $1 })
        case .pixelShuffle(let r):
            guard r > 0, s.c % (r * r) == 0 else { throw mismatch("\(s.c) channels do not split by factor \(r) squared") }
            out = Variable(TShape(n: s.n, c: s.c / (r * r), h: s.h * r, w: s.w * r),
                           data: TrainKernels.shuffle(x.data, s, factor: r, inverse: false))
        case .upsampleBilinear(let r):
            guard r > 0 else { throw mismatch("factor \(r) must be positive") }
            out = Variable(TShape(n: s.n, c: s.c, h: s.h * r, w: s.w * r), data: TrainKernels.upsample(x.data, s, factor: r))
        case .batchNorm(let epsilon):
            try perChannel(v[1], "weights")
            try perChannel(v[2], "biases")
            guard s.n * s.h * s.w > 1 else { throw mismatch("batch statistics need more than one value per channel, got \(s)") }
            let (mean, variance) = TrainKernels.batchStatistics(x.data, s)
            let invStd = variance.map { 1 / ($0 + epsilon).squareRoot() }
            let xhat = ElementWise.mapChannels(x.data, s) { value, c in (value - mean[c]) * invStd[c] }
            let gamma = v[1].data, beta = v[2].data
            out = Variable(s, data: ElementWise.mapChannels(xhat, s) { value, c in value * gamma[c] + beta[c] })
            saved = xhat + invStd + mean + variance
        case .batchNormInference(let epsilon):
            for (k, what) in [(1, "weights"), (2, "biases"), (3, "running means"), (4, "running variances")] {
                try perChannel(v[k], what)
            }
            let invStd = v[4].data.map { 1 / ($0 + epsilon).squareRoot() }
            let mean = v[3].data, gamma = v[1].data, beta = v[2].data
            out = Variable(s, data: ElementWise.mapChannels(x.data, s) { value, c in
                (value - mean[c]) * invStd[c] * gamma[c] + beta[c]
            })
            saved = invStd
        case .flatten:
            out = Variable(TShape(n: s.n, c: s.c * s.h * s.w, h: 1, w: 1), data: x.data)
        case .linear:
            let w = v[1].shape, k = s.c * s.h * s.w
            guard w.c * w.h * w.w == k else { throw mismatch("\(k) inputs per sample vs weights \(w) ([outputs, inputs])") }
            if v.count > 2 { guard v[2].data.count == w.n else { throw mismatch("\(v[2].data.count) biases for \(w.n) outputs") } }
            out = Variable(TShape(n: s.n, c: w.n, h: 1, w: 1),
                           data: TrainKernels.linear(x.data, v[1].data, v.count > 2 ? v[2].data : nil, batch: s.n,
                                                     inputs: k, outputs: w.n))
        case .maxPool2:
            guard s.h >= 2, s.w >= 2 else { throw mismatch("input \(s) is smaller than the 2x2 window") }
            let (y, argmax) = TrainKernels.maxPool2(x.data, s)
            out = Variable(TShape(n: s.n, c: s.c, h: s.h / 2, w: s.w / 2), data: y)
            indices = argmax
        case .mean, .sum:
            let total = x.data.withUnsafeBufferPointer { xs in ElementWise.sum(xs.count) { Double(xs[$0]) } }
            out = Variable(Self.scalar, data: [Float(op == .sum ? total : total / Double(max(s.count, 1)))])
        case .l1Loss, .mseLoss, .charbonnierLoss:
            try sameShape(v[1])
            let total = x.data.withUnsafeBufferPointer { xs in v[1].data.withUnsafeBufferPointer { ts in
                switch op {
                case .l1Loss:
                    ElementWise.sum(xs.count) { Double(abs(xs[$0] - ts[$0])) }
                case .mseLoss:
                    ElementWise.sum(xs.count) { let d = Double(xs[$0] - ts[$0]); return d * d }
                default:
                    ElementWise.sum(xs.count) { i in
                        let d = Double(xs[i] - ts[i]), e = Double(op.charbonnierEpsilon)
                        return (d * d + e * e).squareRoot()
                    }
                }
            } }
            out = Variable(Self.scalar, data: [Float(total / Double(s.count))])
        case .bceWithLogits(let target):
            guard (0...1).contains(target) else { throw mismatch("target \(target) must lie in 0...1") }
            let t = Double(target)
            let total = x.data.withUnsafeBufferPointer { xs in
                ElementWise.sum(xs.count) { i in
                    let z = Double(xs[i])
                    return max(z, 0) - z * t + log1p(exp(-abs(z)))
                }
            }
            out = Variable(Self.scalar, data: [Float(total / Double(s.count))])
        }
        return Node(op: op, inputs: v, output: out, saved: saved, savedIndices: indices)
    }
}

extension TrainOp {
    /// The epsilon of `.charbonnierLoss` (0 for every other op).
    var charbonnierEpsilon: Float {
        if case .charbonnierLoss(let e) = self { return e }
        return 0
    }
}
