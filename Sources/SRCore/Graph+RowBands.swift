/// A graph cut into a *head* and a row-local *tail*, so the tail can run band by band.
///
/// Upscalers such as RRDBNet end in convolutions at twice and four times the input resolution: realesrgan-x4plus on
/// a 276x276 window holds 64 x 552 x 552 maps at 2x and two 64 x 1104 x 1104 float maps (2 x 312 MB) at 4x, the peak
/// of the whole run. Those layers only look a few rows up and down, so they can run on horizontal bands of their
/// input with a few rows of context (the *halo*) and give exactly the whole-map result: the head runs once, the tail
/// once per band, and the tail's working memory shrinks from the whole maps to one band of them.
///
/// The cut is at the input of the earliest upsampling (a nearest resize or a pixel shuffle) after which everything
/// depends on that value alone, contains a convolution, and is row-local: stride-1 convolutions that keep the
/// height, activations, element-wise binaries and weighted sums, concatenations, integer nearest resizes and pixel
/// shuffles. Anything else (crops, pools, a second graph input such as a residual of the image) means no split there.
public struct RowBandSplit: Sendable {
    /// Graph inputs to the split value (its only output).
    public let head: Graph
    /// The split value (its only input) to the graph's output.
    public let tail: Graph
    /// Tail output rows per split-value row.
    public let rowScale: Int
    /// Split-value rows of context a band needs above and below it for exact results.
    public let halo: Int

    public init(head: Graph, tail: Graph, rowScale: Int, halo: Int) {
        self.head = head
        self.tail = tail
        self.rowScale = rowScale
        self.halo = halo
    }

    /// One band: rows `start ..< start + rows` of the split value, computed from window rows
    /// `windowStart ..< windowStart + windowRows`.
    public struct Band: Sendable, Equatable {
        public var start: Int, rows: Int
        public var windowStart: Int, windowRows: Int
    }

    /// The split of `graph`, or nil when it has no row-local tail worth banding.
    public static func find(_ graph: Graph) -> RowBandSplit? {
        guard graph.outputs.count == 1, graph.inputs.count == 1 else { return nil }
        let output = graph.outputs[0]
        let ancestors = graph.ancestors(of: [output])
        // The earliest upsampling whose input starts a row-local tail: everything from there on runs in bands.
        for upsample in graph.nodes.indices where ancestors[upsample] && isUpsampling(graph.nodes[upsample].op) {
            if let split = split(graph, at: graph.nodes[upsample].inputs[0], ancestors: ancestors) { return split }
        }
        return nil
    }

    /// The split at value `split`, if everything after it that the output needs is a row-local tail reading it alone.
    static func split(_ graph: Graph, at split: ValueID, ancestors: [Bool]) -> RowBandSplit? {
        if case .input = graph.nodes[split].op { return nil }
        let output = graph.outputs[0]
        let beforeSplit = graph.ancestors(of: [split])
        var inTail = [Bool](repeating: false, count: graph.nodes.count)
        var hasConvolution = false
        for id in graph.nodes.indices where ancestors[id] && !beforeSplit[id] {
            let node = graph.nodes[id]
            guard rowLocal(node.op) else { return nil }
            for i in node.inputs where !(inTail[i] || i == split) { return nil }
            if case .conv2d = node.op { hasConvolution = true }
            inTail[id] = true
        }
        guard hasConvolution else { return nil }

        var head = graph
        head.outputs = [split]
        head = head.pruned()

        var tail = Graph()
        var map = [ValueID](repeating: -1, count: graph.nodes.count)
        map[split] = tail.add(.input, [], name: graph.nodes[split].name)
        for id in graph.nodes.indices where inTail[id] {
            let node = graph.nodes[id]
            map[id] = tail.add(node.op, node.inputs.map { map[$0] }, name: node.name)
        }
        tail.outputs = [map[output]]

        // Row scale of each tail value relative to the split, then the context each value needs, output first.
        var scale = [Int](repeating: 1, count: tail.nodes.count)
        for (id, node) in tail.nodes.enumerated() where !node.inputs.isEmpty {
            scale[id] = scale[node.inputs[0]] * rowFactor(node.op)
        }
        var need = [Int](repeating: 0, count: tail.nodes.count)
        for id in tail.nodes.indices.reversed() {
            let node = tail.nodes[id]
            // Every tail op is row-local (`split` checks), so it has a row dependence.
            let rows = node.op.rowDependence ?? RowDependence()
            let needed = (need[id] + rows.scale - 1) / rows.scale + rows.context
            for i in node.inputs { need[i] = max(need[i], needed) }
        }
        return RowBandSplit(head: head, tail: tail, rowScale: scale[tail.outputs[0]], halo: need[0])
    }

    /// Bands of about `rows` rows covering `height` rows, each computed from a window of the same height
    /// (`rows + 2 * halo`, or the whole height when that is smaller) that slides inwards at the top and bottom — so
    /// every band sees real rows or the true border, exactly as the whole map does.
    public func bands(height: Int, rows: Int) -> [Band] {
        let rows = max(1, rows)
        let windowRows = min(height, rows + 2 * halo)
        var result: [Band] = []
        var start = 0
        while start < height {
            let n = min(rows, height - start)
            let windowStart = min(max(start - halo, 0), height - windowRows)
            result.append(Band(start: start, rows: n, windowStart: windowStart, windowRows: windowRows))
            start += n
        }
        return result
    }

    /// The tail's output for the whole split value: `tail` runs on each band's window (all of them `windowRows`
    /// high), and the band's own rows are kept.
    public func run(value: Tensor, bands: [Band], tail: (Tensor) throws -> Tensor) rethrows -> Tensor {
        let r = rowScale, h = value.shape.h
        var out: [Float] = []
        var shape = Shape(c: 0, h: 0, w: 0)
        for band in bands {
            let window = value.cropped(y: band.windowStart, x: 0, height: band.windowRows, width: value.shape.w)
            let y = try tail(window)
            if out.isEmpty {
                shape = Shape(c: y.shape.c, h: h * r, w: y.shape.w)
                out = [Float](repeating: 0, count: shape.count)
            }
            let skip = (band.start - band.windowStart) * r, rows = band.rows * r, w = y.shape.w
            y.data.withUnsafeBufferPointer { src in
                out.withUnsafeMutableBufferPointer { dst in
                    for c in 0..<y.shape.c {
                        let from = (c * y.shape.h + skip) * w, to = (c * shape.h + band.start * r) * w
                        dst.baseAddress!.advanced(by: to).update(from: src.baseAddress!.advanced(by: from), count: rows * w)
                    }
                }
            }
        }
        return Tensor(shape: shape, data: out)
    }

    static func isUpsampling(_ op: Op) -> Bool { (op.rowDependence?.scale ?? 1) > 1 }

    static func rowLocal(_ op: Op) -> Bool { op.rowDependence != nil }

    static func rowFactor(_ op: Op) -> Int { op.rowDependence?.scale ?? 1 }
}

extension Graph {
    /// Whether each value is one of `values` or one of the values they are computed from.
    func ancestors(of values: [ValueID]) -> [Bool] {
        var marked = [Bool](repeating: false, count: nodes.count)
        var stack = values
        while let v = stack.popLast() {
            guard !marked[v] else { continue }
            marked[v] = true
            stack.append(contentsOf: nodes[v].inputs)
        }
        return marked
    }
}
