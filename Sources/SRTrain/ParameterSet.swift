public import SRModels
public import SRWeights
import SRCore

/// Named trainable tensors in a fixed order, keyed exactly like the PyTorch state dict of the architecture.
public final class ParameterSet {
    public private(set) var names: [String] = []
    public private(set) var values: [String: Variable] = [:]
    /// Non-trainable state saved with the weights (batch-norm running statistics).
    public var buffers: [String: Variable] = [:]

    public init() {}

    /// Creates every tensor of `specs`: weights (rank 4 or 2) from `initializer`, biases zero, batch-norm weights
    /// one, buffers as batch norm expects (running mean 0, running variance 1).
    public init(specs: [TensorSpec], initializer: (TensorSpec, inout SeededGenerator) -> [Float], seed: UInt64) {
        var g = SeededGenerator(seed: seed)
        for spec in specs {
            let shape = Self.shape(spec.shape)
            let data = initializer(spec, &g)
            if spec.isBuffer {
                buffers[spec.key] = Variable(shape, data: data)
            } else {
                names.append(spec.key)
                values[spec.key] = Variable(shape, data: data, requiresGrad: true)
            }
        }
    }

    public subscript(_ name: String) -> Variable {
        guard let v = values[name] else { preconditionFailure("no parameter '\(name)'") }
        return v
    }

    public var all: [Variable] { names.map { values[$0]! } }
    public var count: Int { all.reduce(0) { $0 + $1.data.count } }

    public func zeroGrad() { for v in values.values { v.zeroGrad() } }

    static func shape(_ dims: [Int]) -> TShape {
        switch dims.count {
        case 4: TShape(n: dims[0], c: dims[1], h: dims[2], w: dims[3])
        case 2: TShape(n: dims[0], c: dims[1], h: 1, w: 1)
        case 1: TShape(n: dims[0], c: 1, h: 1, w: 1)
        default: TShape(n: dims.reduce(1, *), c: 1, h: 1, w: 1)
        }
    }

    static func dims(_ s: TShape, like spec: [Int]) -> [Int] { spec }

    /// The PyTorch-named state dict (parameters and buffers), fp32.
    public func stateDict(specs: [TensorSpec]) -> StateDict {
        var d = StateDict()
        for spec in specs {
            guard let v = values[spec.key] ?? buffers[spec.key] else { continue }
            d.insert(WeightTensor(shape: spec.shape, floats: v.data), path: spec.key.split(separator: ".").map(String.init))
        }
        return d
    }

    /// Copies tensors from `dict` into the parameters and buffers, checking names and shapes.
    public func load(_ dict: StateDict, specs: [TensorSpec]) throws {
        for spec in specs {
            guard let t = dict[spec.key] else {
                if spec.isBuffer { continue }
                throw TrainError.parameter(key: spec.key, detail: "missing from the weights")
            }
            guard t.shape.reduce(1, *) == spec.shape.reduce(1, *) else {
                throw TrainError.parameter(key: spec.key, detail: "shape \(t.shape), expected \(spec.shape)")
            }
            let data = t.floats()
            if let v = values[spec.key] { v.data = data } else { buffers[spec.key] = Variable(Self.shape(spec.shape), data: data) }
        }
    }
}

/// PyTorch-style initialisers.
public enum Initializers {
    /// Kaiming-normal (fan-in, gain sqrt(2)) for weights times `scale` (BasicSR's `default_init_weights`),
    /// zero biases, batch-norm weight 1 / bias 0, running mean 0 / variance 1.
    public static func kaiming(scale: Float) -> (TensorSpec, inout SeededGenerator) -> [Float] {
        return { spec, g in
            let n = spec.shape.reduce(1, *)
            if spec.key.hasSuffix("running_var") { return [Float](repeating: 1, count: n) }
            if spec.isBuffer || spec.key.hasSuffix(".bias") { return [Float](repeating: 0, count: n) }
            if spec.shape.count == 1 { return [Float](repeating: 1, count: n) }   // batch-norm weight
            let fanIn = spec.shape.dropFirst().reduce(1, *)
            let std = (2 / Float(fanIn)).squareRoot() * scale
            return (0..<n).map { _ in g.nextNormal() * std }
        }
    }
}

#if canImport(Glibc)
import Glibc
#endif
