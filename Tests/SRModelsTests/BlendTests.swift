import Testing
import SRCore
import SRWeights
import SRModels
import SRBackendReference

@Suite("Blending detected models on their state dicts")
struct BlendTests {
    static func random<A: Architecture>(_ a: A.Type, _ config: A.Config, seed: UInt64) throws -> DetectedModel {
        var g = SeededGenerator(seed: seed)
        var d = StateDict()
        for spec in A.stateDictSpec(config) {
            let n = max(spec.shape.reduce(1, *), 1)
            // Positive running variances; everything else small.
            let range: ClosedRange<Float> = spec.key.hasSuffix("running_var") ? 0.5...1.5 : -0.3...0.3
            d.insert(WeightTensor(shape: spec.shape, floats: (0..<n).map { _ in Float.random(in: range, using: &g) }),
                     path: spec.key.split(separator: ".").map(String.init))
        }
        return try ArchitectureRegistry.standard.detect(d)
    }

    func run(_ graph: Graph, _ x: Tensor) throws -> [Float] {
        try ReferenceBackend().compile(graph, inputShapes: [x.shape]).run(inputs: [x])[0].data
    }

    @Test("MSRResNet (nothing folded): the state-dict blend runs like the interpolated graphs; every tensor is mixed")
    func plain() throws {
        let config = MSRResNet.Config(features: 4, blocks: 1, scale: 2)
        let a = try Self.random(MSRResNet.self, config, seed: 1), b = try Self.random(MSRResNet.self, config, seed: 2)
        let mixed = try a.blended(with: b, t: 0.3)
        let key = "body.0.conv1.weight"
        let expected = zip(a.weights[key]!.floats(), b.weights[key]!.floats()).map { 0.7 * $0 + 0.3 * $1 }
        #expect(mixed.weights[key]!.floats() == expected)
        var g = SeededGenerator(seed: 3)
        let x = Tensor.random(dims: [1, 3, 5, 6], in: 0...1, using: &g)
        let viaGraphs = try run(try a.build().interpolated(with: try b.build(), t: 0.3), x)
        let viaWeights = try run(try mixed.build(), x)
        #expect(zip(viaGraphs, viaWeights).allSatisfy { abs($0 - $1) <= 1e-5 })
    }

    @Test("SRResNet (batch norm folded): the blend folds the mixed statistics, which interpolating folded graphs does not")
    func batchNorm() throws {
        let config = SRResNet.Config(features: 4, blocks: 1, scale: 2)
        let a = try Self.random(SRResNet.self, config, seed: 4), b = try Self.random(SRResNet.self, config, seed: 5)
        let mixed = try a.blended(with: b, t: 0.5)
        var mixedDict = StateDict()
        for (name, t) in a.weights {
            mixedDict.insert(WeightTensor(shape: t.shape, floats: zip(t.floats(), b.weights[name]!.floats()).map { 0.5 * $0 + 0.5 * $1 }),
                             path: name.split(separator: ".").map(String.init))
        }
        var g = SeededGenerator(seed: 6)
        let x = Tensor.random(dims: [1, 3, 5, 6], in: 0...1, using: &g)
        let viaWeights = try run(try mixed.build(), x)
        #expect(viaWeights == (try run(try SRResNet.build(config, weights: mixedDict), x)))
        let viaGraphs = try run(try a.build().interpolated(with: try b.build(), t: 0.5), x)
        #expect(zip(viaGraphs, viaWeights).contains { abs($0 - $1) > 1e-4 })
    }

    @Test("models of different architectures or configurations do not blend")
    func mismatch() throws {
        let a = try Self.random(MSRResNet.self, MSRResNet.Config(features: 4, blocks: 1, scale: 2), seed: 7)
        let b = try Self.random(MSRResNet.self, MSRResNet.Config(features: 6, blocks: 1, scale: 2), seed: 8)
        let c = try Self.random(SRVGGNetCompact.self, SRVGGNetCompact.Config(features: 4, convolutions: 1, scale: 2), seed: 9)
        #expect(throws: ModelsError.self) { try a.blended(with: b, t: 0.5) }
        #expect(throws: ModelsError.self) { try a.blended(with: c, t: 0.5) }
    }
}
