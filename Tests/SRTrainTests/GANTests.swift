import Foundation
import Testing
import SRTestSupport
import SRCore
import SRModels
import SRWeights
import SRBackendReference
import SRBackendDNNL
import SRTrainData
@testable import SRTrain

/// A tiny random VGG (torchvision layout) for the perceptual loss in tests.
enum TinyVGG {
    static let config = VGGFeatures.Config(stages: [[4], [6, 6]], lastLayer: "conv2_2")

    static func stateDict(seed: UInt64) -> StateDict {
        var g = SeededGenerator(seed: seed)
        var d = StateDict()
        for spec in VGGFeatures.stateDictSpec(config) {
            let n = spec.shape.reduce(1, *)
            d.insert(WeightTensor(shape: spec.shape, floats: (0..<n).map { _ in Float.random(in: -0.3...0.3, using: &g) }),
                     path: spec.key.split(separator: ".").map(String.init))
        }
        return d
    }
}

@Suite("Phase 2: discriminator, perceptual network, GAN steps")
struct GANTests {
    func trainer(_ data: PairedDataset, generator: TrainingNetwork, discriminator: TrainingNetwork, perceptual: PerceptualNetwork?,
                 options: TrainOptions, kernels: any GradientKernels = DNNLGradientKernels()) throws -> GANTrainer {
        try GANTrainer(generator: generator, discriminator: discriminator, perceptual: perceptual, weights: GANWeights(),
                       options: options, dataset: data, kernels: kernels)
    }

    @Test("GAN steps on a fixed batch (MSRResNet and SRResNet with batch norm): every loss finite, the discriminator learns to separate real from generated",
          arguments: ["msrresnet", "srresnet"])
    func ganSteps(arch: String) throws {
        let dir = try TrainDataSupport.scratch()
        try TrainDataSupport.writeImages(dir, count: 2, side: 140)
        let data = try PairedDataset(folder: dir, scale: 4, minimumSide: 128)
        var options = TrainOptions()
        options.batchSize = 2
        options.patch = 128
        options.learningRate = 5e-4
        let generator = try #require(TrainableArchitectures.named(arch)).network(scale: 4, features: 4, depth: 1, seed: 65)
        let config = VGGStyleDiscriminator.Config(features: 2, hidden: 8)
        let discriminator = try TrainingNetwork(VGGStyleDiscriminator.self, config: config, seed: 66)
        let vgg = try PerceptualNetwork.load(TinyVGG.stateDict(seed: 67), lastLayer: "conv2_2")
        let trainer = try trainer(data, generator: generator, discriminator: discriminator, perceptual: vgg, options: options)
        let batch = trainer.sampler.batch(0)
        let before = generator.parameters.all.map(\.data)
        var first: GANLosses?, last: GANLosses?
        for _ in 0..<12 {
            let l = try trainer.train(on: batch)
            let values = [l.pixel, l.perceptual, l.adversarial, l.discriminatorReal, l.discriminatorFake]
            #expect(values.allSatisfy { $0.isFinite })
            if first == nil { first = l }
            last = l
        }
        let d0 = first!.discriminatorReal + first!.discriminatorFake, d1 = last!.discriminatorReal + last!.discriminatorFake
        #expect(d1 < d0, "discriminator loss \(d0) -> \(d1)")
        #expect(first!.perceptual > 0)
        #expect(zip(before, generator.parameters.all).contains { $0 != $1.data })
        // Three training-mode passes per step (generator step, real, fake).
        #expect(discriminator.parameters.buffers["bn1_0.num_batches_tracked"]!.data == [36])
        #expect(discriminator.parameters.buffers["bn1_0.running_mean"]!.data.contains { $0 != 0 })
        if arch == "srresnet" {
            #expect(generator.parameters.buffers["conv_block2.conv_block.1.running_var"]!.data.contains { $0 != 1 })
        }
        // Checkpoint round trip of both networks and both optimisers.
        try trainer.saveCheckpoint(to: dir + "/gan.safetensors")
        let other = try self.trainer(data, generator: try #require(TrainableArchitectures.named(arch)).network(scale: 4, features: 4, depth: 1, seed: 1),
                                     discriminator: try TrainingNetwork(VGGStyleDiscriminator.self, config: config, seed: 2),
                                     perceptual: vgg, options: options, kernels: ReferenceGradientKernels())
        try other.resume(from: dir + "/gan.safetensors")
        #expect(other.step == 12 && other.discriminatorOptimizer.step == 12)
        #expect(zip(other.discriminator.parameters.all, discriminator.parameters.all).allSatisfy { $0.data == $1.data })
        #expect(other.discriminator.parameters.buffers["bn1_0.running_var"]!.data
                == discriminator.parameters.buffers["bn1_0.running_var"]!.data)
    }

    @Test("the perceptual loss without VGG weights is a named error")
    func missingVGG() throws {
        let dir = try TrainDataSupport.scratch()
        try TrainDataSupport.writeImages(dir, count: 1, side: 130)
        let data = try PairedDataset(folder: dir, scale: 4, minimumSide: 128)
        #expect(throws: TrainError.self) {
            try trainer(data, generator: try TrainingNetwork(MSRResNet.self, config: MSRResNet.Config(features: 4, blocks: 0), seed: 1),
                        discriminator: try TrainingNetwork(VGGStyleDiscriminator.self, config: VGGStyleDiscriminator.Config(features: 2), seed: 1),
                        perceptual: nil, options: TrainOptions(), kernels: ReferenceGradientKernels())
        }
    }
}
