import Foundation
import Testing
import SRCore
@testable import SRWeights

@Suite("StateDict and WeightTensor")
struct StateDictTests {
    func tensor(_ v: Float) -> WeightTensor { WeightTensor(shape: [1], floats: [v]) }

    func nested(_ entries: [([String], Float)]) -> StateDict {
        var d = StateDict()
        for (path, v) in entries { d.insert(tensor(v), path: path) }
        return d
    }

    @Test("canonicalised() prefers EMA weights, unwraps nested wrappers and strips DataParallel prefixes")
    func wrappers() {
        let bsr = nested([(["params", "module.conv.weight"], 1), (["params_ema", "module.conv.weight"], 2),
                          (["optimizer", "state", "0"], 3)])
        #expect(bsr.canonicalised().names == ["conv.weight"])
        #expect(bsr.canonicalised()["conv.weight"]?.floats() == [2])

        let lightning = nested([(["state_dict", "model.body.0.weight"], 1), (["state_dict", "model.body.0.bias"], 2)])
        #expect(lightning.canonicalised().names == ["model.body.0.weight", "model.body.0.bias"],
                "a 'model.' module prefix inside a state dict is a module name, not a wrapper")

        let twice = nested([(["model", "net_g", "module.x"], 1)])
        #expect(twice.canonicalised().names == ["x"])

        let single = nested([(["weights", "a"], 1), (["weights", "b"], 2)])
        #expect(single.canonicalised().names == ["a", "b"])
    }

    @Test("flat state dicts are left alone, including ESRGAN's model.N keys and partial module. prefixes")
    func flat() {
        let esrgan = StateDict(["model.0.weight": tensor(1), "model.0.bias": tensor(2)])
        #expect(esrgan.canonicalised() == esrgan)
        let mixed = StateDict(["module.a": tensor(1), "b": tensor(2)])
        #expect(mixed.canonicalised().names == ["module.a", "b"])
        var dp = StateDict(["module.a": tensor(1), "module.b": tensor(2)], metadata: ["k": "v"])
        #expect(dp.canonicalised().names == ["a", "b"])
        #expect(dp.canonicalised().metadata == ["k": "v"])
        dp["module.a"] = nil
        #expect(dp.names == ["module.b"])
        #expect(dp["module.b"]?.floats() == [2])
    }

    @Test("insertion keeps order; replacing keeps the position")
    func order() {
        var d = StateDict()
        d["b"] = tensor(1)
        d["a"] = tensor(2)
        d["b"] = tensor(3)
        #expect(d.names == ["b", "a"])
        #expect(d.map(\.tensor).map { $0.floats()[0] } == [3, 2])
        d.remove("b")
        #expect(d.names == ["a"] && d["a"]?.floats() == [2] && d["b"] == nil)
    }

    @Test("f16 and bf16 round to nearest even and convert back exactly; integers and bools convert to Float")
    func conversions() {
        let values: [Float] = [0, -0, 1, -2.5, 0.1, 65504, 1e-7, .infinity]
        let half = WeightTensor(shape: [values.count], floats: values, dtype: .f16)
        #expect(half.bytes.count == values.count * 2)
        #expect(half.floats() == values.map { Float(Float16($0)) })
        let bf = WeightTensor(shape: [values.count], floats: values, dtype: .bf16)
        for (a, b) in zip(bf.floats(), values) { #expect(close(a, b, tolerance: 1.0 / 256), "\(a) vs \(b)") }
        #expect(WeightTensor.bfloat16Bits(1 + 1.0 / 256) == 0x3F80, "ties round to even")
        #expect(WeightTensor.bfloat16Bits(1 + 3.0 / 256) == 0x3F82)
        #expect(WeightTensor(shape: [1], floats: [.nan], dtype: .bf16).floats()[0].isNaN)
        #expect(WeightTensor(dtype: .i8, shape: [2], bytes: Data([0xFF, 0x7F])).floats() == [-1, 127])
        #expect(WeightTensor(dtype: .bool, shape: [2], bytes: Data([0, 3])).floats() == [0, 1])
        let t = Tensor(dims: [2, 1], data: [1.5, -1])
        #expect(WeightTensor(t).tensor() == t)
        #expect(WeightTensor(t).converted(to: .f64).converted(to: .f32) == WeightTensor(t))
    }
}
