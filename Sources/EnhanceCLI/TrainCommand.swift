import ArgumentParser
import Foundation
import SRBackendDNNL
import SRCore
import SRModels
import SRTrain
import SRTrainData
import SRWeights

/// `enhance train`: trains a registered architecture (`--arch`) in Swift on oneDNN, differentiating the same graph
/// SRModels builds for inference.
struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train a super-resolution model (MSRResNet, SRVGGNetCompact, SPAN or SRResNet) on a folder of HR images.",
        discussion: """
        --arch picks the network: msrresnet (default; --features, --blocks), compact (SRVGGNetCompact; --features, \
        --blocks = body convolutions), span (--features) or srresnet (SRResNet with batch norm; --features, --blocks). \
        --phase pixel (phase 1 of the SRGAN recipe): pixel loss (L1 by default) with Adam on random HR patches and \
        their MATLAB-bicubic LR counterparts (flips and 90-degree rotations). --phase gan (phase 2): the generator \
        starts from --init (a phase-1 model.safetensors) and trains on pixel + VGG perceptual (--vgg weights, .pth or \
        safetensors, torchvision layout) + adversarial losses against a VGG-style discriminator, alternating \
        updates; it needs --patch 128 and writes OUT/checkpoint-gan.safetensors and OUT/model-gan.safetensors. \
        In phase 1 the last --hold-out images (by name) are \
        kept for validation PSNR. Every --checkpoint-every steps OUT/checkpoint.safetensors (weights, EMA, Adam \
        state; --resume continues from it) and OUT/model.safetensors (EMA weights; `enhance upscale -m` runs it) \
        are rewritten atomically; OUT/train.jsonl logs loss, learning rate, speed and validation PSNR. Never train on \
        the evaluation sets.
        """
    )

    @Option(help: ArgumentHelp("Folder of HR training images (searched recursively).", valueName: "DIR"))
    var data: String

    @Option(name: .shortAndLong, help: ArgumentHelp("Output folder.", valueName: "DIR"))
    var output: String = "train-out"

    @Option(help: "Upscaling factor: 2, 3 or 4.")
    var scale: Int = 4

    @Option(help: "Architecture: msrresnet, compact, span or srresnet.")
    var arch: String = "msrresnet"

    @Option(help: "Feature channels (default: the architecture's, 64; SPAN 48).")
    var features: Int?

    @Option(help: "Residual blocks (compact: body convolutions; default 16).")
    var blocks: Int?

    @Option(help: "Optimisation steps in all (a resumed run continues up to this count).")
    var steps: Int = 1000

    @Option(help: "Patches per batch.")
    var batch: Int = 16

    @Option(help: "HR patch side in pixels (a multiple of --scale).")
    var patch: Int = 96

    @Option(name: .customLong("lr"), help: "Adam learning rate.")
    var learningRate: Float = 2e-4

    @Option(help: "Learning-rate schedule: constant or cosine (with --warmup).")
    var schedule: String = "constant"

    @Option(help: "Linear warm-up steps of the cosine schedule.")
    var warmup: Int = 0

    @Option(help: "Pixel loss: l1, mse or charbonnier.")
    var loss: String = "l1"

    @Option(help: "Clip the global gradient norm to this value.")
    var clip: Float?

    @Option(help: "Images held out for validation.")
    var holdOut: Int = 5

    @Option(help: "Log every N steps.")
    var logEvery: Int = 10

    @Option(help: "Validate every N steps.")
    var validateEvery: Int = 200

    @Option(help: "Write the checkpoint and the model every N steps.")
    var checkpointEvery: Int = 200

    @Option(help: "Random seed (weights, patches).")
    var seed: UInt64 = 1

    @Option(help: "Worker threads for oneDNN (default: all cores).")
    var threads: Int?

    @OptionGroup var loaders: LoaderOptions

    @Flag(help: "Continue from OUT/checkpoint.safetensors (OUT/checkpoint-gan.safetensors in phase gan).")
    var resume = false

    @Flag(help: "Make LR patches with random real-world degradations (blur, bicubic down, noise, JPEG) instead of clean bicubic.")
    var degradations = false

    @Option(help: "pixel (phase 1) or gan (phase 2).")
    var phase: String = "pixel"

    @Option(help: ArgumentHelp("Phase 2: the phase-1 generator to start from.", valueName: "FILE"))
    var initial: String?

    @Option(help: ArgumentHelp("Phase 2: VGG weights for the perceptual loss (.pth or .safetensors).", valueName: "FILE"))
    var vgg: String?

    @Option(help: "Phase 2: VGG layer of the perceptual loss.")
    var vggLayer: String = "conv5_4"

    @Option(help: "Phase 2: weight of the pixel loss.")
    var pixelWeight: Float = 1e-2

    @Option(help: "Phase 2: weight of the perceptual loss (0 turns it off).")
    var perceptualWeight: Float = 1

    @Option(help: "Phase 2: weight of the adversarial loss.")
    var ganWeight: Float = 5e-3

    @Option(help: "Phase 2: discriminator width (its first stage's channels).")
    var discriminatorFeatures: Int = 64

    func validate() throws {
        guard [2, 3, 4].contains(scale) else { throw ValidationError("--scale must be 2, 3 or 4, got \(scale)") }
        guard patch > 0, patch % scale == 0 else { throw ValidationError("--patch must be a positive multiple of --scale") }
        guard TrainableArchitectures.named(arch) != nil else {
            throw ValidationError("--arch must be one of \(TrainableArchitectures.generators.map { $0.aliases.joined(separator: "/") }.joined(separator: ", ")), got \(arch)")
        }
        guard steps > 0, batch > 0, features.map({ $0 > 0 }) ?? true, blocks.map({ $0 >= 0 }) ?? true else {
            throw ValidationError("--steps, --batch and --features must be positive and --blocks at least 0")
        }
        guard ["l1", "mse", "charbonnier"].contains(loss) else { throw ValidationError("--loss must be l1, mse or charbonnier") }
        guard ["constant", "cosine"].contains(schedule) else { throw ValidationError("--schedule must be constant or cosine") }
        guard ["pixel", "gan"].contains(phase) else { throw ValidationError("--phase must be pixel or gan") }
        if phase == "gan" {
            guard patch == 128 else { throw ValidationError("--phase gan needs --patch 128 (the discriminator scores 128x128 patches)") }
            guard initial != nil else { throw ValidationError("--phase gan needs --initial FILE, the phase-1 generator") }
            guard vgg != nil || perceptualWeight == 0 else {
                throw ValidationError("--phase gan needs --vgg FILE for the perceptual loss (or --perceptual-weight 0)")
            }
        }
        guard logEvery > 0, validateEvery > 0, checkpointEvery > 0 else {
            throw ValidationError("--log-every, --validate-every and --checkpoint-every must be positive")
        }
    }

    func run() throws {
        loaders.apply()
        if let threads {
            DNNLBackend.setThreads(threads)
            ParallelLoops.threads = max(1, threads)
        }
        var dataset = try PairedDataset(folder: data, scale: scale, minimumSide: patch)
        let validation = dataset.holdOut(holdOut)
        for s in dataset.skipped { FileHandle.standardError.write(Data("skipped \(s.name): \(s.reason)\n".utf8)) }
        var options = TrainOptions()
        options.steps = steps
        options.batchSize = batch
        options.patch = patch
        options.learningRate = learningRate
        options.schedule = schedule == "cosine" ? .cosine(total: steps, warmup: warmup, minimum: learningRate / 100) : .constant
        options.loss = loss == "mse" ? .mse : loss == "charbonnier" ? .charbonnier(epsilon: 1e-3) : .l1
        options.clipNorm = clip
        options.logEvery = logEvery
        options.validateEvery = validateEvery
        options.checkpointEvery = checkpointEvery
        options.seed = seed
        options.output = output
        options.degradation = degradations ? DegradationConfig() : nil
        if phase == "gan" { return try runGAN(dataset: dataset, options: options) }
        let network = try TrainableArchitectures.named(arch)!.network(scale: scale, features: features, depth: blocks, seed: seed)
        let trainer = PixelTrainer(network: network, options: options, dataset: dataset, validation: validation,
                                   kernels: DNNLGradientKernels())
        if resume { try trainer.resume(from: output + "/checkpoint.safetensors") }
        say("training \(network.architecture) x\(scale) (\(network.metadata["config"] ?? ""), \(network.parameters.count) parameters) "
              + "on \(dataset.pairs.count) images, \(validation.count) held out; from step \(trainer.step) to \(steps)")
        try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: true)
        let logURL = URL(fileURLWithPath: output + "/train.jsonl")
        if !FileManager.default.fileExists(atPath: logURL.path) { FileManager.default.createFile(atPath: logURL.path, contents: nil) }
        let logFile = try FileHandle(forWritingTo: logURL)
        logFile.seekToEndOfFile()
        defer { try? logFile.close() }
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        try trainer.run { entry in
            if let line = try? encoder.encode(entry) { logFile.write(line + Data("\n".utf8)) }
            var text = String(format: "step %6d  loss %.5f  lr %.2e  %.2f steps/s  %.1f patches/s", entry.step, entry.loss,
                              entry.learningRate, entry.stepsPerSecond, entry.stepsPerSecond * Double(batch))
            if let p = entry.validationPSNR { text += String(format: "  val PSNR %.2f dB", p) }
            say(text)
        }
        say("wrote \(output)/model.safetensors (EMA weights) and \(output)/checkpoint.safetensors")
    }

    func runGAN(dataset: PairedDataset, options: TrainOptions) throws {
        let generator = try TrainableArchitectures.load(try WeightFile.load(path: initial!))
        guard generator.facts.scale == scale else {
            throw ValidationError("--initial '\(initial!)' is a \(generator.architecture) x\(generator.facts.scale) model, not x\(scale)")
        }
        let discriminator = try TrainingNetwork(VGGStyleDiscriminator.self,
                                                config: VGGStyleDiscriminator.Config(features: discriminatorFeatures),
                                                seed: seed &+ 1)
        let perceptual = try vgg.map { try PerceptualNetwork.load(try WeightFile.load(path: $0), lastLayer: vggLayer) }
        var weights = GANWeights()
        weights.pixel = pixelWeight
        weights.perceptual = perceptualWeight
        weights.adversarial = ganWeight
        let trainer = try GANTrainer(generator: generator, discriminator: discriminator, perceptual: perceptual,
                                     weights: weights, options: options, dataset: dataset, kernels: DNNLGradientKernels())
        if resume { try trainer.resume(from: output + "/checkpoint-gan.safetensors") }
        say("phase 2 (GAN): \(generator.architecture) x\(scale) from \(initial!), discriminator \(discriminator.parameters.count) parameters, "
              + "perceptual \(vgg ?? "off"); from step \(trainer.step) to \(steps)")
        try trainer.run { step, l, seconds in
            say(String(format: "step %6d  pixel %.5f  perceptual %.5f  adversarial %.4f  D real %.4f  D fake %.4f  %.1f s",
                         step, l.pixel, l.perceptual, l.adversarial, l.discriminatorReal, l.discriminatorFake, seconds))
        }
        say("wrote \(output)/model-gan.safetensors (EMA weights) and \(output)/checkpoint-gan.safetensors")
    }

    /// Writes a progress line straight to standard output (unbuffered, so `enhance train > log` shows progress).
    func say(_ line: String) {
        FileHandle.standardOutput.write(Data((line + "\n").utf8))
    }
}
