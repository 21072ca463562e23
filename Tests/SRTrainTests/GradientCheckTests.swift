import Testing
import SRCore
@testable import SRTrain

/// Central finite differences vs the tape's gradient rules, op by op.
///
/// Each check builds `loss = mse(op(inputs), target)` for a random target (or takes the op's own value when it is a
/// loss or a reduction), perturbs sampled coordinates of every input that requires a gradient by ±`step`, and
/// compares (L(x+h) - L(x-h)) / 2h, with L accumulated in Double, to the analytic gradient. Values are drawn away
/// from the kinks of ReLU-like ops and from pooling ties, so the loss is smooth where it is probed.
enum GradientCheck {
    static let step: Float = 1e-2
    /// |analytic - numeric| <= absolute + relative * max(|numeric|, |analytic|): float32 forward passes, h = 1e-2.
    static let absolute = 2e-4
    static let relative = 3e-2

    static func random(_ s: TShape, _ g: inout SeededGenerator, awayFromZero: Bool = true, grad: Bool = true) -> Variable {
        let data = (0..<s.count).map { _ -> Float in
            let m = awayFromZero ? Float.random(in: 0.1...1, using: &g) : Float.random(in: 0...1, using: &g)
            return Bool.random(using: &g) ? m : -m
        }
        return Variable(s, data: data, requiresGrad: grad)
    }

    /// Checks the gradient of every input of `op` that requires one at `samples` random coordinates.
    static func check(_ op: TrainOp, _ inputs: [Variable], seed: UInt64, engine: any ConvolutionEngine = ReferenceConvolution(),
                      samples: Int = 12, sourceLocation: SourceLocation = #_sourceLocation) throws {
        var g = SeededGenerator(seed: seed)
        let probe = try Tape(convolution: engine).apply(op, inputs)
        let isScalar = op.isLoss || op == .mean || op == .sum
        let target = (0..<probe.shape.count).map { _ in Float.random(in: -1...1, using: &g) }
        func loss(_ y: Variable) -> Double {
            if isScalar { return Double(y.scalar) }
            return zip(y.data, target).reduce(0.0) { $0 + Double($1.0 - $1.1) * Double($1.0 - $1.1) } / Double(target.count)
        }
        let tape = Tape(convolution: engine)
        for v in inputs { v.zeroGrad() }
        let y = try tape.apply(op, inputs)
        try tape.backward(isScalar ? y : try tape.apply(.mseLoss, [y, Variable(y.shape, data: target)]))
        for (k, v) in inputs.enumerated() where v.requiresGrad {
            let analytic = try #require(v.grad, "\(op.name): input \(k) got no gradient (seed \(seed))",
                                        sourceLocation: sourceLocation)
            for _ in 0..<min(samples, v.data.count) {
                let i = Int.random(in: 0..<v.data.count, using: &g)
                let keep = v.data[i]
                v.data[i] = keep + step
                let plus = loss(try Tape(convolution: engine).apply(op, inputs))
                v.data[i] = keep - step
                let minus = loss(try Tape(convolution: engine).apply(op, inputs))
                v.data[i] = keep
                let numeric = (plus - minus) / Double(2 * step), a = Double(analytic[i])
                let limit = absolute + relative * max(abs(numeric), abs(a))
                #expect(abs(a - numeric) <= limit,
                        "\(op.name) input \(k)[\(i)] of \(v.shape): analytic \(a) vs numeric \(numeric) (seed \(seed))",
                        sourceLocation: sourceLocation)
            }
        }
    }
}

@Suite("Gradient rules vs finite differences")
struct GradientCheckTests {
    @Test("conv2d: seeded random shapes (non-square, kernels 1-5, stride 1-2, padding), with and without bias, both engines",
          arguments: [UInt64(11), 12, 13, 14, 15])
    func conv2d(seed: UInt64) throws {
        var g = SeededGenerator(seed: seed)
        let k = [1, 3, 4, 5].randomElement(using: &g)!, stride = Int.random(in: 1...2, using: &g)
        let padding = Int.random(in: 0...(k / 2), using: &g), bias = Bool.random(using: &g)
        let x = GradientCheck.random(TShape(n: Int.random(in: 1...2, using: &g), c: Int.random(in: 1...4, using: &g),
                                            h: Int.random(in: k...9, using: &g), w: Int.random(in: k...9, using: &g)), &g)
        let w = GradientCheck.random(TShape(n: Int.random(in: 1...4, using: &g), c: x.shape.c, h: k, w: k), &g)
        let b = GradientCheck.random(TShape(n: w.shape.n, c: 1, h: 1, w: 1), &g)
        let inputs = bias ? [x, w, b] : [x, w]
        let op = TrainOp.conv2d(stride: stride, padding: padding)
        try GradientCheck.check(op, inputs, seed: seed)
        try GradientCheck.check(op, inputs, seed: seed + 100, engine: try DNNLConvolution())
    }

    @Test("activations: relu, leaky relu, prelu (per channel and shared), sigmoid")
    func activations() throws {
        var g = SeededGenerator(seed: 21)
        let s = TShape(n: 2, c: 3, h: 4, w: 5)
        try GradientCheck.check(.relu, [GradientCheck.random(s, &g)], seed: 22)
        try GradientCheck.check(.leakyRelu(slope: 0.2), [GradientCheck.random(s, &g)], seed: 23)
        try GradientCheck.check(.prelu, [GradientCheck.random(s, &g), GradientCheck.random(TShape(n: 3, c: 1, h: 1, w: 1), &g)], seed: 24)
        try GradientCheck.check(.prelu, [GradientCheck.random(s, &g), GradientCheck.random(TShape(n: 1, c: 1, h: 1, w: 1), &g)], seed: 25)
        try GradientCheck.check(.sigmoid, [GradientCheck.random(s, &g, awayFromZero: false)], seed: 26)
    }

    @Test("element-wise and reshaping: affine, channel affine, axpby, pixel shuffle, flatten")
    func elementWise() throws {
        var g = SeededGenerator(seed: 31)
        let s = TShape(n: 2, c: 8, h: 3, w: 4)
        try GradientCheck.check(.affine(scale: -1.7, shift: 0.3), [GradientCheck.random(s, &g)], seed: 32)
        try GradientCheck.check(.channelAffine(scale: [2, -0.5, 1.5], shift: [0.1, 0.2, -0.3]),
                                [GradientCheck.random(TShape(n: 2, c: 3, h: 3, w: 3), &g)], seed: 33)
        try GradientCheck.check(.axpby(a: 0.7, b: -1.3), [GradientCheck.random(s, &g), GradientCheck.random(s, &g)], seed: 34)
        try GradientCheck.check(.pixelShuffle(factor: 2), [GradientCheck.random(s, &g)], seed: 35)
        try GradientCheck.check(.flatten, [GradientCheck.random(s, &g)], seed: 36)
    }

    @Test("bilinear upsampling (half-pixel centres, clamped borders), factors 2-4, non-square", arguments: [2, 3, 4])
    func upsample(factor: Int) throws {
        var g = SeededGenerator(seed: UInt64(40 + factor))
        try GradientCheck.check(.upsampleBilinear(factor: factor), [GradientCheck.random(TShape(n: 2, c: 2, h: 3, w: 5), &g)],
                                seed: UInt64(45 + factor), samples: 20)
    }

    @Test("linear, 2x2 max pool (odd sides), batch norm in training and eval mode")
    func structure() throws {
        var g = SeededGenerator(seed: 51)
        try GradientCheck.check(.linear, [GradientCheck.random(TShape(n: 3, c: 2, h: 2, w: 2), &g),
                                          GradientCheck.random(TShape(n: 5, c: 8, h: 1, w: 1), &g),
                                          GradientCheck.random(TShape(n: 5, c: 1, h: 1, w: 1), &g)], seed: 52)
        // Distinct values in every pooling window keep the max away from ties; the odd last row and column drop.
        let pooled = Variable(TShape(n: 1, c: 2, h: 5, w: 7), data: (0..<70).map { Float(($0 * 37) % 70) / 10 - 3.4 },
                              requiresGrad: true)
        try GradientCheck.check(.maxPool2, [pooled], seed: 53)
        let x = GradientCheck.random(TShape(n: 3, c: 2, h: 3, w: 4), &g)
        let gamma = GradientCheck.random(TShape(n: 2, c: 1, h: 1, w: 1), &g)
        let beta = GradientCheck.random(TShape(n: 2, c: 1, h: 1, w: 1), &g)
        try GradientCheck.check(.batchNorm(epsilon: 1e-5), [x, gamma, beta], seed: 54)
        let runningMean = Variable(TShape(n: 2, c: 1, h: 1, w: 1), data: [0.3, -0.2])
        let runningVar = Variable(TShape(n: 2, c: 1, h: 1, w: 1), data: [0.5, 1.7])
        try GradientCheck.check(.batchNormInference(epsilon: 1e-5), [x, gamma, beta, runningMean, runningVar], seed: 55)
    }

    @Test("reductions and losses: mean, sum, L1, MSE, Charbonnier, BCE with logits (targets 0, 0.3, 1)")
    func losses() throws {
        var g = SeededGenerator(seed: 61)
        let s = TShape(n: 2, c: 3, h: 3, w: 2)
        try GradientCheck.check(.mean, [GradientCheck.random(s, &g)], seed: 62)
        try GradientCheck.check(.sum, [GradientCheck.random(s, &g)], seed: 63)
        for op in [TrainOp.l1Loss, .mseLoss, .charbonnierLoss(epsilon: 1e-3)] {
            // Both sides need gradients (the target's is the negated input gradient); their differences stay at
            // least 0.1 away from L1's kink at 0.
            let a = GradientCheck.random(s, &g), d = GradientCheck.random(s, &g)
            let b = Variable(s, data: zip(a.data, d.data).map { $0 + $1 }, requiresGrad: true)
            try GradientCheck.check(op, [a, b], seed: 64)
        }
        for t: Float in [0, 0.3, 1] {
            try GradientCheck.check(.bceWithLogits(target: t), [GradientCheck.random(s, &g, awayFromZero: false)], seed: 65)
        }
    }

    @Test("ops check their inputs: shape mismatches and non-scalar losses are named errors")
    func errors() throws {
        let tape = Tape(convolution: ReferenceConvolution())
        let a = Variable(zeros: TShape(n: 1, c: 2, h: 3, w: 3), requiresGrad: true)
        let b = Variable(zeros: TShape(n: 1, c: 2, h: 3, w: 4))
        #expect(throws: TrainError.self) { try tape.apply(.axpby(a: 1, b: 1), [a, b]) }
        #expect(throws: TrainError.self) { try tape.apply(.l1Loss, [a, b]) }
        #expect(throws: TrainError.self) { try tape.apply(.pixelShuffle(factor: 2), [a]) }
        #expect(throws: TrainError.self) { try tape.apply(.relu, [a, b]) }
        #expect(throws: TrainError.self) {
            try tape.apply(.conv2d(stride: 1, padding: 0), [a, Variable(zeros: TShape(n: 4, c: 3, h: 3, w: 3))])
        }
        #expect(throws: TrainError.self) { try tape.backward(try tape.apply(.relu, [a])) }
    }
}
