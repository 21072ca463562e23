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

extension GraphRewrites {
    /// Widens activations whose channel count is not a multiple of 16 (SPAN's 52 channels) to the next multiple,
    /// so their convolutions run oneDNN's blocked and Winograd kernels instead of its slower generic direct ones.
    ///
    /// A convolution producing such a value gets zero filters for the new channels; every convolution reading it
    /// gets zero weights for them; channel-wise ops (activations, binaries and weighted sums of values widened the
    /// same way, resizes, concatenations) carry the widened layout through. What the extra channels hold never
    /// reaches a result, since convolutions ignore them, so the rewrite is exact whatever the activations do to
    /// zeros. Values read by anything else (graph outputs, pixel shuffles, crops, pools, mixed binaries) stay as
    /// they are, with everything that would widen them.
    static func padChannels(_ graph: Graph, shapes: [Shape]) -> Graph {
        var roots = Set(graph.nodes.indices.filter { id in
            if case .conv2d(let c) = graph.nodes[id].op {
                c.groups == 1 && c.outChannels % 16 != 0 && c.outChannels >= 24 && !graph.outputs.contains(id)
            } else { false }
        })
        while true {
            let maps = channelMaps(graph, shapes: shapes, roots: roots)
            guard !roots.isEmpty else { return graph }
            var bad = Set<ValueID>()
            for (id, node) in graph.nodes.enumerated() {
                for v in node.inputs where maps[v] != nil && !carries(node, id, maps) { bad.insert(v) }
            }
            for v in graph.outputs where maps[v] != nil { bad.insert(v) }
            if bad.isEmpty { return rewrite(graph, shapes: shapes, maps: maps) }
            // Drop every root that feeds a value that cannot be widened, then try again.
            for v in bad { roots.subtract(feedingRoots(graph, v, roots: roots, maps: maps)) }
        }
    }

    /// Where each original channel of a widened value sits, and the widened count (nil: not widened).
    struct ChannelMap: Equatable {
        var positions: [Int]
        var count: Int
    }

    private static func channelMaps(_ graph: Graph, shapes: [Shape], roots: Set<ValueID>) -> [ChannelMap?] {
        var maps = [ChannelMap?](repeating: nil, count: graph.nodes.count)
        for (id, node) in graph.nodes.enumerated() {
            let ins = node.inputs.map { maps[$0] }
            // Opt-in: the ops listed carry a widening; any other op (new ones included) is not widened, so a widened
            // value it reads is left as it is (`carries`) — always correct.
            if case .conv2d(let c) = node.op, roots.contains(id) {
                maps[id] = ChannelMap(positions: Array(0..<c.outChannels), count: (c.outChannels + 15) / 16 * 16)
            } else if case .activation = node.op {
                maps[id] = ins[0]
            } else if case .resize = node.op {
                maps[id] = ins[0]
            } else if node.op.isBinaryOrSum {
                if let first = ins[0], ins.allSatisfy({ $0 == first }), node.inputs.allSatisfy({ shapes[$0] == shapes[id] }) {
                    maps[id] = first
                }
            } else if case .concat = node.op, ins.contains(where: { $0 != nil }) {
                var positions: [Int] = [], offset = 0
                for (v, m) in zip(node.inputs, ins) {
                    let m = m ?? ChannelMap(positions: Array(0..<shapes[v].c), count: shapes[v].c)
                    positions += m.positions.map { $0 + offset }
                    offset += m.count
                }
                maps[id] = ChannelMap(positions: positions, count: offset)
            }
        }
        return maps
    }

    /// Whether `node` reads its widened inputs correctly: it is widened the same way, or it is a convolution.
    private static func carries(_ node: Node, _ id: ValueID, _ maps: [ChannelMap?]) -> Bool {
        if case .conv2d(let c) = node.op { return c.groups == 1 }
        return maps[id] != nil
    }

    /// The roots whose widening reaches value `v`.
    private static func feedingRoots(_ graph: Graph, _ v: ValueID, roots: Set<ValueID>, maps: [ChannelMap?]) -> Set<ValueID> {
        var found = Set<ValueID>(), stack = [v], seen = Set<ValueID>()
        while let x = stack.popLast() {
            guard seen.insert(x).inserted, maps[x] != nil else { continue }
            if roots.contains(x) { found.insert(x); continue }
            stack += graph.nodes[x].inputs
        }
        return found
    }

    private static func rewrite(_ graph: Graph, shapes: [Shape], maps: [ChannelMap?]) -> Graph {
        var out = Graph()
        for (id, node) in graph.nodes.enumerated() {
            var op = node.op
            // Only convolutions and per-channel PReLU slopes change; everything else is carried through as it is.
            if case .conv2d(var c) = node.op, maps[id] != nil || maps[node.inputs[0]] != nil {
                // Only ungrouped convolutions are widened or read widened values (see `carries`).
                let inMap = maps[node.inputs[0]], outMap = maps[id]
                let o = c.outChannels, i = c.inChannels, k = c.kernelH * c.kernelW
                let newO = outMap?.count ?? o, newI = inMap?.count ?? i
                var w = [Float](repeating: 0, count: newO * newI * k)
                for oc in 0..<o {
                    let to = outMap?.positions[oc] ?? oc
                    for ic in 0..<i {
                        let ti = inMap?.positions[ic] ?? ic
                        for t in 0..<k { w[(to * newI + ti) * k + t] = c.weight.data[(oc * i + ic) * k + t] }
                    }
                }
                c.weight = Tensor(dims: [newO, newI, c.kernelH, c.kernelW], data: w)
                if let outMap {
                    c.bias = c.bias.map { b in spread(b, outMap) }
                    if case .prelu(let s)? = c.activation, s.count > 1 { c.activation = .prelu(slopes: spread(s, outMap)) }
                }
                op = .conv2d(c)
            } else if case .activation(.prelu(let s)) = node.op, s.count > 1, let m = maps[id] {
                op = .activation(.prelu(slopes: spread(s, m)))
            }
            out.add(op, node.inputs, name: node.name)
        }
        out.outputs = graph.outputs
        return out
    }

    /// Per-channel values at their widened positions (0 elsewhere).
    private static func spread(_ values: [Float], _ m: ChannelMap) -> [Float] {
        var v = [Float](repeating: 0, count: m.count)
        for (c, p) in m.positions.enumerated() { v[p] = values[c] }
        return v
    }
}

extension Op {
    /// An element-wise binary op or a weighted sum.
    var isBinaryOrSum: Bool {
        if case .binary = self { return true }
        if case .weightedSum = self { return true }
        return false
    }
}
