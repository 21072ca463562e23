public import SRCore
public import SRModels
public import SRWeights

/// A network being trained: the training-mode graph its architecture builds (`TrainableArchitecture`, the same
/// graph family inference runs) and its tensors under their PyTorch state-dict names, so `stateDict()` is a file
/// `enhance upscale -m` detects and `load(_:)` takes files written by PyTorch.
///
/// Each `forward` binds the current values into the graph (`Graph.bind`) and runs it on a `GraphTape`;
/// `accumulate` adds the tape's parameter gradients by key, `absorbStatistics` keeps the batch norms' updated running
/// statistics.
public final class TrainingNetwork {
    /// The architecture's name (`MSRResNet`, `SPAN`, ...).
    public let architecture: String
    /// The configuration as JSON, and the metadata an exported file carries.
    public let metadata: [String: String]
    public let facts: ModelFacts
    public let parameters: ParameterSet
    /// Every tensor of the configuration (`stateDictSpec`).
    public let specs: [TensorSpec]
    /// The training graph (its attributes are rebound before every pass).
    public private(set) var graph: Graph
    let export: (StateDict) throws -> StateDict

    /// A fresh network of `config`, initialised as the architecture's reference code does, seeded.
    /// - Throws: `ModelsError` when `config` has no training build.
    public convenience init<A: TrainableArchitecture>(_ a: A.Type, config: A.Config, seed: UInt64) throws {
        try self.init(a, config: config, seed: seed, weights: nil)
    }

    /// The network of `config` with `weights` (e.g. a phase-1 model or a PyTorch file).
    /// - Throws: `TrainError.parameter` for a missing or mis-shaped tensor; `ModelsError` for a configuration
    ///   without a training build.
    public convenience init<A: TrainableArchitecture>(_ a: A.Type, config: A.Config, weights: StateDict) throws {
        try self.init(a, config: config, seed: 0, weights: weights)
    }

    init<A: TrainableArchitecture>(_ a: A.Type, config: A.Config, seed: UInt64, weights: StateDict?) throws {
        architecture = A.name
        metadata = A.exportMetadata(config)
        facts = A.facts(config)
        specs = A.stateDictSpec(config)
        // The graph's structure does not depend on the values: build it once on zeros to learn what it trains.
        var zeros = StateDict()
        for spec in specs {
            zeros.insert(WeightTensor(shape: spec.shape, floats: [Float](repeating: 1, count: max(spec.shape.reduce(1, *), 1))),
                         path: spec.key.split(separator: ".").map(String.init))
        }
        let probe = try A.build(config, weights: zeros, mode: .training)
        parameters = ParameterSet(specs: specs, initializer: Initializer(A.initialisation), seed: seed,
                                  trainable: Set(probe.trainableKeys))
        if let weights { try parameters.load(weights, specs: specs) }
        graph = try A.build(config, weights: parameters.stateDict(specs: specs), mode: .training)
        export = { dict in try A.exported(config, weights: dict) }
    }

    /// Runs the network on a batch `x` (`[n, c, h, w]`, values 0...1) with the current values, recording on `tape`
    /// unless `recording` is false.
    public func forward(_ x: Tensor, tape: GraphTape, mode: GraphTape.Mode = .training, recording: Bool = true) throws -> Tensor {
        try graph.bind(parameters.tensors)
        return try tape.forward(graph, inputs: [x], mode: mode, recording: recording)[0]
    }

    /// Adds `gradients` (by key, from `GraphTape.backward`) into the parameters that require one.
    public func accumulate(_ gradients: [String: [Float]]) {
        for (key, g) in gradients {
            guard let p = parameters.values[key], p.requiresGrad else { continue }
            p.accumulate(g)
        }
    }

    /// Keeps the running statistics `tape`'s training-mode batch norms computed, and counts the batches in each
    /// layer's `num_batches_tracked`, as PyTorch does.
    public func absorbStatistics(from tape: GraphTape) {
        for (key, values) in tape.runningStatistics { parameters.buffers[key]?.data = values }
        for (meanKey, batches) in tape.normalisedBatches {
            let counter = String(meanKey.dropLast("running_mean".count)) + "num_batches_tracked"
            parameters.buffers[counter]?.data[0] += Float(batches)
        }
    }

    /// Parameters and buffers under their PyTorch names, fp32.
    public func stateDict() -> StateDict { parameters.stateDict(specs: specs) }

    /// Replaces parameters and buffers with those of `dict`.
    /// - Throws: `TrainError.parameter` naming the first missing or mis-shaped tensor.
    public func load(_ dict: StateDict) throws { try parameters.load(dict, specs: specs) }

    /// A model file's tensors: the state dict with `weights` (in parameter order, e.g. the EMA average) in place of
    /// the current parameters, finished by the architecture (SPAN's `eval_conv` re-derived).
    public func exportedStateDict(weights: [[Float]]? = nil) throws -> StateDict {
        var d = stateDict()
        if let weights {
            for (name, values) in zip(parameters.names, weights) {
                d.insert(WeightTensor(shape: parameters[name].shape, floats: values), path: name.split(separator: ".").map(String.init))
            }
        }
        return try export(d)
    }
}
