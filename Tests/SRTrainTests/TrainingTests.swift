import Foundation
import Testing
import SRTestSupport
import SRCore
import SRModels
import SRWeights
import SRBackendReference
import SRBackendDNNL
import SRMetrics
import SRTrainData
@testable import SRTrain

@Suite("Networks, optimisers and training")
struct TrainingTests {
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
        let net = try TrainingNetwork(MSRResNet.self, config: MSRResNet.Config(features: 16, blocks: 2, scale: 2), seed: 5)
        let trainer = PixelTrainer(network: net, options: options, dataset: data, validation: [],
                                   kernels: DNNLGradientKernels())
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
        let a = PixelTrainer(network: try TrainingNetwork(MSRResNet.self, config: config, seed: 6), options: options,
                             dataset: data, validation: [], kernels: DNNLGradientKernels())
        for k in 0..<3 { _ = try a.train(on: a.sampler.batch(k)) }
        try a.saveCheckpoint(to: dir + "/ck.safetensors")
        try a.exportModel(to: dir + "/model.safetensors")
        let b = PixelTrainer(network: try TrainingNetwork(MSRResNet.self, config: config, seed: 99), options: options,
                             dataset: data, validation: [], kernels: DNNLGradientKernels())
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

    @Test("SPAN and SRVGGNetCompact train through their SRModels graphs: the loss falls on a fixed batch",
          arguments: ["span", "compact"])
    func otherArchitectures(arch: String) throws {
        let dir = try TrainDataSupport.scratch()
        let data = try dataset(dir)
        var options = TrainOptions()
        options.batchSize = 4
        options.patch = 16
        options.learningRate = 2e-3
        let net = try #require(TrainableArchitectures.named(arch)).network(scale: 2, features: 8, depth: arch == "span" ? nil : 3, seed: 5)
        let trainer = PixelTrainer(network: net, options: options, dataset: data, validation: [], kernels: DNNLGradientKernels())
        let batch = trainer.sampler.batch(0)
        var losses: [Float] = []
        for _ in 0..<20 { losses.append(try trainer.train(on: batch)) }
        let first = losses[0..<5].reduce(0, +) / 5, last = losses[15..<20].reduce(0, +) / 5
        #expect(last < first * 0.9, "\(arch) losses \(losses)")
    }
}
