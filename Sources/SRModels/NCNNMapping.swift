public import SRCore
import SRWeights

/// Recovering a PyTorch architecture from an ncnn graph, for `enhance convert`.
///
/// An ncnn file keeps the weights but not the module names. The exporters write layers in the order the PyTorch
/// module runs them, which for the architectures below is also the order of their state dict. So the weighted
/// tensors of the graph (convolution weight and bias, PReLU slopes, linear weight and bias), in layer order and
/// with PyTorch's shapes, are matched against `stateDictSpec` of every configuration the shapes allow; each match is
/// a candidate. Shapes cannot tell everything (ReLU from LeakyReLU, 12 input channels from 3 channels unshuffled
/// by 2), so the caller confirms a candidate by running it beside the ncnn graph.
public protocol NCNNMappable: Architecture {
    /// Configurations whose non-buffer tensors could have `shapes`, in order; most plausible first.
    static func ncnnCandidates(_ shapes: [[Int]]) -> [Config]
}

/// One weighted tensor of an ncnn graph.
public struct NCNNWeight: Sendable {
    /// The ncnn layer it belongs to.
    public var layer: String
    public var tensor: Tensor
}

extension ArchitectureRegistry {
    /// The architectures an ncnn graph can be mapped to.
    public static let ncnnMappable: [any NCNNMappable.Type] = [RRDBNet.self, SRVGGNetCompact.self, SPAN.self, RealCUGAN.self]

    /// The weighted tensors of `graph` in layer order, shaped as PyTorch stores them.
    /// - Throws: `ModelsError.unsupported` for layers no mapped architecture has (grouped convolutions,
    ///   deconvolutions with output padding or dilation), naming the layer.
    public static func ncnnWeights(of graph: Graph) throws(ModelsError) -> [NCNNWeight] {
        var found: [NCNNWeight] = []
        func add(_ layer: String, _ dims: [Int], _ data: [Float]) {
            found.append(NCNNWeight(layer: layer, tensor: Tensor(dims: dims, data: data)))
        }
        for node in graph.nodes {
            switch node.op {
            case .conv2d(let c):
                guard c.groups == 1 else {
                    throw .unsupported(architecture: "ncnn graph",
                                       detail: "layer '\(node.name)' is a grouped convolution (\(c.groups) groups), which none of \(mappableNames) has")
                }
                found.append(NCNNWeight(layer: node.name, tensor: c.weight))
                if let b = c.bias { add(node.name, [b.count], b) }
                if case .prelu(let s)? = c.activation { add(node.name, [s.count], s) }
            case .activation(.prelu(let s)):
                add(node.name, [s.count], s)
            case .linear(let l):
                // Mapped networks use 1x1 convolutions on 1x1 maps here (Real-CUGAN's SE blocks): PyTorch's shape.
                add(node.name, l.weight.dims + [1, 1], l.weight.data)
                if let b = l.bias { add(node.name, [b.count], b) }
            case .deconv2d(let d):
                guard d.strideH == d.strideW, d.padding == .uniform(d.padding.top), d.outputPaddingH == 0,
                      d.outputPaddingW == 0, d.dilationH == 1, d.dilationW == 1 else {
                    throw .unsupported(architecture: "ncnn graph",
                                       detail: "layer '\(node.name)' is a deconvolution with output padding, dilation or uneven stride/padding, which none of \(mappableNames) has")
                }
                // PyTorch's ConvTranspose2d stores [in, out, kh, kw].
                found.append(NCNNWeight(layer: node.name, tensor: RealCUGAN.transposeInOut(d.weight)))
                if let b = d.bias { add(node.name, [b.count], b) }
            default:
                continue
            }
        }
        return found
    }

    static var mappableNames: String { ncnnMappable.map { $0.name }.joined(separator: ", ") }

    /// Every configuration of a mappable architecture whose state dict has the shapes of `weights`, in order, with
    /// the tensors under their PyTorch names; most plausible first. Empty when no architecture fits.
    public static func ncnnCandidates(_ weights: [NCNNWeight]) -> [DetectedModel] {
        let shapes = weights.map(\.tensor.dims)
        var found: [DetectedModel] = []
        for arch in ncnnMappable {
            found += candidates(arch, weights, shapes)
        }
        return found
    }

    private static func candidates<A: NCNNMappable>(_: A.Type, _ weights: [NCNNWeight], _ shapes: [[Int]]) -> [DetectedModel] {
        var found: [DetectedModel] = []
        for config in A.ncnnCandidates(shapes) {
            let spec = A.stateDictSpec(config).filter { !$0.isBuffer }
            guard spec.map(\.shape) == shapes else { continue }
            var dict = StateDict()
            for (s, w) in zip(spec, weights) { dict[s.key] = WeightTensor(w.tensor) }
            guard (try? validate(dict, against: A.stateDictSpec(config), architecture: A.name)) != nil else { continue }
            found.append(DetectedModel(architecture: A.self, config: config, weights: dict))
        }
        return found
    }
}

/// Shapes helpers for the candidate generators.
private extension Array where Element == [Int] {
    /// The 4-d (convolution weight) shapes.
    var kernels: [[Int]] { filter { $0.count == 4 } }
}

/// Input channel counts a first convolution with `inputs` channels can mean, with the pixel-unshuffle factor
/// that produced them; image channel counts (3, 1, 4) first.
private func unshuffleReadings(_ inputs: Int) -> [(channels: Int, unshuffle: Int)] {
    var list: [(channels: Int, unshuffle: Int)] = []
    for u in [1, 2, 4] where inputs % (u * u) == 0 { list.append((inputs / (u * u), u)) }
    let imageLike: Set = [3, 1, 4]
    return list.filter { imageLike.contains($0.channels) } + list.filter { !imageLike.contains($0.channels) }
}

extension RRDBNet: NCNNMappable {
    public static func ncnnCandidates(_ shapes: [[Int]]) -> [Config] {
        let k = shapes.kernels
        guard k.count >= 4, shapes.count > 2 else { return [] }
        let features = k[0][0], growth = k[1][0], out = k[k.count - 1][0]
        var configs: [Config] = []
        for upsamplings in [2, 1, 3] where (k.count - 4 - upsamplings) % 15 == 0 && k.count - 4 - upsamplings >= 0 {
            let blocks = (k.count - 4 - upsamplings) / 15
            for r in unshuffleReadings(k[0][1]) {
                configs.append(Config(inChannels: r.channels, outChannels: out, features: features, blocks: blocks,
                                      growth: growth, upsamplings: upsamplings, unshuffle: r.unshuffle))
            }
        }
        return configs
    }
}

extension SRVGGNetCompact: NCNNMappable {
    public static func ncnnCandidates(_ shapes: [[Int]]) -> [Config] {
        let k = shapes.kernels
        guard k.count >= 2 else { return [] }
        let inputs = k[0][1], features = k[0][0], last = k[k.count - 1][0]
        var configs: [Config] = []
        for out in outputReadings(inputs) {
            guard last % out == 0, let s = squareRoot(last / out) else { continue }
            for activation in [Config.ActivationType.prelu, .leakyRelu, .relu] {
                configs.append(Config(inChannels: inputs, outChannels: out, features: features,
                                      convolutions: k.count - 2, scale: s, activation: activation))
            }
        }
        return configs
    }
}

extension SPAN: NCNNMappable {
    /// ncnn SPAN exports keep only the re-parameterised `eval_conv` of each Conv3XC.
    public static func ncnnCandidates(_ shapes: [[Int]]) -> [Config] {
        let k = shapes.kernels
        guard k.count == 3 * blocks + 4 else { return [] }
        let inputs = k[0][1], features = k[0][0], last = k[k.count - 1][0]
        var configs: [Config] = []
        for out in outputReadings(inputs) {
            guard last % out == 0, let s = squareRoot(last / out) else { continue }
            configs.append(Config(inChannels: inputs, outChannels: out, features: features, scale: s, normalise: true,
                                  branches: false, evalConv: true))
        }
        return configs
    }
}

/// Output channel counts to try for a network with `inputs` input channels: the same first, then RGB, then gray.
private func outputReadings(_ inputs: Int) -> [Int] {
    var list: [Int] = []
    for c in [inputs, 3, 1] where !list.contains(c) { list.append(c) }
    return list
}

/// `n`'s integer square root when `n` is a positive perfect square.
private func squareRoot(_ n: Int) -> Int? {
    guard n > 0 else { return nil }
    var r = 1
    while r * r < n { r += 1 }
    return r * r == n ? r : nil
}

extension RealCUGAN: NCNNMappable {
    /// realcugan-ncnn-vulkan's "se" models: the base width from the first convolution, the scale from unet1's
    /// last deconvolution (4x4: x2, 5x5: x3) or a 12-output final convolution (x4).
    public static func ncnnCandidates(_ shapes: [[Int]]) -> [Config] {
        guard let first = shapes.first, first.count == 4, first[1] == 3 else { return [] }
        var configs: [Config] = []
        for scale in [2, 3, 4] { configs.append(Config(features: first[0], scale: scale)) }
        return configs
    }
}
