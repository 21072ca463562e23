public import SRWeights
import Foundation

/// Saves and restores named groups of training state (parameters, buffers, EMA copies, Adam moments) in one
/// safetensors file, written atomically. Tensor names: `<group>.<parameter>`, `<group>.ema.<parameter>`,
/// `<group>.adam_m.<parameter>`, `<group>.adam_v.<parameter>`, `<group>.buffer.<name>`; metadata holds the step and
/// each optimiser's step.
public enum CheckpointStore {
    public struct Group {
        public var name: String
        public var parameters: ParameterSet
        public var optimizer: Adam?
        public var ema: WeightAverage?
        public init(name: String, parameters: ParameterSet, optimizer: Adam?, ema: WeightAverage?) {
            self.name = name
            self.parameters = parameters
            self.optimizer = optimizer
            self.ema = ema
        }
    }

    static func path(_ s: String) -> [String] { s.split(separator: ".").map(String.init) }

    public static func save(_ groups: [Group], step: Int, metadata: [String: String], to file: String) throws {
        var d = StateDict()
        var meta = metadata
        meta["checkpoint_step"] = "\(step)"
        for g in groups {
            for (k, name) in g.parameters.names.enumerated() {
                let p = g.parameters[name]
                d.insert(WeightTensor(shape: [p.data.count], floats: p.data), path: [g.name] + path(name))
                if let ema = g.ema { d.insert(WeightTensor(shape: [p.data.count], floats: ema.values[k]), path: [g.name, "ema"] + path(name)) }
                if let o = g.optimizer, !o.m.isEmpty {
                    d.insert(WeightTensor(shape: [p.data.count], floats: o.m[k]), path: [g.name, "adam_m"] + path(name))
                    d.insert(WeightTensor(shape: [p.data.count], floats: o.v[k]), path: [g.name, "adam_v"] + path(name))
                }
            }
            for (name, b) in g.parameters.buffers {
                d.insert(WeightTensor(shape: [b.data.count], floats: b.data), path: [g.name, "buffer"] + path(name))
            }
            if let o = g.optimizer { meta["\(g.name).adam_step"] = "\(o.step)" }
        }
        try Safetensors.write(d, metadata: meta, to: file)
    }

    /// Restores every group from `file`; returns the step.
    public static func restore(_ groups: [Group], from file: String) throws -> Int {
        let d = try Safetensors.load(path: file)
        guard let step = d.metadata["checkpoint_step"].flatMap(Int.init) else {
            throw TrainError.invalid("'\(file)' is not an enhance training checkpoint (no checkpoint_step metadata)")
        }
        for g in groups {
            var m: [[Float]] = [], v: [[Float]] = []
            for (k, name) in g.parameters.names.enumerated() {
                let p = g.parameters[name]
                guard let w = d["\(g.name).\(name)"], w.shape.reduce(1, *) == p.data.count else {
                    throw TrainError.parameter(key: "\(g.name).\(name)", detail: "missing or mis-shaped in checkpoint '\(file)'")
                }
                p.data = w.floats()
                if let ema = g.ema, let e = d["\(g.name).ema.\(name)"] { ema.values[k] = e.floats() }
                if let mk = d["\(g.name).adam_m.\(name)"], let vk = d["\(g.name).adam_v.\(name)"] {
                    m.append(mk.floats())
                    v.append(vk.floats())
                }
            }
            for (name, b) in g.parameters.buffers {
                if let t = d["\(g.name).buffer.\(name)"], t.shape.reduce(1, *) == b.data.count { b.data = t.floats() }
            }
            if let o = g.optimizer, let s = d.metadata["\(g.name).adam_step"].flatMap(Int.init) {
                let complete = m.count == g.parameters.names.count
                o.restore(step: s, m: complete ? m : [], v: complete ? v : [])
            }
        }
        return step
    }
}
