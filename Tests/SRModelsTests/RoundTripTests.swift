import Foundation
import Testing
import SRCore
import SRWeights
import SRBackendReference
@testable import SRModels

@Suite("round trips and detection errors")
struct RoundTripTests {
    static let seeds: [UInt64] = [1, 2, 3, 4, 5, 6]

    @Test("random config -> state dict -> safetensors -> read -> detect gives the same config",
          arguments: ArchitectureRegistry.standard.names, seeds)
    func roundTrip(architecture: String, seed: UInt64) throws {
        var g = SeededGenerator(seed: seed)
        let registry = ArchitectureRegistry.standard
        let (config, weights) = try #require(registry.randomStateDict(architecture, using: &g))
        let original = DetectedModel.json(config)
        // What `enhance convert` records: weights do not fix FSRCNN's scale.
        let scale: Int = switch config {
        case let c as FSRCNN.Config: c.scale
        default: 1
        }
        let bytes = try Safetensors.encode(weights, metadata: ["scale": String(scale)])
        let detected = try registry.detect(try Safetensors.read(bytes))
        #expect(detected.architecture == architecture, "seed \(seed)")
        #expect(detected.configJSON == original, "seed \(seed)")
        // The graph builds and infers shapes for a small input.
        let graph = try detected.build()
        let side = detected.facts.fixedInputSize ?? max(4 * detected.facts.alignment, detected.facts.minimumInputSide)
        _ = try graph.inferShapes(inputs: [Shape(c: detected.facts.inChannels, h: side, w: side)])
    }

    @Test("a converted file's stored configuration supplies what shapes cannot tell, unless it contradicts them")
    func storedConfig() throws {
        var config = EDSR.Config(features: 4, blocks: 1, scale: 2)
        config.residualScale = 0.1
        let registry = ArchitectureRegistry.standard
        var weights = StateDict()
        var g = SeededGenerator(seed: 12)
        for spec in EDSR.stateDictSpec(config) {
            weights[spec.key] = WeightTensor(Tensor.random(dims: spec.shape, using: &g))
        }
        #expect(try registry.detect(weights).config(as: EDSR.self)?.residualScale == 1)
        let converted = DetectedModel(architecture: EDSR.self, config: config, weights: weights)
        let metadata = converted.conversionMetadata(source: "edsr.pth", convertedBy: "test")
        let read = try registry.detect(try Safetensors.read(try Safetensors.encode(weights, metadata: metadata)))
        #expect(read.config(as: EDSR.self) == config)
        // A stored configuration whose tensors differ from the file's is ignored.
        var other = config
        other.blocks = 2
        let stale = DetectedModel(architecture: EDSR.self, config: other, weights: weights)
            .conversionMetadata(source: "edsr.pth", convertedBy: "test")
        let reread = try registry.detect(try Safetensors.read(try Safetensors.encode(weights, metadata: stale)))
        #expect(reread.config(as: EDSR.self)?.blocks == 1 && reread.config(as: EDSR.self)?.residualScale == 1)
    }

    @Test("an unknown state dict is a named error that groups the unplaced keys by prefix, capped")
    func unknown() throws {
        var weights = StateDict()
        for i in 0..<20 { weights["encoder.layers.\(i).attn.qkv.weight"] = WeightTensor(shape: [3], floats: [0, 0, 0]) }
        for i in 0..<15 { weights["extra\(i).weight"] = WeightTensor(shape: [1], floats: [0]) }
        #expect {
            try ArchitectureRegistry.standard.detect(weights)
        } throws: { error in
            guard case ModelsError.unknownArchitecture(let groups, let total, let tried) = error else { return false }
            let text = (error as? ModelsError)?.description ?? ""
            return total == 35 && groups.first == KeyGroup(pattern: "encoder.layers.#.attn.qkv.weight", count: 20,
                                                           example: "encoder.layers.0.attn.qkv.weight")
                && tried.contains("RRDBNet") && text.contains("encoder.layers.#.attn.qkv.weight (20)")
                && text.contains("and 4 more groups")
        }
    }

    @Test("a network that shares a few module names with a known one is unknown, not a broken variant")
    func sharedNames() throws {
        var weights = StateDict()
        func conv(_ key: String, _ o: Int, _ i: Int) {
            weights[key + ".weight"] = WeightTensor(shape: [o, i, 3, 3], floats: [Float](repeating: 0, count: o * i * 9))
            weights[key + ".bias"] = WeightTensor(shape: [o], floats: [Float](repeating: 0, count: o))
        }
        // SwinIR: conv_first, conv_after_body, upsample.0 and conv_last like EDSR, transformer layers instead of body.
        conv("conv_first", 4, 3)
        for l in 0..<2 { for b in 0..<3 { for t in ["norm1", "attn.qkv", "attn.proj", "mlp.fc1"] {
            weights["layers.\(l).residual_group.blocks.\(b).\(t).weight"] = WeightTensor(shape: [4], floats: [0, 0, 0, 0])
        } } }
        conv("body.0.conv1", 4, 4)
        conv("body.0.conv2", 4, 4)
        conv("conv_after_body", 4, 4)
        conv("upsample.0", 16, 4)
        conv("conv_last", 3, 4)
        #expect {
            try ArchitectureRegistry.standard.detect(weights)
        } throws: { error in
            guard case ModelsError.unknownArchitecture(let groups, _, _) = error else { return false }
            return groups.contains { $0.pattern == "layers.#.residual_group.blocks.#.attn.qkv.weight" && $0.count == 6 }
        }
    }

    @Test("a tensor of the wrong shape is a named error with the key and both shapes")
    func wrongShape() throws {
        var g = SeededGenerator(seed: 7)
        var (_, weights) = try #require(ArchitectureRegistry.standard.randomStateDict("MSRResNet", using: &g))
        let key = "body.0.conv2.weight"
        let shape = try #require(weights[key]).shape
        weights[key] = WeightTensor(shape: [shape[0], shape[1] + 1, 3, 3],
                                    floats: [Float](repeating: 0, count: shape[0] * (shape[1] + 1) * 9))
        #expect(throws: ModelsError.shapeMismatch(architecture: "MSRResNet", key: key, expected: shape,
                                                  actual: [shape[0], shape[1] + 1, 3, 3])) {
            try ArchitectureRegistry.standard.detect(weights)
        }
    }

    @Test("a missing tensor and extra keys are named errors")
    func missingAndExtra() throws {
        var g = SeededGenerator(seed: 8)
        let (_, weights) = try #require(ArchitectureRegistry.standard.randomStateDict("EDSR", using: &g))
        var missing = weights
        missing["conv_after_body.bias"] = nil
        #expect(throws: ModelsError.missingTensor(architecture: "EDSR", key: "conv_after_body.bias")) {
            try ArchitectureRegistry.standard.detect(missing)
        }
        var extra = weights
        extra["body.0.attention.weight"] = WeightTensor(shape: [1], floats: [1])
        #expect {
            try ArchitectureRegistry.standard.detect(extra)
        } throws: { error in
            guard case ModelsError.unplacedKeys("EDSR", let groups, 1) = error else { return false }
            return groups.map(\.example) == ["body.0.attention.weight"]
        }
    }

    @Test("training wrappers and module. prefixes are removed before detection")
    func wrappers() throws {
        var g = SeededGenerator(seed: 9)
        let (config, weights) = try #require(ArchitectureRegistry.standard.randomStateDict("SRVGGNetCompact", using: &g))
        var wrapped = StateDict()
        for (name, t) in weights { wrapped.insert(t, path: ["params_ema", "module." + name]) }
        for (name, t) in weights { wrapped.insert(t, path: ["params", name]) }
        let detected = try ArchitectureRegistry.standard.detect(wrapped)
        #expect(detected.configJSON == DetectedModel.json(config))
        #expect(detected.weights.names == weights.names)
    }

    @Test("the luma wrapper maps RGB to RGB through YCbCr: an identity network gives the input back")
    func lumaIdentity() throws {
        var net = Graph()
        let x = net.add(.input)
        net.outputs = [net.add(.activation(.linear(scale: 1, shift: 0)), [x])]
        let wrapped = LumaWrapper.wrap(net, scale: 1)
        var g = SeededGenerator(seed: 10)
        let image = Tensor.random(dims: [1, 3, 5, 7], in: 0...1, using: &g)
        let out = try ReferenceBackend().compile(wrapped, inputShape: image.shape).run(image)
        #expect(out.dims == image.dims)
        #expect(maxAbsDiff(out, image) < 1e-5)
    }

    @Test("batch norm folding equals conv then batch norm")
    func batchNormFold() throws {
        var g = SeededGenerator(seed: 11)
        let w = Tensor.random(dims: [2, 1, 1, 1], using: &g)
        var weights = StateDict()
        weights["c.weight"] = WeightTensor(w)
        weights["c.bias"] = WeightTensor(shape: [2], floats: [0.5, -0.25])
        weights["bn.weight"] = WeightTensor(shape: [2], floats: [2, 0.5])
        weights["bn.bias"] = WeightTensor(shape: [2], floats: [0.1, 0.2])
        weights["bn.running_mean"] = WeightTensor(shape: [2], floats: [1, -1])
        weights["bn.running_var"] = WeightTensor(shape: [2], floats: [4, 0.25])
        var b = NetworkBuilder(architecture: "test", weights: weights)
        let input = b.input()
        let graph = b.finish(try b.conv("c", input, batchNorm: "bn"))
        let x = Tensor(dims: [1, 1, 1, 1], data: [3])
        let y = try ReferenceBackend().compile(graph, inputShape: x.shape).run(x)
        for o in 0..<2 {
            let conv = w.data[o] * 3 + [0.5, -0.25][o]
            let expected = ([2, 0.5][o] * (conv - [1, -1][o]) / ([4, 0.25][o] + 1e-5).squareRoot()) + [0.1, 0.2][o]
            #expect(abs(y.data[o] - Float(expected)) < 1e-5)
        }
    }
}
