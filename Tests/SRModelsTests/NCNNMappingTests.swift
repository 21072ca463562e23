import Testing
import SRCore
import SRWeights
@testable import SRModels

/// The ncnn -> PyTorch mapping of `enhance convert`: an ncnn file keeps weights in module order without names.
@Suite("ncnn weight mapping")
struct NCNNMappingTests {
    /// The weights of `config` in state-dict order, as `ncnnWeights` lists them for an exported graph.
    func ordered<A: Architecture>(_: A.Type, _ config: A.Config, using g: inout SeededGenerator) -> (StateDict, [NCNNWeight]) {
        var dict = StateDict()
        var list: [NCNNWeight] = []
        for s in A.stateDictSpec(config) where !s.isBuffer {
            let t = Tensor.random(dims: s.shape, using: &g)
            dict[s.key] = WeightTensor(t)
            list.append(NCNNWeight(layer: "layer\(list.count)", tensor: t))
        }
        return (dict, list)
    }

    func expectRecovered<A: Architecture>(_ a: A.Type, _ config: A.Config, seed: UInt64) throws {
        var g = SeededGenerator(seed: seed)
        let (dict, list) = ordered(a, config, using: &g)
        let candidates = ArchitectureRegistry.ncnnCandidates(list)
        let match = try #require(candidates.first { $0.configJSON == DetectedModel.json(config) },
                                 "seed \(seed): \(DetectedModel.json(config)) not among \(candidates.map(\.configJSON))")
        #expect(match.architecture == A.name)
        for (key, tensor) in dict.entries.map({ ($0.name, $0.tensor) }) {
            #expect(match.weights[key]?.floats() == tensor.floats(), "\(key)")
        }
        // Detection by key names, as for a PyTorch file, agrees with the mapping.
        #expect(try ArchitectureRegistry.standard.detect(match.weights).architecture == A.name)
    }

    @Test("random RRDBNet, SRVGGNetCompact and SPAN configurations are recovered from ordered weights",
          arguments: [1, 2, 3, 4] as [UInt64])
    func recovered(seed: UInt64) throws {
        var g = SeededGenerator(seed: seed)
        try expectRecovered(RRDBNet.self, RRDBNet.randomConfig(using: &g), seed: seed)
        try expectRecovered(SRVGGNetCompact.self, SRVGGNetCompact.randomConfig(using: &g), seed: seed)
        var span = SPAN.randomConfig(using: &g)
        (span.branches, span.evalConv, span.normalise, span.gain) = (false, true, true, 2)
        try expectRecovered(SPAN.self, span, seed: seed)
    }

    @Test("the standard exports are recovered: Real-ESRGAN x4plus and x2plus, animevideov3, SPAN")
    func standardConfigs() throws {
        try expectRecovered(RRDBNet.self, RRDBNet.Config(), seed: 9)
        try expectRecovered(RRDBNet.self, RRDBNet.Config(unshuffle: 2), seed: 9)
        try expectRecovered(SRVGGNetCompact.self, SRVGGNetCompact.Config(), seed: 9)
        try expectRecovered(SPAN.self, SPAN.Config(features: 52, scale: 2, branches: false), seed: 9)
    }

    @Test("Real-CUGAN se x2, x3 and x4 (deconvolutions, SE blocks as 1x1 linear layers) are recovered")
    func realCUGAN() throws {
        for scale in [2, 3, 4] {
            try expectRecovered(RealCUGAN.self, RealCUGAN.Config(features: 32, scale: scale), seed: UInt64(scale))
            try expectRecovered(RealCUGAN.self, RealCUGAN.Config(features: 8, scale: scale), seed: UInt64(10 + scale))
        }
    }

    @Test("deconvolutions with output padding and grouped convolutions are refused by name")
    func refusals() throws {
        var graph = Graph()
        let x = graph.add(.input, [], name: "data")
        let d = graph.add(.deconv2d(Deconv2d(weight: Tensor(zeros: [4, 4, 2, 2]), bias: nil, stride: (2, 2),
                                             padding: Padding(top: 0, left: 0, bottom: 0, right: 0),
                                             outputPadding: (1, 1), dilation: (1, 1), activation: nil)), [x], name: "up0")
        graph.outputs = [d]
        #expect { try ArchitectureRegistry.ncnnWeights(of: graph) } throws: { error in
            "\(error)".contains("'up0' is a deconvolution with output padding")
        }
        var grouped = Graph()
        let y = grouped.add(.input, [], name: "data")
        let c = grouped.add(.conv2d(Conv2d(weight: Tensor(zeros: [4, 2, 3, 3]), bias: nil, padding: .uniform(1),
                                           groups: 2)), [y], name: "dw0")
        grouped.outputs = [c]
        #expect { try ArchitectureRegistry.ncnnWeights(of: grouped) } throws: { error in
            "\(error)".contains("'dw0' is a grouped convolution (2 groups)")
        }
    }
}
