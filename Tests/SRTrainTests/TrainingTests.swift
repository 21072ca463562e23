import Foundation
import Testing
import SRCore
import SRModels
import SRWeights
import SRBackendReference
import SRMetrics
import SRTrainData
@testable import SRTrain

@Suite("Networks, optimisers and training")
struct TrainingTests {
    /// Float accumulation differences between the tape and the inference reference backend.
    static let tolerance: Float = 1e-4

    @Test("MSRResNet on the tape equals SRModels' inference graph on its exported state dict", arguments: [2, 4])
    func networkMatchesInference(scale: Int) throws {
        let config = MSRResNet.Config(features: 8, blocks: 2, scale: scale)
        let net = MSRResNetNetwork(config: config, seed: 3)
        // Larger than the initial 0.1-scaled weights so every block contributes visibly.
        for p in net.parameters.all { p.data = p.data.map { $0 * 5 } }
        var g = SeededGenerator(seed: 4)
        let x = Variable(TShape(n: 1, c: 3, h: 6, w: 5), data: (0..<90).map { _ in Float.random(in: 0...1, using: &g) })
        let y = try net.forward(x, tape: Tape(convolution: ReferenceConvolution()))
        let dict = net.parameters.stateDict(specs: net.specs)
        #expect(try MSRResNet.detect(dict) == config)
        let graph = try MSRResNet.build(config, weights: dict)
        let expected = try ReferenceBackend().compile(graph, inputShape: Shape(c: 3, h: 6, w: 5))
            .run(Tensor(dims: [1, 3, 6, 5], data: x.data))
        #expect(expected.count == y.data.count)
        let worst = zip(expected.data, y.data).map { abs($0 - $1) }.max()!
        #expect(worst <= Self.tolerance, "max |diff| \(worst)")
    }

    @Test("Adam and AdamW match hand-computed updates; schedules, clipping and EMA")
    func optimisers() {
        let p = Variable(TShape(n: 2, c: 1, h: 1, w: 1), data: [1, -2], requiresGrad: true)
        p.grad = [0.5, -1]
        let adam = Adam(learningRate: 0.1, beta1: 0.9, beta2: 0.99, epsilon: 1e-8)
        adam.update([p])
        // Step 1: m = 0.1 g, v = 0.01 g², bias-corrected m/sqrt(v) = sign(g): each weight moves by lr.
        #expect(abs(p.data[0] - 0.9) < 1e-6 && abs(p.data[1] + 1.9) < 1e-6)
        p.grad = [0.5, -1]
        adam.update([p])
        #expect(abs(p.data[0] - 0.8) < 1e-5 && abs(p.data[1] + 1.8) < 1e-5)
        let q = Variable(TShape(n: 1, c: 1, h: 1, w: 1), data: [2], requiresGrad: true)
        q.grad = [0]
        let adamw = Adam(learningRate: 0.1, weightDecay: 0.5, decoupled: true)
        adamw.update([q])
        #expect(abs(q.data[0] - (2 - 0.1 * 0.5 * 2)) < 1e-6)   // zero gradient: only the decay acts
        let cosine = Schedule.cosine(total: 100, warmup: 10, minimum: 0)
        #expect(abs(cosine.rate(base: 1, step: 0) - 0.1) < 1e-6 && abs(cosine.rate(base: 1, step: 10) - 1) < 1e-6)
        #expect(abs(cosine.rate(base: 1, step: 55) - 0.5) < 1e-6 && cosine.rate(base: 1, step: 100) < 1e-6)
        #expect(Schedule.multiStep(milestones: [5, 8], gamma: 0.5).rate(base: 1, step: 8) == 0.25)
        let c = Variable(TShape(n: 2, c: 1, h: 1, w: 1), data: [0, 0], requiresGrad: true)
        c.grad = [3, 4]
        #expect(GradientClipping.clip([c], maxNorm: 1) == 5)
        #expect(abs(c.grad![0] - 0.6) < 1e-6 && abs(c.grad![1] - 0.8) < 1e-6)
        let e = Variable(TShape(n: 1, c: 1, h: 1, w: 1), data: [0], requiresGrad: true)
        let ema = WeightAverage([e], decay: 0.9)
        e.data = [1]
        ema.update([e])                       // warm-up: d = min(0.9, 1/10) = 0.1
        #expect(abs(ema.values[0][0] - 0.9) < 1e-6)
        for _ in 0..<200 { ema.update([e]) }
        #expect(ema.currentDecay == 0.9)      // (1 + n) / (10 + n) passes 0.9 at n = 80
        e.data = [0]
        ema.update([e])
        #expect(abs(ema.values[0][0] - 0.9) < 1e-4)
    }

    func dataset(_ dir: String) throws -> PairedDataset {
        try TrainDataSupport.writeImages(dir, count: 4, side: 40)
        return try PairedDataset(folder: dir, scale: 2, minimumSide: 16)
    }

    @Test("a tiny MSRResNet on a fixed batch: the L1 loss falls steadily over 30 steps")
    func lossDecreases() throws {
        let dir = try TrainDataSupport.scratch()
        let data = try dataset(dir)
        var options = TrainOptions()
        options.batchSize = 4
        options.patch = 16
        options.learningRate = 2e-3
        let net = MSRResNetNetwork(config: MSRResNet.Config(features: 16, blocks: 2, scale: 2), seed: 5)
        let trainer = PixelTrainer(network: net, options: options, dataset: data, validation: [],
                                   convolution: try DNNLConvolution())
        let batch = trainer.sampler.batch(0)
        var losses: [Float] = []
        for _ in 0..<30 { losses.append(try trainer.train(on: batch)) }
        // Synthetic striped textures start near the bilinear skip's error; every 10-step window must improve.
        let windows = stride(from: 0, to: 30, by: 10).map { losses[$0..<($0 + 10)].reduce(0, +) / 10 }
        #expect(windows[0] > windows[1] && windows[1] > windows[2], "losses \(losses)")
        #expect(losses.last! < losses.first! * 0.98, "losses \(losses)")
    }

    @Test("checkpoint and resume restore weights, EMA, Adam state and step; the export is a detectable model file")
    func checkpoint() throws {
        let dir = try TrainDataSupport.scratch()
        let data = try dataset(dir + "/data")
        var options = TrainOptions()
        options.batchSize = 2
        options.patch = 16
        let config = MSRResNet.Config(features: 8, blocks: 1, scale: 2)
        let a = PixelTrainer(network: MSRResNetNetwork(config: config, seed: 6), options: options, dataset: data,
                             validation: [], convolution: try DNNLConvolution())
        for k in 0..<3 { _ = try a.train(on: a.sampler.batch(k)) }
        try a.saveCheckpoint(to: dir + "/ck.safetensors")
        try a.exportModel(to: dir + "/model.safetensors")
        let b = PixelTrainer(network: MSRResNetNetwork(config: config, seed: 99), options: options, dataset: data,
                             validation: [], convolution: try DNNLConvolution())
        try b.resume(from: dir + "/ck.safetensors")
        #expect(b.step == 3 && b.optimizer.step == 3)
        #expect(zip(a.network.parameters.all, b.network.parameters.all).allSatisfy { $0.data == $1.data })
        #expect(a.ema.values == b.ema.values && a.optimizer.m == b.optimizer.m && a.optimizer.v == b.optimizer.v)
        // The next step after resuming is the step the original run would take.
        let la = try a.train(on: a.sampler.batch(3)), lb = try b.train(on: b.sampler.batch(3))
        #expect(la == lb)
        let exported = try WeightFile.load(path: dir + "/model.safetensors")
        #expect(try MSRResNet.detect(exported) == config)
        #expect(throws: TrainError.self) { try b.resume(from: dir + "/model.safetensors") }
    }
}
