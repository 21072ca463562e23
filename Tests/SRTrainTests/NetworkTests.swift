import Testing
import SRCore
import SRModels
import SRWeights
import SRBackendReference
@testable import SRTrain

/// The training networks against SRModels' inference graphs run by the reference backend on the exported state
/// dict: equal outputs prove both the PyTorch key names and the semantics (batch norm in eval mode, PReLU, skips).
@Suite("Networks on the tape vs the inference graphs")
struct NetworkTests {
    /// Float accumulation differences between the tape and the reference backend (which folds batch norm into the
    /// convolutions).
    static let tolerance: Float = 2e-4

    /// Runs `graph` on each image of `x` with the reference backend and returns the outputs concatenated.
    func inference(_ graph: Graph, _ x: Variable) throws -> [Float] {
        let s = x.shape, per = s.c * s.h * s.w
        let executable = try ReferenceBackend().compile(graph, inputShape: Shape(c: s.c, h: s.h, w: s.w))
        var out: [Float] = []
        for n in 0..<s.n {
            out += try executable.run(Tensor(dims: [1, s.c, s.h, s.w], data: Array(x.data[(n * per)..<((n + 1) * per)]))).data
        }
        return out
    }

    func randomise(_ v: Variable, _ range: ClosedRange<Float>, _ g: inout SeededGenerator) {
        v.data = v.data.map { _ in Float.random(in: range, using: &g) }
    }

    func image(_ s: TShape, _ g: inout SeededGenerator) -> Variable {
        Variable(s, data: (0..<s.count).map { _ in Float.random(in: 0...1, using: &g) })
    }

    func expectClose(_ a: [Float], _ b: [Float], _ what: String, seed: UInt64) {
        #expect(a.count == b.count, "\(what): \(a.count) vs \(b.count) values")
        let worst = zip(a, b).map { abs($0 - $1) }.max() ?? .infinity
        #expect(worst <= Self.tolerance, "\(what): max |diff| \(worst) (seed \(seed))")
    }

    @Test("MSRResNet (x2, x3, x4) equals MSRResNet's graph on its exported state dict", arguments: [2, 3, 4])
    func msrresnet(scale: Int) throws {
        let seed = UInt64(70 + scale)
        let config = MSRResNet.Config(features: 8, blocks: 2, scale: scale)
        let net = MSRResNetNetwork(config: config, seed: seed)
        // Larger than the initial 0.1-scaled weights so every block contributes visibly.
        for p in net.parameters.all { p.data = p.data.map { $0 * 5 } }
        var g = SeededGenerator(seed: seed)
        let x = image(TShape(n: 2, c: 3, h: 6, w: 5), &g)
        let y = try net.forward(x, tape: Tape(convolution: ReferenceConvolution()))
        let dict = net.stateDict()
        #expect(try MSRResNet.detect(dict) == config)
        expectClose(y.data, try inference(try MSRResNet.build(config, weights: dict), x), "MSRResNet x\(scale)", seed: seed)
    }

    @Test("SRResNet with batch norm in eval mode and PReLU equals SRResNet's graph (BN folded into the convolutions)",
          arguments: [SRResNet.Config.InputNormalisation.imagenet, .minusOneToOne, .zeroToOne])
    func srresnet(normalisation: SRResNet.Config.InputNormalisation) throws {
        let seed: UInt64 = 81
        let config = SRResNet.Config(features: 6, blocks: 2, scale: 4, inputNormalisation: normalisation)
        let net = SRResNetNetwork(config: config, seed: seed)
        var g = SeededGenerator(seed: seed)
        for name in net.parameters.names where name.hasSuffix("conv_block.1.weight") || name.hasSuffix("prelu.weight")
            || name.hasSuffix("conv_block.2.weight") {
            randomise(net.parameters[name], 0.05...1.5, &g)     // batch-norm scales and PReLU slopes
        }
        for name in net.parameters.names where name.hasSuffix("conv_block.1.bias") {
            randomise(net.parameters[name], -0.2...0.2, &g)     // batch-norm shifts
        }
        for (name, buffer) in net.parameters.buffers {
            if name.hasSuffix("running_mean") { randomise(buffer, -0.3...0.3, &g) }
            if name.hasSuffix("running_var") { randomise(buffer, 0.3...2, &g) }
        }
        net.training = false
        let x = image(TShape(n: 2, c: 3, h: 5, w: 7), &g)
        let y = try net.forward(x, tape: Tape(convolution: ReferenceConvolution()))
        #expect(y.shape == TShape(n: 2, c: 3, h: 20, w: 28))
        let dict = net.stateDict()
        var detected = try #require(try SRResNet.detect(dict))
        detected.inputNormalisation = normalisation
        #expect(detected == config)
        expectClose(y.data, try inference(try SRResNet.build(config, weights: dict), x), "SRResNet \(normalisation)", seed: seed)
    }

    @Test("VGG-style discriminator in eval mode equals its graph; in training mode batch statistics differ")
    func discriminator() throws {
        let seed: UInt64 = 91
        let config = VGGStyleDiscriminator.Config(features: 2, hidden: 8)
        let net = DiscriminatorNetwork(config: config, seed: seed)
        var g = SeededGenerator(seed: seed)
        for (name, buffer) in net.parameters.buffers {
            if name.hasSuffix("running_mean") { randomise(buffer, -0.2...0.2, &g) }
            if name.hasSuffix("running_var") { randomise(buffer, 0.3...2, &g) }
        }
        let x = image(TShape(n: 2, c: 3, h: 128, w: 128), &g)
        net.training = false
        let y = try net.forward(x, tape: Tape(convolution: try DNNLConvolution()))
        #expect(y.shape == TShape(n: 2, c: 1, h: 1, w: 1))
        let dict = net.stateDict()
        #expect(try VGGStyleDiscriminator.detect(dict) == config)
        expectClose(y.data, try inference(try VGGStyleDiscriminator.build(config, weights: dict), x), "discriminator", seed: seed)
        net.training = true
        let before = net.parameters.buffers["bn1_0.running_mean"]!.data
        let trained = try net.forward(x, tape: Tape(convolution: try DNNLConvolution()))
        #expect(zip(trained.data, y.data).contains { abs($0 - $1) > Self.tolerance })
        #expect(net.parameters.buffers["bn1_0.running_mean"]!.data != before)
        #expect(net.parameters.buffers["bn1_0.num_batches_tracked"]!.data == [1])
    }

    @Test("batch norm in training mode: batch-normalised output, running statistics as PyTorch (momentum 0.1, unbiased)")
    func batchNormRunningStatistics() throws {
        let specs = TensorSpec.batchNorm("bn", 2)
        let set = ParameterSet(specs: specs, initializer: .pytorchDefault, seed: 1)
        // Channel 0 holds 1...6, channel 1 holds 10, 20, ..., 60 (n = 2, 1x3 each).
        let x = Variable(TShape(n: 2, c: 2, h: 1, w: 3), data: [1, 2, 3, 10, 20, 30, 4, 5, 6, 40, 50, 60])
        let y = try Tape(convolution: ReferenceConvolution()).batchNorm(x, layer: "bn", in: set, training: true)
        // Mean 3.5 / 35, biased variance 17.5/6 / 1750/6; unbiased 3.5 / 350.
        #expect(abs(set.buffers["bn.running_mean"]!.data[0] - 0.35) < 1e-6)
        #expect(abs(set.buffers["bn.running_mean"]!.data[1] - 3.5) < 1e-5)
        #expect(abs(set.buffers["bn.running_var"]!.data[0] - (0.9 + 0.1 * 3.5)) < 1e-5)
        #expect(abs(set.buffers["bn.running_var"]!.data[1] - (0.9 + 0.1 * 350)) < 1e-3)
        #expect(set.buffers["bn.num_batches_tracked"]!.data == [1])
        let expected0 = (Float(1) - 3.5) / (Float(17.5 / 6) + 1e-5).squareRoot()
        #expect(abs(y.data[0] - expected0) < 1e-5)
        #expect(throws: TrainError.self) {
            try Tape(convolution: ReferenceConvolution()).batchNorm(x, layer: "missing", in: set, training: true)
        }
    }

    @Test("load(StateDict) round-trips; missing and mis-shaped tensors are named errors")
    func loadErrors() throws {
        let config = MSRResNet.Config(features: 4, blocks: 1, scale: 2)
        let a = MSRResNetNetwork(config: config, seed: 1), b = MSRResNetNetwork(config: config, seed: 2)
        try b.load(a.stateDict())
        #expect(zip(a.parameters.all, b.parameters.all).allSatisfy { $0.data == $1.data })
        var missing = a.stateDict()
        missing.remove("conv_hr.bias")
        #expect(throws: TrainError.parameter(key: "conv_hr.bias", detail: "missing from the weights (expected shape [4]); is this file of the same architecture and configuration?")) {
            try b.load(missing)
        }
        let wider = MSRResNetNetwork(config: MSRResNet.Config(features: 6, blocks: 1, scale: 2), seed: 3)
        #expect(throws: TrainError.self) { try b.load(wider.stateDict()) }
    }

    @Test("initialisation: MSRResNet Kaiming x0.1, SRResNet PyTorch defaults with PReLU 0.25, seeded")
    func initialisation() {
        let a = MSRResNetNetwork(config: MSRResNet.Config(features: 64, blocks: 1, scale: 2), seed: 5)
        let w = a.parameters["body.0.conv1.weight"].data
        let std = (w.reduce(0) { $0 + $1 * $1 } / Float(w.count)).squareRoot()
        // Kaiming normal, fan-in 64*9: std sqrt(2/576) = 0.0589, times 0.1.
        #expect(abs(std - 0.00589) < 0.0003)
        #expect(a.parameters["body.0.conv1.bias"].data.allSatisfy { $0 == 0 })
        #expect(MSRResNetNetwork(config: a.config, seed: 5).parameters["conv_first.weight"].data == a.parameters["conv_first.weight"].data)
        let s = SRResNetNetwork(config: SRResNet.Config(features: 8, blocks: 1, scale: 2), seed: 6)
        #expect(s.parameters["conv_block1.conv_block.1.weight"].data == [0.25])
        #expect(s.parameters["residual_blocks.0.conv_block1.conv_block.1.weight"].data.allSatisfy { $0 == 1 })
        #expect(s.parameters.buffers["residual_blocks.0.conv_block1.conv_block.1.running_var"]!.data.allSatisfy { $0 == 1 })
        let bound = 1 / Float(8 * 9).squareRoot()
        #expect(s.parameters["conv_block2.conv_block.0.weight"].data.allSatisfy { abs($0) <= bound })
        #expect(s.parameters["conv_block2.conv_block.0.bias"].data.contains { $0 != 0 })
    }
}
