public import SRCore

/// Squeeze-excitation blocks (Real-CUGAN) pool a feature map over the whole input. Run tile by tile, every tile
/// would see its own statistics and tiles would disagree at their seams. This computes each pooled vector once for
/// the whole image — as the mean over all tiles, stage by stage, since later pools depend on earlier ones — and feeds
/// the shared values to every tile (what realcugan-ncnn-vulkan calls "syncgap").
struct SharedStatistics {
    /// The global-average-pool nodes, in topological order.
    let pools: [ValueID]
    /// `stages[k]`: the graph whose inputs are the image and pools `0..<k`, and whose output is pool `k`.
    let stages: [Graph]
    /// The graph whose inputs are the image and every pool, with the model's output.
    let final: Graph

    init?(graph: Graph) {
        let pools = graph.nodes.indices.filter {
            if case .pool(let p) = graph.nodes[$0].op { p.global && p.kind == .average } else { false }
        }
        guard !pools.isEmpty else { return nil }
        self.pools = pools
        stages = pools.indices.map { k in
            var g = graph.replacingWithInputs(Array(pools[..<k]))
            g.outputs = [pools[k]]
            return g.pruned()
        }
        final = graph.replacingWithInputs(pools).pruned()
    }
}
