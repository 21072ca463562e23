extension Graph {
    /// Multiply-accumulates of the convolutions, transposed convolutions, linear layers and matrix products for these input
    /// shapes: the work figure behind GFLOP/s (2 FLOP per MAC).
    public func multiplyAccumulates(inputs: [Shape]) throws(GraphError) -> Int {
        let shapes = try inferShapes(inputs: inputs)
        var total = 0
        for (id, node) in nodes.enumerated() {
            let out = shapes[id]
            switch node.op {
            case .conv2d(let p):
                total += out.count * (p.inChannels / p.groups) * p.kernelH * p.kernelW
            case .deconv2d(let p):
                let input = shapes[node.inputs[0]]
                total += input.count * p.outChannels * p.kernelH * p.kernelW
            case .linear(let l):
                total += out.count * l.inFeatures
            case .matmul:
                total += out.count * shapes[node.inputs[0]][-1]
            case .input, .constant, .activation, .binary, .weightedSum, .concat, .crop, .pixelShuffle,
                 .pixelUnshuffle, .resize, .pool, .batchNorm, .layerNorm, .softmax, .reshape, .permute, .roll, .windowPartition,
                 .windowReverse, .slice, .convert:
                break   // no multiply-accumulates counted (memory-bound or negligible)
            }
        }
        return total
    }
}
