public import SRTrainData
public import SRModels
public import SRWeights
import SRCore
import Foundation

/// Weights of the phase-2 generator loss (defaults: ESRGAN's, with SRGAN's standard GAN loss).
public struct GANWeights: Sendable {
    public var pixel: Float = 1e-2
    public var perceptual: Float = 1
    public var adversarial: Float = 5e-3
    public init() {}
}

/// The losses of one phase-2 step.
public struct GANLosses: Codable, Sendable {
    public var pixel: Double
    public var perceptual: Double
    public var adversarial: Double
    public var discriminatorReal: Double
    public var discriminatorFake: Double
}

/// Phase 2 of the SRGAN recipe: the generator (initialised from phase 1) trains on pixel + VGG perceptual +
/// adversarial losses; a VGG-style discriminator learns to tell HR patches from generated ones; the two alternate
/// every step. Perceptual features compare with L1 (ESRGAN); the adversarial loss is binary cross-entropy on logits.
public final class GANTrainer {
    public let generator: MSRResNetNetwork
    public let discriminator: DiscriminatorNetwork
    public let perceptual: VGGFeatureNetwork?
    public let weights: GANWeights
    public let options: TrainOptions
    public let sampler: PatchSampler
    public let generatorOptimizer: Adam
    public let discriminatorOptimizer: Adam
    public let ema: WeightAverage
    public private(set) var step = 0
    let tape: Tape

    public init(generator: MSRResNetNetwork, discriminator: DiscriminatorNetwork, perceptual: VGGFeatureNetwork?,
                weights: GANWeights, options: TrainOptions, dataset: PairedDataset, convolution: any ConvolutionEngine) throws {
        if perceptual == nil && weights.perceptual != 0 {
            throw TrainError.invalid("the perceptual loss needs VGG weights (--vgg FILE), or set its weight to 0")
        }
        self.generator = generator
        self.discriminator = discriminator
        self.perceptual = perceptual
        self.weights = weights
        self.options = options
        self.sampler = PatchSampler(dataset: dataset, batchSize: options.batchSize, patch: options.patch, seed: options.seed,
                                    degradation: options.degradation)
        self.generatorOptimizer = Adam(learningRate: options.learningRate)
        self.discriminatorOptimizer = Adam(learningRate: options.learningRate)
        self.ema = WeightAverage(generator.parameters.all, decay: options.emaDecay)
        self.tape = Tape(convolution: convolution)
    }

    /// One generator step then one discriminator step on `batch`.
    public func train(on batch: TrainingBatch) throws -> GANLosses {
        let c = batch.channels
        let x = Variable(TShape(n: batch.count, c: c, h: batch.lrSize, w: batch.lrSize), data: batch.lr)
        let hr = Variable(TShape(n: batch.count, c: c, h: batch.hrSize, w: batch.hrSize), data: batch.hr)
        let rate = options.schedule.rate(base: options.learningRate, step: step)

        // Generator: the discriminator is frozen, its gradients only pass through to the generated image.
        tape.reset()
        generator.parameters.zeroGrad()
        discriminator.setTrainable(false)
        let sr = try generator.forward(x, tape: tape)
        let pixel = try tape.apply(options.loss, [sr, hr])
        var total = try tape.apply(.affine(scale: weights.pixel, shift: 0), [pixel])
        var perceptualValue: Float = 0
        if let vgg = perceptual, weights.perceptual != 0 {
            let real = try vgg.forward(hr, tape: tape)
            let fake = try vgg.forward(sr, tape: tape)
            let p = try tape.apply(.l1Loss, [fake, real])
            perceptualValue = p.scalar
            total = try tape.apply(.axpby(a: 1, b: weights.perceptual), [total, p])
        }
        let fakeLogits = try discriminator.forward(sr, tape: tape)
        let adversarial = try tape.apply(.bceWithLogits(target: 1), [fakeLogits])
        total = try tape.apply(.axpby(a: 1, b: weights.adversarial), [total, adversarial])
        try tape.backward(total)
        if let clip = options.clipNorm { GradientClipping.clip(generator.parameters.all, maxNorm: clip) }
        generatorOptimizer.learningRate = rate
        try generatorOptimizer.update(generator.parameters.all)
        ema.update(generator.parameters.all)

        // Discriminator: real HR patches against the generated ones (detached from the generator).
        tape.reset()
        discriminator.setTrainable(true)
        discriminator.parameters.zeroGrad()
        let detached = Variable(sr.shape, data: sr.data)
        let realLoss = try tape.apply(.bceWithLogits(target: 1), [try discriminator.forward(hr, tape: tape)])
        let fakeLoss = try tape.apply(.bceWithLogits(target: 0), [try discriminator.forward(detached, tape: tape)])
        try tape.backward(try tape.apply(.axpby(a: 1, b: 1), [realLoss, fakeLoss]))
        discriminatorOptimizer.learningRate = rate
        try discriminatorOptimizer.update(discriminator.parameters.all)
        tape.reset()
        step += 1
        return GANLosses(pixel: Double(pixel.scalar), perceptual: Double(perceptualValue),
                         adversarial: Double(adversarial.scalar), discriminatorReal: Double(realLoss.scalar),
                         discriminatorFake: Double(fakeLoss.scalar))
    }

    var groups: [CheckpointStore.Group] {
        [CheckpointStore.Group(name: "generator", parameters: generator.parameters, optimizer: generatorOptimizer, ema: ema),
         CheckpointStore.Group(name: "discriminator", parameters: discriminator.parameters,
                               optimizer: discriminatorOptimizer, ema: nil)]
    }

    public func saveCheckpoint(to path: String) throws {
        try CheckpointStore.save(groups, step: step, metadata: ["phase": "gan"], to: path)
    }

    public func resume(from path: String) throws {
        step = try CheckpointStore.restore(groups, from: path)
    }

    /// The generator's EMA weights as a model file.
    public func exportModel(to path: String) throws {
        try PixelTrainer.export(generator, weights: ema.values, step: step, phase: "phase 2, pixel + perceptual + adversarial", to: path)
    }

    /// Runs until `options.steps`, logging through `log`, writing the checkpoint and model every
    /// `options.checkpointEvery` steps and at the end.
    public func run(log: (Int, GANLosses, Double) -> Void) throws {
        try FileManager.default.createDirectory(atPath: options.output, withIntermediateDirectories: true)
        let loader = BatchLoader(sampler: sampler, startingAt: step, prefetch: 2, workers: 1)
        defer { loader.stop() }
        var clock = Date()
        while step < options.steps {
            let losses = try train(on: loader.next())
            if step % options.logEvery == 0 || step == options.steps {
                log(step, losses, Date().timeIntervalSince(clock))
                clock = Date()
            }
            if step % options.checkpointEvery == 0 || step == options.steps {
                try saveCheckpoint(to: options.output + "/checkpoint-gan.safetensors")
                try exportModel(to: options.output + "/model-gan.safetensors")
            }
        }
    }
}
