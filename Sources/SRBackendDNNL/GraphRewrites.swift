import SRCore

/// Backend-specific graph rewrites applied before lowering. Each preserves the graph's meaning exactly.
enum GraphRewrites {
    /// A transposed convolution whose kernel equals its stride (no padding, no dilation) scatters every input pixel
    /// into its own `k x k` output patch: it is a 1x1 convolution to `out * k * k` channels followed by a pixel
    /// shuffle. oneDNN runs that as a GEMM-like kernel plus one reorder, far faster than its backward-data
    /// deconvolution for these shapes (Real-CUGAN's 2x2/2 upsamplers: ~30x).
    static func deconvolutionAsShuffle(_ graph: Graph) -> Graph {
        var out = Graph()
        var map = [ValueID](repeating: -1, count: graph.nodes.count)
        for (id, node) in graph.nodes.enumerated() {
            let inputs = node.inputs.map { map[$0] }
            if case .deconv2d(let p) = node.op, p.kernelH == p.strideH, p.kernelW == p.strideW, p.kernelH == p.kernelW,
               p.padding == .zero, p.outputPaddingH == 0, p.outputPaddingW == 0, p.dilationH == 1, p.dilationW == 1 {
                let k = p.kernelH, oc = p.outChannels, ic = p.inChannels
                // W'[(o*k + ky)*k + kx][i] = W[o][i][ky][kx]
                var w = [Float](repeating: 0, count: oc * k * k * ic)
                for o in 0..<oc { for i in 0..<ic { for ky in 0..<k { for kx in 0..<k {
                    w[((o * k + ky) * k + kx) * ic + i] = p.weight.data[((o * ic + i) * k + ky) * k + kx]
                } } } }
                let bias = p.bias.map { b in (0..<(oc * k * k)).map { b[$0 / (k * k)] } }
                var activation = p.activation
                if case .prelu(let slopes)? = activation, slopes.count > 1 {
                    activation = .prelu(slopes: (0..<(oc * k * k)).map { slopes[$0 / (k * k)] })
                }
                let conv = Conv2d(weight: Tensor(dims: [oc * k * k, ic, 1, 1], data: w), bias: bias, activation: activation)
                let c = out.add(.conv2d(conv), inputs, name: node.name + ".gemm")
                map[id] = out.add(.pixelShuffle(factor: k, mode: .channelsFirst), [c], name: node.name)
            } else {
                map[id] = out.add(node.op, inputs, name: node.name)
            }
        }
        out.outputs = graph.outputs.map { map[$0] }
        return out
    }
}
