public import SRModels
public import SRWeights
import SRCore

/// A trainable tensor (or a buffer) of a network: its state-dict key and shape, its values and, after a backward
/// pass, d(loss)/d(values).
public final class Parameter {
    public let key: String
    /// The state-dict shape (`[]` for scalars such as `num_batches_tracked`).
    public let shape: [Int]
    public var data: [Float]
    /// d(loss)/d(self), accumulated by `TrainingNetwork.accumulate`; nil until something flows into it.
    public var grad: [Float]?
    /// Whether gradients are kept for this tensor (cleared to freeze it, e.g. the discriminator during a generator
    /// step).
    public var requiresGrad: Bool

    public init(key: String, shape: [Int], data: [Float], requiresGrad: Bool = true) {
        precondition(data.count == max(shape.reduce(1, *), 1), "parameter '\(key)': \(data.count) values for shape \(shape)")
        self.key = key
        self.shape = shape
        self.data = data
        self.requiresGrad = requiresGrad
    }

    /// The values as a tensor of the state-dict shape.
    public var tensor: Tensor { Tensor(dims: shape.isEmpty ? [1] : shape, data: data) }

    /// Adds `g` into the gradient (the first contribution is kept as is, without a copy).
    public func accumulate(_ g: [Float]) {
        guard grad != nil else { grad = g; return }
        ElementWise.add(g, into: &grad!)
    }

    public func zeroGrad() { grad = nil }
}

/// Named trainable tensors in a fixed order, keyed exactly like the PyTorch state dict of the architecture, plus
/// the buffers saved with them (batch-norm running statistics and counters, tensors the training graph does not
/// use such as SPAN's `eval_conv`).
public final class ParameterSet {
    /// Trainable parameters in spec order (the order optimiser state follows).
    public private(set) var names: [String] = []
    public private(set) var values: [String: Parameter] = [:]
    /// State saved with the weights that no gradient reaches.
    public private(set) var buffers: [String: Parameter] = [:]

    /// Creates every tensor of `specs`, initialised by `initializer` (seeded; see `Initializer` for the roles).
    /// Spec tensors that are not buffers but not in `trainable` either (when given) are kept as buffers.
    public init(specs: [TensorSpec], initializer: Initializer, seed: UInt64, trainable: Set<String>? = nil) {
        var g = SeededGenerator(seed: seed)
        let keys = Set(specs.map(\.key))
        let weightShapes = Dictionary(specs.map { ($0.key, $0.shape) }, uniquingKeysWith: { a, _ in a })
        for spec in specs {
            let count = max(spec.shape.reduce(1, *), 1)
            let isBuffer = spec.isBuffer || trainable.map { !$0.contains(spec.key) } ?? false
            let stem = spec.key.split(separator: ".").dropLast().joined(separator: ".")
            let data: [Float]
            if isBuffer {
                data = [Float](repeating: spec.key.hasSuffix(".running_var") ? 1 : 0, count: count)
            } else if spec.key.hasSuffix(".bias") {
                let weight = weightShapes[stem + ".weight"] ?? []
                data = weight.count >= 2 ? initializer.bias(count, weight.dropFirst().reduce(1, *), &g)
                                         : [Float](repeating: 0, count: count)        // batch-norm shift
            } else if spec.shape.count <= 1 {
                data = keys.contains(stem + ".running_mean") ? [Float](repeating: 1, count: count)   // batch-norm scale
                                                             : [Float](repeating: initializer.preluSlope, count: count)
            } else {
                data = initializer.weight(spec.shape, spec.shape.dropFirst().reduce(1, *), &g)
            }
            let p = Parameter(key: spec.key, shape: spec.shape, data: data, requiresGrad: !isBuffer)
            if isBuffer {
                buffers[spec.key] = p
            } else {
                names.append(spec.key)
                values[spec.key] = p
            }
        }
    }

    /// The parameter `name`; a missing name is a programming error (use `value(_:)` for names from outside).
    public subscript(_ name: String) -> Parameter {
        guard let v = values[name] else { preconditionFailure("no parameter '\(name)'") }
        return v
    }

    /// The parameter or buffer `name`.
    /// - Throws: `TrainError.parameter` when there is none.
    public func value(_ name: String) throws -> Parameter {
        guard let v = values[name] ?? buffers[name] else { throw TrainError.parameter(key: name, detail: "not a tensor of this network") }
        return v
    }

    /// The parameters in `names` order.
    public var all: [Parameter] { names.map { values[$0]! } }
    /// The number of trainable scalars.
    public var count: Int { all.reduce(0) { $0 + $1.data.count } }

    public func zeroGrad() { for v in values.values { v.zeroGrad() } }

    /// Freezes (no parameter gradients; gradients still flow through to the inputs) or unfreezes every parameter.
    public func setTrainable(_ on: Bool) { for v in values.values { v.requiresGrad = on } }

    /// Every tensor (parameters and buffers) by key, as the graph's bindings take them.
    public var tensors: [String: Tensor] {
        var out: [String: Tensor] = [:]
        for (k, p) in values { out[k] = p.tensor }
        for (k, p) in buffers { out[k] = p.tensor }
        return out
    }

    /// The PyTorch-named state dict (parameters and buffers, fp32) in `specs` order.
    public func stateDict(specs: [TensorSpec]) -> StateDict {
        var d = StateDict()
        for spec in specs {
            guard let v = values[spec.key] ?? buffers[spec.key] else { continue }
            d.insert(WeightTensor(shape: spec.shape, floats: v.data), path: spec.key.split(separator: ".").map(String.init))
        }
        return d
    }

    /// Copies tensors from `dict` into the parameters and buffers, checking names and shapes. Missing buffers keep
    /// their values (files written without running statistics); extra tensors in `dict` are ignored (a full VGG19
    /// file loads into a truncated feature network).
    /// - Throws: `TrainError.parameter` naming the first missing or mis-shaped parameter.
    public func load(_ dict: StateDict, specs: [TensorSpec]) throws {
        for spec in specs {
            guard let t = dict[spec.key] else {
                if spec.isBuffer || buffers[spec.key] != nil { continue }
                throw TrainError.parameter(key: spec.key, detail: "missing from the weights (expected shape \(spec.shape)); is this file of the same architecture and configuration?")
            }
            // PyTorch stores scalars (num_batches_tracked) with shape [], some writers with [1].
            let squeeze = { (s: [Int]) in s.filter { $0 != 1 } }
            guard t.count == max(spec.shape.reduce(1, *), 1), squeeze(t.shape) == squeeze(spec.shape) else {
                throw TrainError.parameter(key: spec.key, detail: "shape \(t.shape) in the weights, the network has \(spec.shape); check --features/--blocks/--scale against the file")
            }
            (values[spec.key] ?? buffers[spec.key])?.data = t.floats()
        }
    }
}
