public import SRTrainData
public import SRModels
public import SRWeights
public import SRCore
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
///
/// All three networks are SRModels graphs on `GraphTape`s: the generator and the discriminator in training mode
/// (batch norms on batch statistics, running statistics updated), the perceptual network (`PerceptualNetwork`) in
/// evaluation mode and frozen; only gradients with respect to its input flow.
public final class GANTrainer {
    public let generator: TrainingNetwork
    public let discriminator: TrainingNetwork
    public let perceptual: PerceptualNetwork?
    public let weights: GANWeights
    public let options: TrainOptions
    public let sampler: PatchSampler
    public let generatorOptimizer: Adam
    public let discriminatorOptimizer: Adam
    public let ema: WeightAverage
    public private(set) var step = 0
    let tape: GraphTape, discriminatorTape: GraphTape, perceptualTape: GraphTape

    public init(generator: TrainingNetwork, discriminator: TrainingNetwork, perceptual: PerceptualNetwork?,
                weights: GANWeights, options: TrainOptions, dataset: PairedDataset, kernels: any GradientKernels) throws {
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
        self.tape = GraphTape(kernels: kernels)
        self.discriminatorTape = GraphTape(kernels: kernels)
        self.perceptualTape = GraphTape(kernels: kernels)
        TrainMemory.configure()
    }

    /// One generator step then one discriminator step on `batch`.
    public func train(on batch: TrainingBatch) throws -> GANLosses {
        let c = batch.channels
        let x = Tensor(dims: [batch.count, c, batch.lrSize, batch.lrSize], data: batch.lr)
        let hr = Tensor(dims: [batch.count, c, batch.hrSize, batch.hrSize], data: batch.hr)
        let rate = options.schedule.rate(base: options.learningRate, step: step)

        // Generator: d(total)/d(sr) gathers the pixel loss, the perceptual loss through the frozen VGG and the
        // adversarial loss through the discriminator, whose parameters get no gradient.
        tape.reset()
        generator.parameters.zeroGrad()
        let sr = try generator.forward(x, tape: tape)
        let (pixel, pixelGradient) = try options.loss.evaluate(sr, hr, weight: weights.pixel)
        var dsr = pixelGradient.data
        var perceptualValue: Float = 0
        if let vgg = perceptual, weights.perceptual != 0 {
            let real = try vgg.features(hr, tape: perceptualTape, recording: false)
            let fake = try vgg.features(sr, tape: perceptualTape, recording: true)
            let (p, pg) = try PixelLoss.l1.evaluate(fake, real, weight: weights.perceptual)
            perceptualValue = p
            let back = try perceptualTape.backward([pg], parameters: false, inputs: true)
            ElementWise.add(back.inputs[0]!.data, into: &dsr)
            perceptualTape.reset()
        }
        discriminatorTape.reset()
        let fakeLogits = try discriminator.forward(sr, tape: discriminatorTape)
        let (adversarial, ag) = AdversarialLoss.bceWithLogits(fakeLogits, target: 1, weight: weights.adversarial)
        ElementWise.add(try discriminatorTape.backward([ag], parameters: false, inputs: true).inputs[0]!.data, into: &dsr)
        discriminator.absorbStatistics(from: discriminatorTape)
        generator.accumulate(try tape.backward([Tensor(dims: sr.dims, data: dsr)]).parameters)
        generator.absorbStatistics(from: tape)
        if let clip = options.clipNorm { GradientClipping.clip(generator.parameters.all, maxNorm: clip) }
        generatorOptimizer.learningRate = rate
        try generatorOptimizer.update(generator.parameters.all)
        ema.update(generator.parameters.all)

        // Discriminator: real HR patches against the generated ones (detached from the generator).
        tape.reset()
        discriminator.parameters.zeroGrad()
        var dLosses: [Float] = []
        for (images, target) in [(hr, Float(1)), (sr, Float(0))] {
            discriminatorTape.reset()
            let logits = try discriminator.forward(images, tape: discriminatorTape)
            let (loss, g) = AdversarialLoss.bceWithLogits(logits, target: target)
            discriminator.accumulate(try discriminatorTape.backward([g]).parameters)
            discriminator.absorbStatistics(from: discriminatorTape)
            dLosses.append(loss)
        }
        discriminatorTape.reset()
        discriminatorOptimizer.learningRate = rate
        try discriminatorOptimizer.update(discriminator.parameters.all)
        step += 1
        return GANLosses(pixel: Double(pixel), perceptual: Double(perceptualValue), adversarial: Double(adversarial),
                         discriminatorReal: Double(dLosses[0]), discriminatorFake: Double(dLosses[1]))
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
