extension Graph {
    /// The graph with only the nodes the outputs depend on (value ids are renumbered, order kept).
    public func pruned() -> Graph {
        var needed = ancestors(of: outputs)
        // Inputs stay, so the executable's input list does not depend on what is used.
        for id in inputs { needed[id] = true }
        var out = Graph()
        var map = [ValueID](repeating: -1, count: nodes.count)
        for (id, node) in nodes.enumerated() where needed[id] {
            map[id] = out.add(node.op, node.inputs.map { map[$0] }, name: node.name)
        }
        out.outputs = outputs.map { map[$0] }
        return out
    }

    /// The graph with the given nodes turned into graph inputs of the same shape (their own inputs are dropped).
    /// Inputs are ordered by position, so replaced nodes follow the original inputs in topological order.
    public func replacingWithInputs(_ ids: [ValueID]) -> Graph {
        var copy = self
        for id in ids { copy.nodes[id] = Node(op: .input, inputs: [], name: nodes[id].name) }
        return copy
    }
}
