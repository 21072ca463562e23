internal import CDNNL
import SRCore

/// The rank-N ops of transformer models: matrix products, normalisations over the last axis, and the data movement
/// between image and token layouts. All of them read and write row-major (plain) memory of the value's own element
/// type; data movement is one oneDNN reorder between strided views of the same bytes.
extension DNNLCompiler {
    // MARK: - Matrix products

    /// Batched `a · b` (or `a · bᵀ` through a transposed strided view), scaled by an output scale.
    mutating func lowerMatMul(_ id: ValueID, _ m: MatMul) throws {
        let node = graph.nodes[id]
        let a = node.inputs[0], b = node.inputs[1]
        let sa = shapes[a], sb = shapes[b], so = shapes[id]
        let rank = so.rank
        // oneDNN multiplies operands of one rank: leading ones broadcast the batch axes.
        let da = [Int](repeating: 1, count: rank - sa.rank) + sa.dims
        let db = [Int](repeating: 1, count: rank - sb.rank) + sb.dims
        let type = MD.type(so.elementType)
        let (refA, _) = try useRef(a, as: try MD.plain(sa))
        let (refB, _) = try useRef(b, as: try MD.plain(sb))
        var aDesc = try MD.tagged(da, MD.plainTag(rank: rank), type)
        var bDesc: dnnl_memory_desc_t
        if m.transposeB {
            // b is [..., n, k] in memory; the primitive reads it as [..., k, n] with swapped strides.
            var strides = Shape.rowMajorStrides(db)
            var dims = db
            dims.swapAt(rank - 1, rank - 2)
            strides.swapAt(rank - 1, rank - 2)
            bDesc = try MD.strided(dims, strides: strides, type)
        } else {
            bDesc = try MD.tagged(db, MD.plainTag(rank: rank), type)
        }
        var dDesc = try MD.plain(so)
        var desc = dnnl_matmul_desc_t()
        try check(dnnl_matmul_desc_init(&desc, &aDesc, &bDesc, nil, &dDesc), "dnnl_matmul_desc_init(\(node.name))")
        let attr = try PrimitiveAttributes()
        if m.scale != 1 { try attr.setOutputScale(m.scale) }
        try attr.commit()
        guard let pd = try? withUnsafePointer(to: &desc, { try PrimitiveDescriptor(op: $0, attributes: attr, name: node.name) }) else {
            return try lowerReference(id)
        }
        let srcA = view(refA, aDesc), srcB = view(refB, bDesc)
        let dst = output(id, dDesc)
        try emit(pd, name: node.name, args: [(DNNL_ARG_SRC, srcA), (DNNL_ARG_WEIGHTS, srcB), (DNNL_ARG_DST, dst)])
    }

    /// A linear layer as a matrix product: `[rows, in] · Wᵀ + bias` with its activation as a post-op, where rows are
    /// every last-axis vector (`.lastAxis`) or every flattened sample (`.flattened` on a value that is not an NCHW
    /// image).
    mutating func lowerLinearRows(_ id: ValueID, _ l: Linear) throws {
        let node = graph.nodes[id]
        let x = node.inputs[0]
        let so = shapes[id]
        let rows = shapes[x].count / l.inFeatures
        let type = MD.type(so.elementType)
        let (refX, _) = try useRef(x, as: try MD.plain(shapes[x]))
        var src = try MD.tagged([rows, l.inFeatures], dnnl_ab, type)
        // W is [out, in] row-major: read as [in, out] with swapped strides (weights stay f32 unless the value is bf16).
        let wPlain = try MD.tagged([l.inFeatures, l.outFeatures], dnnl_ba, dnnl_f32)
        var weightsDesc = try MD.tagged([l.inFeatures, l.outFeatures], dnnl_ba, type)
        var biasDesc = try MD.tagged([1, l.outFeatures], dnnl_ab, dnnl_f32)
        var dst = try MD.tagged([rows, l.outFeatures], dnnl_ab, type)
        var desc = dnnl_matmul_desc_t()
        try check(l.bias == nil ? dnnl_matmul_desc_init(&desc, &src, &weightsDesc, nil, &dst)
                                : dnnl_matmul_desc_init(&desc, &src, &weightsDesc, &biasDesc, &dst),
                  "dnnl_matmul_desc_init(\(node.name))")
        let attr = try PrimitiveAttributes()
        if let a = l.activation {
            guard case .eltwise(let alg, let alpha, let beta) = PostOp(a) else { return try lowerReference(id) }
            try attr.appendEltwise(alg, alpha: alpha, beta: beta)
        }
        try attr.commit()
        guard let pd = try? withUnsafePointer(to: &desc, { try PrimitiveDescriptor(op: $0, attributes: attr, name: node.name) }) else {
            return try lowerReference(id)
        }
        let weightsMemory = try weights(l.weight.data, plain: wPlain, wanted: weightsDesc)
        var args: [(Int32, Memory)] = [(DNNL_ARG_SRC, view(refX, src)), (DNNL_ARG_WEIGHTS, weightsMemory)]
        if let bias = l.bias { args.append((DNNL_ARG_BIAS, try permanentMemory(biasDesc, data: bias))) }
        _ = output(id, try MD.plain(so))
        args.append((DNNL_ARG_DST, view(.value(id), dst)))
        try emit(pd, name: node.name, args: args)
    }

    // MARK: - Normalisation over an axis

    mutating func lowerLayerNorm(_ id: ValueID, _ p: LayerNorm) throws {
        let node = graph.nodes[id]
        let x = node.inputs[0]
        let src = try use(x, as: try MD.plain(shapes[x]))
        var data = src.desc
        var desc = dnnl_layer_normalization_desc_t()
        try check(dnnl_layer_normalization_forward_desc_init(&desc, dnnl_forward_inference, &data, nil, p.epsilon,
                                                             dnnl_use_scale.rawValue | dnnl_use_shift.rawValue),
                  "dnnl_layer_normalization_forward_desc_init(\(node.name))")
        let attr = try PrimitiveAttributes()
        try attr.commit()
        let pd = try withUnsafePointer(to: &desc) { try PrimitiveDescriptor(op: $0, attributes: attr, name: node.name) }
        let vector = try MD.tagged([p.features], dnnl_a)
        let scale = try permanentMemory(vector, data: p.gamma), shift = try permanentMemory(vector, data: p.beta)
        let dst = output(id, src.desc, inPlaceOf: x)
        try emit(pd, name: node.name, args: [(DNNL_ARG_SRC, src), (DNNL_ARG_DST, dst), (DNNL_ARG_SCALE, scale),
                                             (DNNL_ARG_SHIFT, shift)])
    }

    mutating func lowerSoftmax(_ id: ValueID, axis: Int) throws {
        let node = graph.nodes[id]
        let x = node.inputs[0]
        let src = try use(x, as: try MD.plain(shapes[x]))
        var s = src.desc, d = src.desc
        var desc = dnnl_softmax_v2_desc_t()
        try check(dnnl_softmax_v2_forward_desc_init(&desc, dnnl_forward_inference, dnnl_softmax_accurate, &s, &d,
                                                    Int32(shapes[x].normalised(axis))),
                  "dnnl_softmax_v2_forward_desc_init(\(node.name))")
        let attr = try PrimitiveAttributes()
        try attr.commit()
        let pd = try withUnsafePointer(to: &desc) { try PrimitiveDescriptor(op: $0, attributes: attr, name: node.name) }
        let dst = output(id, src.desc, inPlaceOf: x)
        try emit(pd, name: node.name, args: [(DNNL_ARG_SRC, src), (DNNL_ARG_DST, dst)])
    }

    // MARK: - Data movement between layouts

    /// Copies value `x` into a new plain value `id`, reading it through `source` (a view of x's row-major bytes with
    /// the output's dimensions and strides of its own) and writing through `destination` (nil: the output's plain
    /// layout).
    private mutating func strided(_ id: ValueID, from x: ValueID, source: (dnnl_data_type_t) throws -> dnnl_memory_desc_t,
                                  destination: ((dnnl_data_type_t) throws -> dnnl_memory_desc_t)? = nil) throws {
        let (ref, _) = try useRef(x, as: try MD.plain(shapes[x]))
        let type = MD.type(shapes[x].elementType)
        let srcView = view(ref, try source(type))
        let dst = output(id, try MD.plain(shapes[id]))
        let target = try destination.map { view(.value(id), try $0(MD.type(shapes[id].elementType))) } ?? dst
        try reorder(from: srcView, to: target, name: graph.nodes[id].name)
    }

    /// Reshape and element-type conversion: the same values in row-major order.
    mutating func lowerRowMajorCopy(_ id: ValueID) throws {
        let dims = shapes[id].dims
        try strided(id, from: graph.nodes[id].inputs[0]) { try MD.tagged(dims, MD.plainTag(rank: dims.count), $0) }
    }

    mutating func lowerPermute(_ id: ValueID, _ p: Permute) throws {
        let x = graph.nodes[id].inputs[0]
        let inStrides = Shape.rowMajorStrides(shapes[x].dims)
        let dims = shapes[id].dims
        try strided(id, from: x) { try MD.strided(dims, strides: p.order.map { inStrides[$0] }, $0) }
    }

    /// `[n, h, w, c]` as the 6-D view `[n, h/s, w/s, s, s, c]` (window-major), over the image's own bytes.
    private static func windowView(image: Shape, size s: Int, _ type: dnnl_data_type_t) throws -> dnnl_memory_desc_t {
        let (n, h, w, c) = (image.dims[0], image.dims[1], image.dims[2], image.dims[3])
        return try MD.strided([n, h / s, w / s, s, s, c], strides: [h * w * c, s * w * c, s * c, w * c, c, 1], type)
    }

    private static func windowsPlain(image: Shape, size s: Int, _ type: dnnl_data_type_t) throws -> dnnl_memory_desc_t {
        let (n, h, w, c) = (image.dims[0], image.dims[1], image.dims[2], image.dims[3])
        return try MD.tagged([n, h / s, w / s, s, s, c], dnnl_abcdef, type)
    }

    mutating func lowerWindowPartition(_ id: ValueID, size: Int) throws {
        let x = graph.nodes[id].inputs[0]
        let image = shapes[x]
        try strided(id, from: x, source: { try Self.windowView(image: image, size: size, $0) },
                    destination: { try Self.windowsPlain(image: image, size: size, $0) })
    }

    mutating func lowerWindowReverse(_ id: ValueID, size: Int) throws {
        let x = graph.nodes[id].inputs[0]
        let image = shapes[id]
        try strided(id, from: x, source: { try Self.windowsPlain(image: image, size: size, $0) },
                    destination: { try Self.windowView(image: image, size: size, $0) })
    }

    mutating func lowerSlice(_ id: ValueID, _ p: Slice) throws {
        let x = graph.nodes[id].inputs[0]
        let s = shapes[x], axis = s.normalised(p.axis)
        var strides = Shape.rowMajorStrides(s.dims)
        let offset = p.start * strides[axis]
        strides[axis] *= p.step
        let dims = shapes[id].dims
        try strided(id, from: x) { type in
            var d = try MD.strided(dims, strides: strides, type)
            d.offset0 = Int64(offset)
            return d
        }
    }

    /// `torch.roll` as up to two block copies per rolled axis (4 for Swin's two spatial axes).
    mutating func lowerRoll(_ id: ValueID, _ r: Roll) throws {
        let x = graph.nodes[id].inputs[0]
        let s = shapes[x]
        var shift = [Int](repeating: 0, count: s.rank)
        for (k, a) in zip(r.shifts, r.axes) { shift[s.normalised(a)] += k }
        // Per axis: (source start, destination start, length) of each contiguous run.
        let runs: [[(Int, Int, Int)]] = (0..<s.rank).map { a in
            let n = s.dims[a], k = ((shift[a] % n) + n) % n
            return k == 0 ? [(0, 0, n)] : [(0, k, n - k), (n - k, 0, k)]
        }
        let (ref, source) = try useRef(x, as: try MD.plain(s))
        let dst = output(id, try MD.plain(shapes[id]))
        var blocks: [[(Int, Int, Int)]] = [[]]
        for axisRuns in runs { blocks = blocks.flatMap { prefix in axisRuns.map { prefix + [$0] } } }
        for block in blocks {
            let dims = block.map(\.2)
            let from = view(ref, try MD.submemory(source.desc, dims: dims, offsets: block.map(\.0)))
            let to = view(.value(id), try MD.submemory(dst.desc, dims: dims, offsets: block.map(\.1)))
            try reorder(from: from, to: to, name: graph.nodes[id].name)
        }
    }
}
