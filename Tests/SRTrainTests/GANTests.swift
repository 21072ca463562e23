import Foundation
import Testing
import SRTestSupport
import SRCore
import SRModels
import SRWeights
import SRBackendReference
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
    @Test("channel affine (ImageNet normalisation) has the right gradient")
    func channelAffine() throws {
        var g = SeededGenerator(seed: 61)
        try GradientCheck.check(.channelAffine(scale: [2, -0.5, 1.5], shift: [0.1, 0.2, -0.3]),
                                [GradientCheck.random(TShape(n: 2, c: 3, h: 3, w: 3), &g)], seed: 62)
    }

    @Test("the VGG feature network on the tape equals SRModels' VGG graph on the same weights")
    func vggMatchesInference() throws {
        let dict = TinyVGG.stateDict(seed: 63)
        let vgg = try VGGFeatureNetwork.load(dict, lastLayer: "conv2_2")
        #expect(vgg.parameters.all.allSatisfy { !$0.requiresGrad })
        var g = SeededGenerator(seed: 64)
        let x = Variable(TShape(n: 1, c: 3, h: 8, w: 10), data: (0..<240).map { _ in Float.random(in: 0...1, using: &g) })
        let y = try vgg.forward(x, tape: Tape(convolution: ReferenceConvolution()))
        let graph = try VGGFeatures.build(TinyVGG.config, weights: dict)
        let expected = try ReferenceBackend().compile(graph, inputShape: Shape(c: 3, h: 8, w: 10)).run(Tensor(dims: [1, 3, 8, 10], data: x.data))
        #expect(expected.count == y.data.count)
        #expect(zip(expected.data, y.data).allSatisfy { abs($0 - $1) <= 1e-4 })
    }

    @Test("GAN steps on a fixed batch: every loss finite, the discriminator learns to separate real from generated")
    func ganSteps() throws {
        let dir = try TrainDataSupport.scratch()
        try TrainDataSupport.writeImages(dir, count: 2, side: 140)
        let data = try PairedDataset(folder: dir, scale: 4, minimumSide: 128)
        var options = TrainOptions()
        options.batchSize = 2
        options.patch = 128
        options.learningRate = 5e-4
        let generator = MSRResNetNetwork(config: MSRResNet.Config(features: 4, blocks: 1, scale: 4), seed: 65)
        let discriminator = DiscriminatorNetwork(config: VGGStyleDiscriminator.Config(features: 2, hidden: 8), seed: 66)
        let vgg = try VGGFeatureNetwork.load(TinyVGG.stateDict(seed: 67), lastLayer: "conv2_2")
        let trainer = try GANTrainer(generator: generator, discriminator: discriminator, perceptual: vgg, weights: GANWeights(),
                                     options: options, dataset: data, convolution: try DNNLConvolution())
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
        #expect(discriminator.parameters.buffers["bn1_0.running_mean"]!.data.contains { $0 != 0 })
        // Checkpoint round trip of both networks and both optimisers.
        try trainer.saveCheckpoint(to: dir + "/gan.safetensors")
        let other = try GANTrainer(generator: MSRResNetNetwork(config: generator.config, seed: 1),
                                   discriminator: DiscriminatorNetwork(config: discriminator.config, seed: 2), perceptual: vgg,
                                   weights: GANWeights(), options: options, dataset: data, convolution: ReferenceConvolution())
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
            try GANTrainer(generator: MSRResNetNetwork(config: MSRResNet.Config(features: 4, blocks: 0), seed: 1),
                           discriminator: DiscriminatorNetwork(config: VGGStyleDiscriminator.Config(features: 2), seed: 1),
                           perceptual: nil, weights: GANWeights(), options: TrainOptions(), dataset: data,
                           convolution: ReferenceConvolution())
        }
    }
}
