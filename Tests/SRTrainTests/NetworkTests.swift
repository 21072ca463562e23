import Testing
import SRCore
import SRModels
import SRWeights
import SRBackendReference
@testable import SRTrain

/// Training graphs (SRModels' `build(mode: .training)`, run on the tape in evaluation mode) against the inference
/// graphs of the same state dict run by the reference backend: equal outputs prove that both build modes compute one
/// network (batch norms folded or not, Conv3XC branches or re-parameterised, activations fused or not) and that the
/// bindings name the PyTorch keys.
@Suite("Training graphs vs inference graphs")
struct NetworkTests {
    /// Float accumulation differences between unfused and fused/folded graphs.
    static let tolerance: Float = 2e-4

    /// Runs `graph` on each image of `x` with the reference backend and returns the outputs concatenated.
    func inference(_ graph: Graph, _ x: Tensor) throws -> [Float] {
        let s = x.shape, per = s.c * s.h * s.w
        let executable = try ReferenceBackend().compile(graph, inputShapes: [Shape(c: s.c, h: s.h, w: s.w)])
        var out: [Float] = []
        for n in 0..<s.n {
            out += try executable.run(inputs: [Tensor(dims: [1, s.c, s.h, s.w], data: Array(x.data[(n * per)..<((n + 1) * per)]))])[0].data
        }
        return out
    }

    func evaluate(_ net: TrainingNetwork, _ x: Tensor) throws -> Tensor {
        try net.forward(x, tape: GraphTape(kernels: ReferenceGradientKernels()), mode: .evaluation, recording: false)
    }

    func randomise(_ p: Parameter, _ range: ClosedRange<Float>, _ g: inout SeededGenerator) {
        p.data = p.data.map { _ in Float.random(in: range, using: &g) }
    }

    func image(_ dims: [Int], _ g: inout SeededGenerator) -> Tensor {
        Tensor(dims: dims, data: (0..<dims.reduce(1, *)).map { _ in Float.random(in: 0...1, using: &g) })
    }

    func expectClose(_ a: [Float], _ b: [Float], _ what: String, seed: UInt64, tolerance: Float = NetworkTests.tolerance) {
        #expect(a.count == b.count, "\(what): \(a.count) vs \(b.count) values")
        let worst = zip(a, b).map { abs($0 - $1) }.max() ?? .infinity
        #expect(worst <= tolerance, "\(what): max |diff| \(worst) (seed \(seed))")
    }

    @Test("MSRResNet (x2, x3, x4)", arguments: [2, 3, 4])
    func msrresnet(scale: Int) throws {
        let seed = UInt64(70 + scale)
        let config = MSRResNet.Config(features: 8, blocks: 2, scale: scale)
        let net = try TrainingNetwork(MSRResNet.self, config: config, seed: seed)
        // Larger than the initial 0.1-scaled weights so every block contributes visibly.
        for p in net.parameters.all { p.data = p.data.map { $0 * 5 } }
        var g = SeededGenerator(seed: seed)
        let x = image([2, 3, 6, 5], &g)
        let dict = net.stateDict()
        #expect(try MSRResNet.detect(dict) == config)
        #expect(Set(try MSRResNet.build(config, weights: dict, mode: .training).trainableKeys) == Set(dict.names))
        expectClose(try evaluate(net, x).data, try inference(try MSRResNet.build(config, weights: dict), x), "MSRResNet x\(scale)", seed: seed)
    }

    @Test("SRVGGNetCompact with PReLU (slopes bound) and ReLU", arguments: [SRVGGNetCompact.Config.ActivationType.prelu, .relu])
    func compact(activation: SRVGGNetCompact.Config.ActivationType) throws {
        let seed: UInt64 = 77
        let config = SRVGGNetCompact.Config(features: 6, convolutions: 2, scale: 3, activation: activation)
        let net = try TrainingNetwork(SRVGGNetCompact.self, config: config, seed: seed)
        var g = SeededGenerator(seed: seed)
        for name in net.parameters.names where name.hasSuffix(".weight") && net.parameters[name].shape.count == 1 {
            randomise(net.parameters[name], -0.3...0.5, &g)
        }
        let x = image([2, 3, 5, 4], &g)
        let dict = net.stateDict()
        expectClose(try evaluate(net, x).data, try inference(try SRVGGNetCompact.build(config, weights: dict), x),
                    "SRVGGNetCompact \(activation)", seed: seed)
    }

    @Test("SPAN: the Conv3XC training branches equal the re-parameterised inference graph, and the exported eval_conv alone too")
    func span() throws {
        let seed: UInt64 = 78
        let config = try SPAN.trainingConfig(scale: 2, channels: 3, features: 4, depth: nil)
        let net = try TrainingNetwork(SPAN.self, config: config, seed: seed)
        #expect(net.parameters.buffers["conv_1.eval_conv.weight"] != nil, "eval_conv is not trained")
        var g = SeededGenerator(seed: seed)
        // Small inputs (SPAN scales them by 255 after removing the mean).
        let x = Tensor(dims: [2, 3, 6, 5], data: (0..<180).map { _ in Float.random(in: 0.40...0.46, using: &g) })
        let y = try evaluate(net, x).data
        let dict = net.stateDict()
        let scale = y.map(abs).max()!
        expectClose(y, try inference(try SPAN.build(config, weights: dict), x), "SPAN", seed: seed, tolerance: 1e-4 * max(scale, 1))
        // The exported file's eval_conv kernels alone give the same network (a loader that runs eval_conv).
        var exported = try net.exportedStateDict()
        for key in exported.names where key.contains(".sk.") || key.contains(".conv.") { exported.remove(key) }
        var evalOnly = config
        evalOnly.branches = false
        let detected = try #require(try SPAN.detect(exported))
        #expect(detected == evalOnly)
        expectClose(y, try inference(try SPAN.build(evalOnly, weights: exported), x), "SPAN eval_conv", seed: seed,
                    tolerance: 1e-4 * max(scale, 1))
        #expect(throws: ModelsError.self) { try SPAN.build(evalOnly, weights: exported, mode: .training) }
    }

    @Test("SRResNet with batch norm in evaluation mode and PReLU equals the folded inference graph",
          arguments: [SRResNet.Config.InputNormalisation.imagenet, .minusOneToOne, .zeroToOne])
    func srresnet(normalisation: SRResNet.Config.InputNormalisation) throws {
        let seed: UInt64 = 81
        let config = SRResNet.Config(features: 6, blocks: 2, scale: 4, inputNormalisation: normalisation)
        let net = try TrainingNetwork(SRResNet.self, config: config, seed: seed)
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
        let x = image([2, 3, 5, 7], &g)
        let y = try evaluate(net, x)
        #expect(y.dims == [2, 3, 20, 28])
        expectClose(y.data, try inference(try SRResNet.build(config, weights: net.stateDict()), x), "SRResNet \(normalisation)", seed: seed)
    }

    @Test("VGG-style discriminator: evaluation mode equals its graph; training mode uses batch statistics and updates the running ones")
    func discriminator() throws {
        let seed: UInt64 = 91
        let config = VGGStyleDiscriminator.Config(features: 2, hidden: 8)
        let net = try TrainingNetwork(VGGStyleDiscriminator.self, config: config, seed: seed)
        var g = SeededGenerator(seed: seed)
        for (name, buffer) in net.parameters.buffers {
            if name.hasSuffix("running_mean") { randomise(buffer, -0.2...0.2, &g) }
            if name.hasSuffix("running_var") { randomise(buffer, 0.3...2, &g) }
        }
        let x = image([2, 3, 128, 128], &g)
        let y = try evaluate(net, x)
        #expect(y.dims == [2, 1, 1, 1])
        #expect(try VGGStyleDiscriminator.detect(net.stateDict()) == config)
        expectClose(y.data, try inference(try VGGStyleDiscriminator.build(config, weights: net.stateDict()), x), "discriminator", seed: seed)
        let before = net.parameters.buffers["bn1_0.running_mean"]!.data
        let tape = GraphTape(kernels: ReferenceGradientKernels())
        let trained = try net.forward(x, tape: tape, mode: .training)
        net.absorbStatistics(from: tape)
        #expect(zip(trained.data, y.data).contains { abs($0 - $1) > Self.tolerance })
        #expect(net.parameters.buffers["bn1_0.running_mean"]!.data != before)
        #expect(net.parameters.buffers["bn1_0.num_batches_tracked"]!.data == [1])
    }

    @Test("the perceptual network equals SRModels' VGG inference graph on the same weights")
    func perceptual() throws {
        let dict = TinyVGG.stateDict(seed: 63)
        let vgg = try PerceptualNetwork.load(dict, lastLayer: "conv2_2")
        var g = SeededGenerator(seed: 64)
        let x = image([1, 3, 8, 10], &g)
        let y = try vgg.features(x, tape: GraphTape(kernels: ReferenceGradientKernels()), recording: false)
        expectClose(y.data, try inference(try VGGFeatures.build(TinyVGG.config, weights: dict), x), "VGG", seed: 63, tolerance: 1e-4)
    }

    @Test("batch norm in training mode: batch-normalised output, running statistics as PyTorch (momentum 0.1, unbiased)")
    func batchNormRunningStatistics() throws {
        var graph = Graph()
        let input = graph.add(.input)
        let bn = BatchNorm(gamma: [1, 1], beta: [0, 0], runningMean: [0, 0], runningVar: [1, 1])
        graph.outputs = [graph.add(.batchNorm(bn), [input], name: "bn", bindings: [
            ParameterBinding(.gamma, "bn.weight"), ParameterBinding(.beta, "bn.bias"),
            ParameterBinding(.runningMean, "bn.running_mean"), ParameterBinding(.runningVar, "bn.running_var")])]
        // Channel 0 holds 1...6, channel 1 holds 10, 20, ..., 60 (n = 2, 1x3 each).
        let x = Tensor(dims: [2, 2, 1, 3], data: [1, 2, 3, 10, 20, 30, 4, 5, 6, 40, 50, 60])
        let tape = GraphTape(kernels: ReferenceGradientKernels())
        let y = try tape.forward(graph, inputs: [x])[0]
        // Mean 3.5 / 35, biased variance 17.5/6 / 1750/6; unbiased 3.5 / 350.
        let mean = try #require(tape.runningStatistics["bn.running_mean"]), variance = try #require(tape.runningStatistics["bn.running_var"])
        #expect(abs(mean[0] - 0.35) < 1e-6 && abs(mean[1] - 3.5) < 1e-5)
        #expect(abs(variance[0] - (0.9 + 0.1 * 3.5)) < 1e-5 && abs(variance[1] - (0.9 + 0.1 * 350)) < 1e-3)
        #expect(tape.normalisedBatches["bn.running_mean"] == 1)
        let expected0 = (Float(1) - 3.5) / (Float(17.5 / 6) + 1e-5).squareRoot()
        #expect(abs(y.data[0] - expected0) < 1e-5)
        // A second pass on the same tape compounds, as two PyTorch forwards do.
        _ = try tape.forward(graph, inputs: [x])
        #expect(abs(tape.runningStatistics["bn.running_mean"]![0] - (0.9 * 0.35 + 0.35)) < 1e-6)
        #expect(tape.normalisedBatches["bn.running_mean"] == 2)
    }

    @Test("bind(StateDict) and load round-trip; missing and mis-shaped tensors are named errors")
    func loadErrors() throws {
        let config = MSRResNet.Config(features: 4, blocks: 1, scale: 2)
        let a = try TrainingNetwork(MSRResNet.self, config: config, seed: 1)
        let b = try TrainingNetwork(MSRResNet.self, config: config, seed: 2)
        try b.load(a.stateDict())
        #expect(zip(a.parameters.all, b.parameters.all).allSatisfy { $0.data == $1.data })
        var graph = try MSRResNet.build(config, weights: b.stateDict(), mode: .training)
        try graph.bind(a.stateDict())
        #expect(graph.parameterValues["conv_hr.weight"]?.data == a.parameters["conv_hr.weight"].data)
        var missing = a.stateDict()
        missing.remove("conv_hr.bias")
        #expect(throws: TrainError.parameter(key: "conv_hr.bias", detail: "missing from the weights (expected shape [4]); is this file of the same architecture and configuration?")) {
            try b.load(missing)
        }
        #expect(throws: GraphError.self) { try graph.bind(missing) }
        let wider = try TrainingNetwork(MSRResNet.self, config: MSRResNet.Config(features: 6, blocks: 1, scale: 2), seed: 3)
        #expect(throws: TrainError.self) { try b.load(wider.stateDict()) }
        #expect(throws: GraphError.self) { try graph.bind(wider.stateDict()) }
    }

    @Test("TrainableArchitectures.load takes a trained file with its stored configuration (SRResNet's input range)")
    func loadStored() throws {
        let config = SRResNet.Config(features: 4, blocks: 1, scale: 2, inputNormalisation: .minusOneToOne)
        let net = try TrainingNetwork(SRResNet.self, config: config, seed: 3)
        var dict = try net.exportedStateDict()
        dict.metadata = net.metadata
        let loaded = try TrainableArchitectures.load(dict)
        #expect(loaded.architecture == SRResNet.name && loaded.metadata == net.metadata)
        #expect(zip(loaded.parameters.all, net.parameters.all).allSatisfy { $0.data == $1.data })
        #expect(throws: TrainError.self) { try TrainableArchitectures.load(TinyVGG.stateDict(seed: 1)) }
    }

    @Test("initialisation: MSRResNet Kaiming x0.1, SRResNet PyTorch defaults with PReLU 0.25, seeded")
    func initialisation() throws {
        let a = try TrainingNetwork(MSRResNet.self, config: MSRResNet.Config(features: 64, blocks: 1, scale: 2), seed: 5)
        let w = a.parameters["body.0.conv1.weight"].data
        let std = (w.reduce(0) { $0 + $1 * $1 } / Float(w.count)).squareRoot()
        // Kaiming normal, fan-in 64*9: std sqrt(2/576) = 0.0589, times 0.1.
        #expect(abs(std - 0.00589) < 0.0003)
        #expect(a.parameters["body.0.conv1.bias"].data.allSatisfy { $0 == 0 })
        let again = try TrainingNetwork(MSRResNet.self, config: MSRResNet.Config(features: 64, blocks: 1, scale: 2), seed: 5)
        #expect(again.parameters["conv_first.weight"].data == a.parameters["conv_first.weight"].data)
        let s = try TrainingNetwork(SRResNet.self, config: SRResNet.Config(features: 8, blocks: 1, scale: 2), seed: 6)
        #expect(s.parameters["conv_block1.conv_block.1.weight"].data == [0.25])
        #expect(s.parameters["residual_blocks.0.conv_block1.conv_block.1.weight"].data.allSatisfy { $0 == 1 })
        #expect(s.parameters.buffers["residual_blocks.0.conv_block1.conv_block.1.running_var"]!.data.allSatisfy { $0 == 1 })
        let bound = 1 / Float(8 * 9).squareRoot()
        #expect(s.parameters["conv_block2.conv_block.0.weight"].data.allSatisfy { abs($0) <= bound })
        #expect(s.parameters["conv_block2.conv_block.0.bias"].data.contains { $0 != 0 })
    }
}
