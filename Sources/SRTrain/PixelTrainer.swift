public import SRTrainData
public import SRMetrics
public import SRModels
public import SRWeights
public import SRCore
import Foundation

/// Options of a training run.
public struct TrainOptions: Sendable {
    public var steps = 1000
    public var batchSize = 16
    /// HR patch side; the LR patch is `patch / scale`.
    public var patch = 96
    public var learningRate: Float = 2e-4
    public var schedule: Schedule = .constant
    public var clipNorm: Float?
    public var emaDecay: Float = 0.999
    public var loss: PixelLoss = .l1
    public var logEvery = 10
    public var validateEvery = 200
    public var checkpointEvery = 500
    public var seed: UInt64 = 1
    public var output = "train-out"
    /// Real-world degradations for the LR patches (nil: clean bicubic LR, the papers' setting).
    public var degradation: DegradationConfig?

    public init() {}
}

/// One line of the training log.
public struct TrainLogEntry: Codable, Sendable {
    public var step: Int
    public var loss: Double
    public var learningRate: Double
    public var stepsPerSecond: Double
    public var validationPSNR: Double?
}

/// Phase-1 training of a generator (any `TrainingNetwork`) on a pixel loss (L1, MSE or Charbonnier) with Adam, an
/// EMA copy of the weights, checkpoints (weights + EMA + optimiser state) and validation PSNR on held-out images.
public final class PixelTrainer {
    public let network: TrainingNetwork
    public let options: TrainOptions
    public let sampler: PatchSampler
    public let validation: [PairedDataset.Pair]
    public let optimizer: Adam
    public private(set) var ema: WeightAverage
    public private(set) var step = 0
    let tape: GraphTape

    /// - Parameter kernels: the convolution passes (`DNNLGradientKernels`, or the reference loops in tests).
    public init(network: TrainingNetwork, options: TrainOptions, dataset: PairedDataset,
                validation: [PairedDataset.Pair], kernels: any GradientKernels) {
        self.network = network
        self.options = options
        self.sampler = PatchSampler(dataset: dataset, batchSize: options.batchSize, patch: options.patch, seed: options.seed,
                                    degradation: options.degradation)
        self.validation = validation
        self.optimizer = Adam(learningRate: options.learningRate)
        self.ema = WeightAverage(network.parameters.all, decay: options.emaDecay)
        self.tape = GraphTape(kernels: kernels)
        TrainMemory.configure()
    }

    /// One optimisation step on `batch`; returns the loss before the update.
    public func train(on batch: TrainingBatch) throws -> Float {
        let c = batch.channels
        let x = Tensor(dims: [batch.count, c, batch.lrSize, batch.lrSize], data: batch.lr)
        let y = Tensor(dims: [batch.count, c, batch.hrSize, batch.hrSize], data: batch.hr)
        tape.reset()
        network.parameters.zeroGrad()
        let out = try network.forward(x, tape: tape)
        let (loss, gradient) = try options.loss.evaluate(out, y)
        network.accumulate(try tape.backward([gradient]).parameters)
        network.absorbStatistics(from: tape)
        if let clip = options.clipNorm { GradientClipping.clip(network.parameters.all, maxNorm: clip) }
        optimizer.learningRate = options.schedule.rate(base: options.learningRate, step: step)
        try optimizer.update(network.parameters.all)
        ema.update(network.parameters.all)
        step += 1
        tape.reset()
        return loss
    }

    /// Mean PSNR (Y, shave = scale) of the EMA weights on the validation images.
    public func validate() throws -> Double? {
        guard !validation.isEmpty else { return nil }
        let params = network.parameters.all
        let current = params.map(\.data)
        for (p, e) in zip(params, ema.values) { p.data = e }
        defer { for (p, d) in zip(params, current) { p.data = d } }
        var sum = 0.0
        let evalTape = GraphTape(kernels: tape.kernels)
        for pair in validation {
            let lr = pair.lr
            let x = Tensor(dims: [1, 3, lr.height, lr.width], data: lr.data.map { $0 / 255 })
            let y = try network.forward(x, tape: evalTape, mode: .evaluation, recording: false)
            evalTape.reset()
            let sr = PlanarImage(channels: 3, height: y.shape.h, width: y.shape.w, data: y.data.map { $0 * 255 })
            sum += SRProtocol.score(hr: pair.hr, sr: sr, scale: network.facts.scale).psnr
        }
        return sum / Double(validation.count)
    }

    /// Runs until `options.steps`, logging through `log` and writing checkpoints and the final model.
    public func run(log: (TrainLogEntry) -> Void) throws {
        try FileManager.default.createDirectory(atPath: options.output, withIntermediateDirectories: true)
        let loader = BatchLoader(sampler: sampler, startingAt: step, prefetch: 4, workers: 1)
        defer { loader.stop() }
        var lossSum = 0.0, count = 0
        var clock = Date()
        while step < options.steps {
            let loss = try train(on: loader.next())
            lossSum += Double(loss)
            count += 1
            let validating = step % options.validateEvery == 0 || step == options.steps
            if step % options.logEvery == 0 || validating || step == options.steps {
                let now = Date()
                var entry = TrainLogEntry(step: step, loss: lossSum / Double(count),
                                          learningRate: Double(optimizer.learningRate),
                                          stepsPerSecond: Double(count) / now.timeIntervalSince(clock))
                if validating { entry.validationPSNR = try validate() }
                log(entry)
                lossSum = 0
                count = 0
                clock = Date()
            }
            if step % options.checkpointEvery == 0 || step == options.steps {
                try saveCheckpoint(to: options.output + "/checkpoint.safetensors")
                try exportModel(to: options.output + "/model.safetensors")
            }
        }
    }

    /// The EMA weights as a model file that `enhance upscale -m` runs.
    public func exportModel(to path: String) throws {
        try Self.export(network, weights: ema.values, step: step, phase: "phase 1, pixel loss", to: path)
    }

    /// Writes `weights` (in the network's parameter order) under the architecture's PyTorch names with metadata.
    static func export(_ network: TrainingNetwork, weights: [[Float]], step: Int, phase: String, to path: String) throws {
        try Safetensors.write(try network.exportedStateDict(weights: weights),
                              metadata: metadata(network, step: step, phase: phase), to: path)
    }

    static func metadata(_ network: TrainingNetwork, step: Int, phase: String) -> [String: String] {
        network.metadata.merging(["source": "enhance train (\(phase)), step \(step)", "trained_by": "Enhance"]) { $1 }
    }

    func metadata() -> [String: String] { Self.metadata(network, step: step, phase: "phase 1, pixel loss") }

    /// Weights, EMA weights and Adam moments, with the step, in one safetensors file (written atomically).
    public func saveCheckpoint(to path: String) throws {
        var d = StateDict()
        for (k, name) in network.parameters.names.enumerated() {
            let p = network.parameters[name]
            let key = name.split(separator: ".").map(String.init)
            d.insert(WeightTensor(shape: [p.data.count], floats: p.data), path: key)
            d.insert(WeightTensor(shape: [p.data.count], floats: ema.values[k]), path: ["ema"] + key)
            if !optimizer.m.isEmpty {
                d.insert(WeightTensor(shape: [p.data.count], floats: optimizer.m[k]), path: ["adam_m"] + key)
                d.insert(WeightTensor(shape: [p.data.count], floats: optimizer.v[k]), path: ["adam_v"] + key)
            }
        }
        for (name, b) in network.parameters.buffers {
            d.insert(WeightTensor(shape: [b.data.count], floats: b.data), path: ["buffer"] + name.split(separator: ".").map(String.init))
        }
        var meta = metadata()
        meta["checkpoint_step"] = "\(step)"
        meta["adam_step"] = "\(optimizer.step)"
        try Safetensors.write(d, metadata: meta, to: path)
    }

    /// Restores weights, EMA, optimiser moments and the step from `saveCheckpoint`'s file.
    public func resume(from path: String) throws {
        let d = try Safetensors.load(path: path)
        guard let s = d.metadata["checkpoint_step"].flatMap(Int.init), let a = d.metadata["adam_step"].flatMap(Int.init) else {
            throw TrainError.invalid("'\(path)' is not an enhance training checkpoint (no checkpoint_step metadata)")
        }
        var m: [[Float]] = [], v: [[Float]] = []
        for (k, name) in network.parameters.names.enumerated() {
            let p = network.parameters[name]
            guard let w = d[name], let e = d["ema." + name], w.shape.reduce(1, *) == p.data.count else {
                throw TrainError.parameter(key: name, detail: "missing or mis-shaped in checkpoint '\(path)'")
            }
            p.data = w.floats()
            ema.values[k] = e.floats()
            if let mk = d["adam_m." + name], let vk = d["adam_v." + name] {
                m.append(mk.floats())
                v.append(vk.floats())
            }
        }
        for (name, b) in network.parameters.buffers {
            if let t = d["buffer." + name], t.count == b.data.count { b.data = t.floats() }
        }
        optimizer.restore(step: a, m: m.count == network.parameters.names.count ? m : [],
                          v: v.count == network.parameters.names.count ? v : [])
        step = s
    }
}
