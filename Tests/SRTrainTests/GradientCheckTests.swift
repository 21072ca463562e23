import Testing
import SRCore
@testable import SRTrain

/// Central finite differences vs the tape's gradient rules, op by op.
///
/// Each check builds `loss = mse(op(inputs), target)` for a random target, perturbs sampled coordinates of every
/// input that requires a gradient by ±`step` and compares (L(x+h) - L(x-h)) / 2h with the analytic gradient.
/// Values are drawn away from the kinks of ReLU-like ops and from pooling ties, so the loss is smooth at them.
enum GradientCheck {
    static let step: Float = 1e-2
    /// |analytic - numeric| <= absolute + relative * max(|numeric|, |analytic|): float32 losses, h = 1e-2.
    static let absolute: Float = 2e-4
    static let relative: Float = 3e-2

    static func random(_ s: TShape, _ g: inout SeededGenerator, awayFromZero: Bool = true, grad: Bool = true) -> Variable {
        let data = (0..<s.count).map { _ -> Float in
            let m = awayFromZero ? Float.random(in: 0.1...1, using: &g) : Float.random(in: 0...1, using: &g)
            return Bool.random(using: &g) ? m : -m
        }
        return Variable(s, data: data, requiresGrad: grad)
    }

    static func check(_ op: TrainOp, _ inputs: [Variable], seed: UInt64, engine: any ConvolutionEngine = ReferenceConvolution(),
                      samples: Int = 12, sourceLocation: SourceLocation = #_sourceLocation) throws {
        var g = SeededGenerator(seed: seed)
        let tape = Tape(convolution: engine)
        let probe = try tape.apply(op, inputs)
        let isLoss = probe.shape.count == 1 && op.name.hasSuffix("Loss") || op.name == "bceWithLogits"
        let target = Variable(probe.shape, data: (0..<probe.shape.count).map { _ in Float.random(in: -1...1, using: &g) })
        func loss() throws -> Float {
            let t = Tape(convolution: engine)
            let y = try t.apply(op, inputs)
            return isLoss ? y.scalar : try t.apply(.mseLoss, [y, target]).scalar
        }
        tape.reset()
        for v in inputs { v.zeroGrad() }
        let y = try tape.apply(op, inputs)
        let l = isLoss ? y : try tape.apply(.mseLoss, [y, target])
        try tape.backward(l)
        for (k, v) in inputs.enumerated() where v.requiresGrad {
            let analytic = try #require(v.grad, "\(op.name): input \(k) got no gradient", sourceLocation: sourceLocation)
            for _ in 0..<min(samples, v.data.count) {
                let i = Int.random(in: 0..<v.data.count, using: &g)
                let keep = v.data[i]
                v.data[i] = keep + step
                let plus = try loss()
                v.data[i] = keep - step
                let minus = try loss()
                v.data[i] = keep
                let numeric = (plus - minus) / (2 * step)
                let limit = absolute + relative * max(abs(numeric), abs(analytic[i]))
                #expect(abs(analytic[i] - numeric) <= limit,
                        "\(op.name) input \(k)[\(i)]: analytic \(analytic[i]) vs numeric \(numeric) (seed \(seed))",
                        sourceLocation: sourceLocation)
            }
        }
    }
}

@Suite("Gradient rules vs finite differences")
struct GradientCheckTests {
    @Test("conv2d: stride 1 and 2, padding 0 and 1, non-square, with and without bias, both engines",
          arguments: [(1, 1, true), (2, 0, true), (2, 1, false), (1, 0, false)])
    func conv2d(stride: Int, padding: Int, bias: Bool) throws {
        var g = SeededGenerator(seed: UInt64(10 + stride * 3 + padding))
        let x = GradientCheck.random(TShape(n: 2, c: 3, h: 7, w: 6), &g)
        let w = GradientCheck.random(TShape(n: 4, c: 3, h: 3, w: 3), &g)
        let b = GradientCheck.random(TShape(n: 4, c: 1, h: 1, w: 1), &g)
        let inputs = bias ? [x, w, b] : [x, w]
        try GradientCheck.check(.conv2d(stride: stride, padding: padding), inputs, seed: 11)
        try GradientCheck.check(.conv2d(stride: stride, padding: padding), inputs, seed: 12, engine: try DNNLConvolution())
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

    @Test("structure: axpby, pixel shuffle, linear, 2x2 max pool, batch norm")
    func structure() throws {
        var g = SeededGenerator(seed: 31)
        let s = TShape(n: 2, c: 8, h: 3, w: 4)
        try GradientCheck.check(.axpby(a: 0.7, b: -1.3), [GradientCheck.random(s, &g), GradientCheck.random(s, &g)], seed: 32)
        try GradientCheck.check(.pixelShuffle(factor: 2), [GradientCheck.random(s, &g)], seed: 33)
        try GradientCheck.check(.linear, [GradientCheck.random(TShape(n: 3, c: 2, h: 2, w: 2), &g),
                                          GradientCheck.random(TShape(n: 5, c: 8, h: 1, w: 1), &g),
                                          GradientCheck.random(TShape(n: 5, c: 1, h: 1, w: 1), &g)], seed: 34)
        // Distinct values in every pooling window keep the max away from ties.
        let pooled = Variable(TShape(n: 1, c: 2, h: 4, w: 6), data: (0..<48).map { Float(($0 * 37) % 48) / 10 - 2.4 },
                              requiresGrad: true)
        try GradientCheck.check(.maxPool2, [pooled], seed: 35)
        try GradientCheck.check(.batchNorm(epsilon: 1e-5), [GradientCheck.random(TShape(n: 3, c: 2, h: 3, w: 3), &g),
                                                            GradientCheck.random(TShape(n: 2, c: 1, h: 1, w: 1), &g),
                                                            GradientCheck.random(TShape(n: 2, c: 1, h: 1, w: 1), &g)], seed: 36)
    }

    @Test("losses: L1, MSE, Charbonnier, BCE with logits (both targets)")
    func losses() throws {
        var g = SeededGenerator(seed: 41)
        let s = TShape(n: 2, c: 3, h: 3, w: 2)
        for op in [TrainOp.l1Loss, .mseLoss, .charbonnierLoss(epsilon: 1e-3)] {
            try GradientCheck.check(op, [GradientCheck.random(s, &g), GradientCheck.random(s, &g, grad: false)], seed: 42)
        }
        for t: Float in [0, 1] {
            try GradientCheck.check(.bceWithLogits(target: t), [GradientCheck.random(s, &g, awayFromZero: false)], seed: 43)
        }
    }
}
