public import SRModels
public import SRWeights
import SRCore

/// Named trainable tensors in a fixed order, keyed exactly like the PyTorch state dict of the architecture, plus
/// the buffers saved with them (batch-norm running statistics).
public final class ParameterSet {
    /// Trainable parameters in spec order (the order optimiser state follows).
    public private(set) var names: [String] = []
    public private(set) var values: [String: Variable] = [:]
    /// Non-trainable state saved with the weights (batch-norm running statistics and batch counters).
    public var buffers: [String: Variable] = [:]

    public init() {}

    /// Creates every tensor of `specs`, initialised by `initializer` (seeded; see `Initializer` for the roles).
    public init(specs: [TensorSpec], initializer: Initializer, seed: UInt64) {
        var g = SeededGenerator(seed: seed)
        let keys = Set(specs.map(\.key))
        let weightShapes = Dictionary(specs.map { ($0.key, $0.shape) }, uniquingKeysWith: { a, _ in a })
        for spec in specs {
            let shape = Self.shape(spec.shape), count = shape.count
            let stem = spec.key.split(separator: ".").dropLast().joined(separator: ".")
            let data: [Float]
            if spec.isBuffer {
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
            if spec.isBuffer {
                buffers[spec.key] = Variable(shape, data: data)
            } else {
                names.append(spec.key)
                values[spec.key] = Variable(shape, data: data, requiresGrad: true)
            }
        }
    }

    /// The parameter `name`; a missing name is a programming error (use `value(_:)` for names from outside).
    public subscript(_ name: String) -> Variable {
        guard let v = values[name] else { preconditionFailure("no parameter '\(name)'") }
        return v
    }

    /// The parameter `name`.
    /// - Throws: `TrainError.parameter` when there is none.
    public func value(_ name: String) throws -> Variable {
        guard let v = values[name] else { throw TrainError.parameter(key: name, detail: "not a parameter of this network") }
        return v
    }

    /// The buffer `name`.
    /// - Throws: `TrainError.parameter` when there is none.
    public func buffer(_ name: String) throws -> Variable {
        guard let v = buffers[name] else { throw TrainError.parameter(key: name, detail: "not a buffer of this network") }
        return v
    }

    /// The parameters in `names` order.
    public var all: [Variable] { names.map { values[$0]! } }
    /// The number of trainable scalars.
    public var count: Int { all.reduce(0) { $0 + $1.data.count } }

    public func zeroGrad() { for v in values.values { v.zeroGrad() } }

    /// Freezes (no parameter gradients; gradients still flow through to the inputs) or unfreezes every parameter.
    public func setTrainable(_ on: Bool) { for v in values.values { v.requiresGrad = on } }

    static func shape(_ dims: [Int]) -> TShape {
        switch dims.count {
        case 4: TShape(n: dims[0], c: dims[1], h: dims[2], w: dims[3])
        case 2: TShape(n: dims[0], c: dims[1], h: 1, w: 1)
        default: TShape(n: dims.reduce(1, *), c: 1, h: 1, w: 1)
        }
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
                if spec.isBuffer { continue }
                throw TrainError.parameter(key: spec.key, detail: "missing from the weights (expected shape \(spec.shape)); is this file of the same architecture and configuration?")
            }
            // PyTorch stores scalars (num_batches_tracked) with shape [], some writers with [1].
            let squeeze = { (s: [Int]) in s.filter { $0 != 1 } }
            guard t.count == spec.shape.reduce(1, *), squeeze(t.shape) == squeeze(spec.shape) else {
                throw TrainError.parameter(key: spec.key, detail: "shape \(t.shape) in the weights, the network has \(spec.shape); check --features/--blocks/--scale against the file")
            }
            let data = t.floats()
            if let v = values[spec.key] {
                v.data = data
            } else {
                buffers[spec.key] = Variable(Self.shape(spec.shape), data: data)
            }
        }
    }
}
