extension Graph {
    /// Multiply-accumulates of every op (`Op.multiplyAccumulates`) for these input shapes: the work figure behind
    /// GFLOP/s (2 FLOP per MAC).
    public func multiplyAccumulates(inputs: [Shape]) throws(GraphError) -> Int {
        let shapes = try inferShapes(inputs: inputs)
        var total = 0
        for (id, node) in nodes.enumerated() {
            total += node.op.multiplyAccumulates(inputs: node.inputs.map { shapes[$0] }, output: shapes[id])
        }
        return total
    }
}
