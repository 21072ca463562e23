import Testing
import SRCore
import SRBackendReference
import SRBackendDNNL
@testable import SRTrain

/// Central finite differences vs the tape's gradient rules (`GraphTape+Rules.swift`), op by op, on one-node graphs.
///
/// Each check takes `loss = mean((graph(inputs) - target)²)` for a random target, perturbs sampled coordinates of
/// every input and every trainable bound parameter by ±`step`, and compares (L(x+h) - L(x-h)) / 2h, with L
/// accumulated in Double, to the analytic gradient. Values are drawn away from the kinks of ReLU-like ops and from
/// pooling ties, so the loss is smooth where it is probed.
enum GradientCheck {
    static let step: Float = 1e-2
    /// |analytic - numeric| <= absolute + relative * max(|numeric|, |analytic|): float32 forward passes, h = 1e-2.
    static let absolute = 2e-4
    static let relative = 3e-2

    static func random(_ dims: [Int], _ g: inout SeededGenerator, awayFromZero: Bool = true) -> Tensor {
        Tensor(dims: dims, data: (0..<dims.reduce(1, *)).map { _ -> Float in
            let m = awayFromZero ? Float.random(in: 0.1...1, using: &g) : Float.random(in: 0...1, using: &g)
            return Bool.random(using: &g) ? m : -m
        })
    }

    /// A graph of `inputs` inputs feeding one `op` node with `bindings`.
    static func graph(_ op: Op, inputs: Int = 1, bindings: [ParameterBinding] = []) -> Graph {
        var graph = Graph()
        let ids = (0..<inputs).map { _ in graph.add(.input) }
        graph.outputs = [graph.add(op, ids, name: "op", bindings: bindings)]
        return graph
    }

    /// Checks the gradient of every input and trainable bound parameter of `graph` at `samples` random coordinates.
    static func check(_ graph: Graph, _ inputs: [Tensor], seed: UInt64, kernels: any GradientKernels = ReferenceGradientKernels(),
                      mode: GraphTape.Mode = .training, samples: Int = 12,
                      sourceLocation: SourceLocation = #_sourceLocation) throws {
        var g = SeededGenerator(seed: seed)
        let name = graph.nodes.last!.op.kind
        let tape = GraphTape(kernels: kernels)
        let y = try tape.forward(graph, inputs: inputs, mode: mode)[0]
        let target = (0..<y.count).map { _ in Float.random(in: -1...1, using: &g) }
        func loss(_ graph: Graph, _ inputs: [Tensor]) throws -> Double {
            let y = try GraphTape(kernels: kernels).forward(graph, inputs: inputs, mode: mode, recording: false)[0]
            return zip(y.data, target).reduce(0.0) { $0 + Double($1.0 - $1.1) * Double($1.0 - $1.1) } / Double(target.count)
        }
        let dy = Tensor(dims: y.dims, data: zip(y.data, target).map { 2 * ($0 - $1) / Float(target.count) })
        let grads = try tape.backward([dy], parameters: true, inputs: true)
        func compare(_ analytic: Float, _ plus: Double, _ minus: Double, _ what: String) {
            let numeric = (plus - minus) / Double(2 * step), a = Double(analytic)
            let limit = absolute + relative * max(abs(numeric), abs(a))
            #expect(abs(a - numeric) <= limit, "\(name) \(what): analytic \(a) vs numeric \(numeric) (seed \(seed))",
                    sourceLocation: sourceLocation)
        }
        for (k, x) in inputs.enumerated() {
            let analytic = try #require(grads.inputs[k], "\(name): input \(k) got no gradient (seed \(seed))",
                                        sourceLocation: sourceLocation)
            for _ in 0..<min(samples, x.count) {
                let i = Int.random(in: 0..<x.count, using: &g)
                var moved = inputs
                moved[k].data[i] = x.data[i] + step
                let plus = try loss(graph, moved)
                moved[k].data[i] = x.data[i] - step
                compare(analytic.data[i], plus, try loss(graph, moved), "input \(k)[\(i)] of \(x.dims)")
            }
        }
        let values = graph.parameterValues
        for key in graph.trainableKeys {
            let value = try #require(values[key]), analytic = try #require(grads.parameters[key],
                                                                          "\(name): parameter \(key) got no gradient (seed \(seed))",
                                                                          sourceLocation: sourceLocation)
            #expect(analytic.count == value.count, sourceLocation: sourceLocation)
            for _ in 0..<min(samples, value.count) {
                let i = Int.random(in: 0..<value.count, using: &g)
                var moved = value, probe = graph
                moved.data[i] = value.data[i] + step
                try probe.bind([key: moved])
                let plus = try loss(probe, inputs)
                moved.data[i] = value.data[i] - step
                try probe.bind([key: moved])
                compare(analytic[i], plus, try loss(probe, inputs), "parameter \(key)[\(i)]")
            }
        }
    }

    static let weightBindings = [ParameterBinding(.weight, "w"), ParameterBinding(.bias, "b")]
}

@Suite("Gradient rules vs finite differences")
struct GradientCheckTests {
    @Test("conv2d: random shapes (kernels 1-5, strides, dilations, asymmetric padding, groups, bias, fused activations), reference and oneDNN kernels",
          arguments: [UInt64(11), 12, 13, 14, 15, 16, 17, 18])
    func conv2d(seed: UInt64) throws {
        var g = SeededGenerator(seed: seed)
        let k = [1, 3, 4, 5].randomElement(using: &g)!, stride = Int.random(in: 1...2, using: &g)
        let dilation = k > 1 && Bool.random(using: &g) ? 2 : 1, span = (k - 1) * dilation + 1
        let groups = Bool.random(using: &g) ? 2 : 1
        let pad = Padding(top: Int.random(in: 0...(k / 2), using: &g), left: Int.random(in: 0...(k / 2), using: &g),
                          bottom: Int.random(in: 0...(k / 2), using: &g), right: Int.random(in: 0...(k / 2), using: &g))
        let inC = groups * Int.random(in: 1...2, using: &g), outC = groups * Int.random(in: 1...2, using: &g)
        let x = GradientCheck.random([Int.random(in: 1...2, using: &g), inC, Int.random(in: span...(span + 4), using: &g),
                                      Int.random(in: span...(span + 4), using: &g)], &g)
        // Smooth fused activations only: a pre-activation near a kink would break the finite differences (the
        // kinked ones are checked as their own nodes, and fused PReLU below).
        let activations: [Activation?] = [nil, .sigmoid, .swish, .gelu(approximate: false)]
        let activation = activations.randomElement(using: &g)!
        let bias = Bool.random(using: &g)
        let conv = Conv2d(weight: GradientCheck.random([outC, inC / groups, k, k], &g),
                          bias: bias ? GradientCheck.random([outC], &g).data : nil, stride: (stride, stride), padding: pad,
                          dilation: (dilation, dilation), groups: groups, activation: activation)
        let bindings = [ParameterBinding(.weight, "w")] + (bias ? [ParameterBinding(.bias, "b")] : [])
        let graph = GradientCheck.graph(.conv2d(conv), bindings: bindings)
        try GradientCheck.check(graph, [x], seed: seed)
        try GradientCheck.check(graph, [x], seed: seed + 100, kernels: DNNLGradientKernels())
    }

    @Test("conv2d with a fused PReLU (slopes bound): near-identity 1x1 weights keep every pre-activation away from 0")
    func convPReLU() throws {
        var g = SeededGenerator(seed: 19)
        for slopes in [[Float(0.3), -0.2, 0.5], [0.25]] {
            let identity = Tensor(dims: [3, 3, 1, 1], data: (0..<9).map { $0 % 4 == 0 ? 1 : 0.01 })
            let conv = Conv2d(weight: identity, bias: [0, 0, 0], activation: .prelu(slopes: slopes))
            let graph = GradientCheck.graph(.conv2d(conv), bindings: GradientCheck.weightBindings + [ParameterBinding(.slopes, "a")])
            try GradientCheck.check(graph, [GradientCheck.random([2, 3, 3, 4], &g)], seed: 20, samples: 6)
            try GradientCheck.check(graph, [GradientCheck.random([2, 3, 3, 4], &g)], seed: 20, kernels: DNNLGradientKernels(), samples: 6)
        }
    }

    @Test("activations: relu, leaky relu, prelu (per channel and shared, slopes bound), sigmoid, swish, clip, linear, gelu (exact and tanh)")
    func activations() throws {
        var g = SeededGenerator(seed: 21)
        let s = [2, 3, 4, 5]
        let plain: [Activation] = [.relu, .leakyRelu(slope: 0.2), .sigmoid, .swish, .clip(min: -0.05, max: 2),
                                   .linear(scale: -1.7, shift: 0.3), .gelu(approximate: false), .gelu(approximate: true)]
        for (k, a) in plain.enumerated() {
            try GradientCheck.check(GradientCheck.graph(.activation(a)), [GradientCheck.random(s, &g)], seed: 22 + UInt64(k))
        }
        for slopes in [[Float(0.3), -0.2, 0.5], [0.25]] {
            try GradientCheck.check(GradientCheck.graph(.activation(.prelu(slopes: slopes)), bindings: [ParameterBinding(.slopes, "a")]),
                                    [GradientCheck.random(s, &g)], seed: 31)
        }
    }

    @Test("binary ops on equal shapes and broadcast ([n, c, 1, 1], a constant), weighted sum, concat, crop")
    func combining() throws {
        var g = SeededGenerator(seed: 41)
        let s = [2, 3, 3, 4]
        for (k, op) in BinaryOperator.allCases.enumerated() {
            // Divisors in 1...2 keep 1/b's curvature small at h = 1e-2.
            let b = op == .div ? Tensor(dims: s, data: (0..<72).map { _ in Float.random(in: 1...2, using: &g) }) : GradientCheck.random(s, &g)
            try GradientCheck.check(GradientCheck.graph(.binary(op), inputs: 2), [GradientCheck.random(s, &g), b], seed: 42 + UInt64(k))
        }
        for op in [BinaryOperator.mul, .add, .sub] {
            try GradientCheck.check(GradientCheck.graph(.binary(op), inputs: 2),
                                    [GradientCheck.random(s, &g), GradientCheck.random([2, 3, 1, 1], &g)], seed: 50)
        }
        var withConstant = Graph()
        let x = withConstant.add(.input), c = withConstant.add(.constant(GradientCheck.random([1, 3, 1, 1], &g)))
        withConstant.outputs = [withConstant.add(.binary(.mul), [x, c])]
        try GradientCheck.check(withConstant, [GradientCheck.random(s, &g)], seed: 51)
        try GradientCheck.check(GradientCheck.graph(.weightedSum([0.7, -1.3, 2]), inputs: 3),
                                (0..<3).map { _ in GradientCheck.random(s, &g) }, seed: 52)
        try GradientCheck.check(GradientCheck.graph(.concat, inputs: 3),
                                [GradientCheck.random([2, 1, 3, 4], &g), GradientCheck.random(s, &g), GradientCheck.random([2, 2, 3, 4], &g)],
                                seed: 53)
        try GradientCheck.check(GradientCheck.graph(.crop(Crop(start: [1, 0, 1], end: [0, -1, 3]))),
                                [GradientCheck.random(s, &g)], seed: 54)
    }

    @Test("data movement and resampling: pixel shuffle and unshuffle, bilinear (x2-x4, non-square) and nearest upsampling")
    func movement() throws {
        var g = SeededGenerator(seed: 61)
        try GradientCheck.check(GradientCheck.graph(.pixelShuffle(factor: 2, mode: .channelsFirst)),
                                [GradientCheck.random([2, 8, 3, 4], &g)], seed: 62)
        try GradientCheck.check(GradientCheck.graph(.pixelUnshuffle(factor: 2)), [GradientCheck.random([2, 2, 4, 6], &g)], seed: 63)
        for factor in 2...4 {
            let r = Resize(mode: .bilinear, scaleH: Float(factor), scaleW: Float(factor))
            try GradientCheck.check(GradientCheck.graph(.resize(r)), [GradientCheck.random([2, 2, 3, 5], &g)],
                                    seed: 64 + UInt64(factor), samples: 20)
        }
        let nearest = Resize(mode: .nearest, scaleH: 3, scaleW: 3)
        try GradientCheck.check(GradientCheck.graph(.resize(nearest)), [GradientCheck.random([1, 2, 3, 2], &g)], seed: 69)
    }

    @Test("pooling (k x k max with odd sides, global average), linear with bound weights and fused activation, batch norm in training and evaluation mode")
    func structure() throws {
        var g = SeededGenerator(seed: 71)
        // Distinct values in every pooling window keep the max away from ties; the odd last row and column drop.
        let pooled = Tensor(dims: [1, 2, 5, 7], data: (0..<70).map { Float(($0 * 37) % 70) / 10 - 3.4 })
        for k in [2, 3] {
            try GradientCheck.check(GradientCheck.graph(.pool(Pool(kind: .max, kernelH: k, kernelW: k, strideH: k, strideW: k))),
                                    [pooled], seed: 72)
        }
        try GradientCheck.check(GradientCheck.graph(.pool(.global(.average))), [GradientCheck.random([2, 3, 3, 4], &g)], seed: 73)
        let linear = Linear(weight: GradientCheck.random([5, 8], &g), bias: GradientCheck.random([5], &g).data,
                            activation: .leakyRelu(slope: 0.2))
        try GradientCheck.check(GradientCheck.graph(.linear(linear), bindings: GradientCheck.weightBindings),
                                [GradientCheck.random([3, 2, 2, 2], &g)], seed: 74)
        let bn = BatchNorm(gamma: GradientCheck.random([2], &g).data, beta: GradientCheck.random([2], &g).data,
                           runningMean: [0.3, -0.2], runningVar: [0.5, 1.7])
        let bindings = [ParameterBinding(.gamma, "bn.weight"), ParameterBinding(.beta, "bn.bias"),
                        ParameterBinding(.runningMean, "bn.running_mean"), ParameterBinding(.runningVar, "bn.running_var")]
        let x = GradientCheck.random([3, 2, 3, 4], &g)
        try GradientCheck.check(GradientCheck.graph(.batchNorm(bn), bindings: bindings), [x], seed: 75, mode: .training)
        try GradientCheck.check(GradientCheck.graph(.batchNorm(bn), bindings: bindings), [x], seed: 76, mode: .evaluation)
    }

    @Test("losses: L1, MSE, Charbonnier (both sides) and BCE with logits (targets 0, 0.3, 1) against finite differences")
    func losses() throws {
        var g = SeededGenerator(seed: 81)
        let s = [2, 3, 3, 2]
        func numeric(_ f: (Tensor) throws -> Float, _ x: Tensor, _ i: Int) rethrows -> Double {
            var a = x, b = x
            a.data[i] += GradientCheck.step
            b.data[i] -= GradientCheck.step
            return (Double(try f(a)) - Double(try f(b))) / Double(2 * GradientCheck.step)
        }
        for loss in [PixelLoss.l1, .mse, .charbonnier(epsilon: 1e-3)] {
            // Differences stay at least 0.1 away from L1's kink at 0.
            let a = GradientCheck.random(s, &g), d = GradientCheck.random(s, &g)
            let b = Tensor(dims: s, data: zip(a.data, d.data).map { $0 + $1 })
            let (_, gradient) = try loss.evaluate(a, b, weight: 0.7)
            for i in 0..<a.count {
                let n = try numeric({ try loss.evaluate($0, b).loss * 0.7 }, a, i)
                #expect(abs(Double(gradient.data[i]) - n) <= GradientCheck.absolute + GradientCheck.relative * abs(n), "\(loss) [\(i)]")
            }
        }
        for t: Float in [0, 0.3, 1] {
            let z = GradientCheck.random(s, &g, awayFromZero: false)
            let (_, gradient) = AdversarialLoss.bceWithLogits(z, target: t)
            for i in 0..<z.count {
                let n = numeric({ AdversarialLoss.bceWithLogits($0, target: t).loss }, z, i)
                #expect(abs(Double(gradient.data[i]) - n) <= GradientCheck.absolute + GradientCheck.relative * abs(n), "bce \(t) [\(i)]")
            }
        }
    }

    @Test("ops without a rule, unfitting gradients and backward without forward are named errors")
    func errors() throws {
        let tape = GraphTape(kernels: ReferenceGradientKernels())
        let deconv = Deconv2d(weight: Tensor(zeros: [2, 2, 2, 2]), bias: nil, stride: (2, 2))
        #expect { try tape.forward(GradientCheck.graph(.deconv2d(deconv)), inputs: [Tensor(zeros: [1, 2, 3, 3])]) } throws: { error in
            "\(error)".contains("no gradient rule for deconv2d")
        }
        let bicubic = Resize(mode: .bicubic, scaleH: 2, scaleW: 2)
        #expect(throws: GradientError.self) {
            try tape.forward(GradientCheck.graph(.resize(bicubic)), inputs: [Tensor(zeros: [1, 2, 3, 3])])
        }
        #expect(throws: GradientError.notRecorded) { try GraphTape(kernels: ReferenceGradientKernels()).backward([nil]) }
        _ = try tape.forward(GradientCheck.graph(.activation(.relu)), inputs: [Tensor(zeros: [1, 2, 3, 3])])
        #expect(throws: GradientError.self) { try tape.backward([Tensor(zeros: [1, 2, 3, 4])]) }
        #expect(throws: TrainError.self) { try PixelLoss.l1.evaluate(Tensor(zeros: [1, 2, 3, 3]), Tensor(zeros: [1, 2, 3, 4])) }
    }
}
