internal import CDNNL

/// Convolution forward, backward-data and backward-weights through oneDNN fp32 primitives, created once per shape
/// and cached. Tensors stay in plain NCHW/OIHW (the same arrays the rest of the tape uses); oneDNN picks its
/// kernels for those layouts (jit/brgemm with internal transposes where it has them).
public final class DNNLConvolution: ConvolutionEngine {
    struct Key: Hashable {
        var input: [Int], weights: [Int], stride: Int, padding: Int, bias: Bool
    }

    enum Pass: Hashable { case forward, backwardData, backwardWeights }

    final class Primitives {
        var forward: dnnl_primitive_t?
        var backwardData: dnnl_primitive_t?
        var backwardWeights: dnnl_primitive_t?
        var src = dnnl_memory_desc_t(), weights = dnnl_memory_desc_t(), bias = dnnl_memory_desc_t()
        var dst = dnnl_memory_desc_t()
        var forwardDesc: dnnl_primitive_desc_t?
        /// Implementation names oneDNN chose (forward, backward data, backward weights), for benchmarks.
        var implementations: [String] = []
        /// The layout each primitive chose for each argument.
        var chosen: [Pass: [Int32: dnnl_memory_desc_t]] = [:]
        deinit {
            for p in [forward, backwardData, backwardWeights] { if let p { dnnl_primitive_destroy(p) } }
            if let forwardDesc { dnnl_primitive_desc_destroy(forwardDesc) }
        }
    }

    private var engine: dnnl_engine_t?
    private var stream: dnnl_stream_t?
    private var cache: [Key: Primitives] = [:]

    public init() throws {
        try check(dnnl_engine_create(&engine, dnnl_cpu, 0), "dnnl_engine_create")
        try check(dnnl_stream_create(&stream, engine, dnnl_stream_default_flags.rawValue), "dnnl_stream_create")
    }

    deinit {
        cache.removeAll()
        if let stream { dnnl_stream_destroy(stream) }
        if let engine { dnnl_engine_destroy(engine) }
    }

    /// The implementations oneDNN picked for each cached shape (e.g. `brgconv:avx512_core`).
    public var implementations: [String] { cache.values.flatMap(\.implementations) }

    private func check(_ status: dnnl_status_t, _ call: String) throws {
        guard status == dnnl_success else {
            throw TrainError.library(call: call, status: Int(status.rawValue))
        }
    }

    private func md(_ dims: [Int], _ tag: dnnl_format_tag_t) throws -> dnnl_memory_desc_t {
        var m = dnnl_memory_desc_t()
        let d = dims.map { Int64($0) }
        try check(dnnl_memory_desc_init_by_tag(&m, Int32(d.count), d, dnnl_f32, tag), "dnnl_memory_desc_init_by_tag")
        return m
    }

    private func implementation(_ pd: dnnl_primitive_desc_t) -> String {
        var name: UnsafePointer<CChar>?
        dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &name)
        return name.map { String(cString: $0) } ?? "?"
    }

    private func primitives(_ key: Key, output o: TShape) throws -> Primitives {
        if let p = cache[key] { return p }
        let p = Primitives()
        p.src = try md(key.input, dnnl_nchw)
        p.weights = try md(key.weights, dnnl_oihw)
        p.bias = try md([key.weights[0]], dnnl_x)
        p.dst = try md([o.n, o.c, o.h, o.w], dnnl_nchw)
        // oneDNN's fast kernels want blocked layouts: describe with `any`, reorder at the boundary.
        var anySrc = try md(key.input, dnnl_format_tag_any), anyWeights = try md(key.weights, dnnl_format_tag_any)
        var anyDst = try md([o.n, o.c, o.h, o.w], dnnl_format_tag_any)
        let strides: [Int64] = [Int64(key.stride), Int64(key.stride)]
        let pads: [Int64] = [Int64(key.padding), Int64(key.padding)]
        let alg = dnnl_convolution_direct
        // Forward (training: it is the hint of both backward primitives).
        var fd = dnnl_convolution_desc_t()
        let biasDesc = p.bias
        try withBias(key.bias ? biasDesc : nil) { bp in
            try check(dnnl_convolution_forward_desc_init(&fd, dnnl_forward_training, alg, &anySrc, &anyWeights,
                                                         bp, &anyDst, strides, pads, pads),
                      "dnnl_convolution_forward_desc_init")
        }
        try check(dnnl_primitive_desc_create(&p.forwardDesc, &fd, nil, engine, nil), "dnnl_primitive_desc_create(forward)")
        try check(dnnl_primitive_create(&p.forward, p.forwardDesc), "dnnl_primitive_create(forward)")
        p.implementations.append(implementation(p.forwardDesc!))
        p.chosen[.forward] = [DNNL_ARG_SRC: query(p.forwardDesc!, dnnl_query_src_md),
                              DNNL_ARG_WEIGHTS: query(p.forwardDesc!, dnnl_query_weights_md),
                              DNNL_ARG_DST: query(p.forwardDesc!, dnnl_query_dst_md)]
        // Backward data.
        var bd = dnnl_convolution_desc_t()
        try check(dnnl_convolution_backward_data_desc_init(&bd, alg, &anySrc, &anyWeights, &anyDst, strides, pads, pads),
                  "dnnl_convolution_backward_data_desc_init")
        var bdp: dnnl_primitive_desc_t?
        try check(dnnl_primitive_desc_create(&bdp, &bd, nil, engine, p.forwardDesc), "dnnl_primitive_desc_create(backward data)")
        defer { dnnl_primitive_desc_destroy(bdp) }
        try check(dnnl_primitive_create(&p.backwardData, bdp), "dnnl_primitive_create(backward data)")
        p.implementations.append(implementation(bdp!))
        p.chosen[.backwardData] = [DNNL_ARG_DIFF_SRC: query(bdp!, dnnl_query_diff_src_md),
                                   DNNL_ARG_WEIGHTS: query(bdp!, dnnl_query_weights_md),
                                   DNNL_ARG_DIFF_DST: query(bdp!, dnnl_query_diff_dst_md)]
        // Backward weights.
        var bw = dnnl_convolution_desc_t()
        try withBias(key.bias ? biasDesc : nil) { bp in
            try check(dnnl_convolution_backward_weights_desc_init(&bw, alg, &anySrc, &anyWeights, bp,
                                                                  &anyDst, strides, pads, pads),
                      "dnnl_convolution_backward_weights_desc_init")
        }
        var bwp: dnnl_primitive_desc_t?
        try check(dnnl_primitive_desc_create(&bwp, &bw, nil, engine, p.forwardDesc), "dnnl_primitive_desc_create(backward weights)")
        defer { dnnl_primitive_desc_destroy(bwp) }
        try check(dnnl_primitive_create(&p.backwardWeights, bwp), "dnnl_primitive_create(backward weights)")
        p.implementations.append(implementation(bwp!))
        p.chosen[.backwardWeights] = [DNNL_ARG_SRC: query(bwp!, dnnl_query_src_md),
                                      DNNL_ARG_DIFF_WEIGHTS: query(bwp!, dnnl_query_diff_weights_md),
                                      DNNL_ARG_DIFF_DST: query(bwp!, dnnl_query_diff_dst_md)]
        cache[key] = p
        return p
    }

    private func withBias(_ desc: dnnl_memory_desc_t?, _ body: (UnsafePointer<dnnl_memory_desc_t>?) throws -> Void) throws {
        if var d = desc { try withUnsafePointer(to: &d) { try body($0) } } else { try body(nil) }
    }

    private func query(_ pd: dnnl_primitive_desc_t, _ what: dnnl_query_t) -> dnnl_memory_desc_t {
        dnnl_primitive_desc_query_md(pd, what, 0).pointee
    }

    /// A memory object over `pointer`, or owning a new buffer (DNNL_MEMORY_ALLOCATE) when it is nil.
    private func memory(_ desc: dnnl_memory_desc_t, _ pointer: UnsafeMutableRawPointer?) throws -> dnnl_memory_t? {
        var d = desc
        var m: dnnl_memory_t?
        try check(dnnl_memory_create(&m, &d, engine, pointer ?? UnsafeMutableRawPointer(bitPattern: -1)), "dnnl_memory_create")
        return m
    }

    private func reorder(_ from: dnnl_memory_t?, _ fromDesc: dnnl_memory_desc_t, _ to: dnnl_memory_t?,
                         _ toDesc: dnnl_memory_desc_t) throws {
        var a = fromDesc, b = toDesc
        var pd: dnnl_primitive_desc_t?
        try check(dnnl_reorder_primitive_desc_create(&pd, &a, engine, &b, engine, nil), "dnnl_reorder_primitive_desc_create")
        defer { dnnl_primitive_desc_destroy(pd) }
        var r: dnnl_primitive_t?
        try check(dnnl_primitive_create(&r, pd), "dnnl_primitive_create(reorder)")
        defer { dnnl_primitive_destroy(r) }
        let args = [dnnl_exec_arg_t(arg: DNNL_ARG_FROM, memory: from), dnnl_exec_arg_t(arg: DNNL_ARG_TO, memory: to)]
        try check(dnnl_primitive_execute(r, stream, 2, args), "dnnl_primitive_execute(reorder)")
    }

    /// Runs `primitive` with each argument bound to the given plain buffer, reordering into and out of the layouts
    /// the primitive chose (`outputs` are the arguments it writes).
    private func execute(_ primitive: dnnl_primitive_t?, _ chosen: [Int32: dnnl_memory_desc_t],
                         _ args: [(Int32, dnnl_memory_desc_t, UnsafeMutableRawPointer)], outputs: Set<Int32>) throws {
        var memories: [dnnl_memory_t?] = []
        defer { for m in memories { dnnl_memory_destroy(m) } }
        var execArgs: [dnnl_exec_arg_t] = []
        var writeBack: [(dnnl_memory_t?, dnnl_memory_desc_t, dnnl_memory_t?, dnnl_memory_desc_t)] = []
        for (arg, desc, pointer) in args {
            let user = try memory(desc, pointer)
            memories.append(user)
            guard var want = chosen[arg] else {
                execArgs.append(dnnl_exec_arg_t(arg: arg, memory: user))
                continue
            }
            var have = desc
            if dnnl_memory_desc_equal(&have, &want) != 0 {
                execArgs.append(dnnl_exec_arg_t(arg: arg, memory: user))
                continue
            }
            let inner = try memory(want, nil)
            memories.append(inner)
            if outputs.contains(arg) { writeBack.append((inner, want, user, desc)) } else { try reorder(user, desc, inner, want) }
            execArgs.append(dnnl_exec_arg_t(arg: arg, memory: inner))
        }
        try check(dnnl_primitive_execute(primitive, stream, Int32(execArgs.count), execArgs), "dnnl_primitive_execute")
        for (from, fromDesc, to, toDesc) in writeBack { try reorder(from, fromDesc, to, toDesc) }
        try check(dnnl_stream_wait(stream), "dnnl_stream_wait")
    }

    private func key(_ input: TShape, _ w: TShape, _ stride: Int, _ padding: Int, _ bias: Bool) -> Key {
        Key(input: [input.n, input.c, input.h, input.w], weights: [w.n, w.c, w.h, w.w], stride: stride,
            padding: padding, bias: bias)
    }

    public func forward(x: Variable, w: Variable, b: Variable?, stride: Int, padding: Int, output o: TShape) throws -> [Float] {
        let p = try primitives(key(x.shape, w.shape, stride, padding, b != nil), output: o)
        var y = [Float](repeating: 0, count: o.count)
        try x.data.withUnsafeMutableBytes { xs in
            try w.data.withUnsafeMutableBytes { ws in
                try y.withUnsafeMutableBytes { ys in
                    var args = [(DNNL_ARG_SRC, p.src, xs.baseAddress!), (DNNL_ARG_WEIGHTS, p.weights, ws.baseAddress!),
                                (DNNL_ARG_DST, p.dst, ys.baseAddress!)]
                    if let b {
                        try b.data.withUnsafeMutableBytes { bs in
                            args.append((DNNL_ARG_BIAS, p.bias, bs.baseAddress!))
                            try execute(p.forward, p.chosen[.forward]!, args, outputs: [DNNL_ARG_DST])
                        }
                    } else {
                        try execute(p.forward, p.chosen[.forward]!, args, outputs: [DNNL_ARG_DST])
                    }
                }
            }
        }
        return y
    }

    public func backwardData(dy: [Float], w: Variable, input: TShape, output o: TShape, stride: Int,
                             padding: Int) throws -> [Float] {
        // Backward data has no bias: reuse the primitives the forward pass of this shape created, with or without one.
        let withoutBias = key(input, w.shape, stride, padding, false)
        let p = try primitives(cache[withoutBias] != nil ? withoutBias : key(input, w.shape, stride, padding, true), output: o)
        var dx = [Float](repeating: 0, count: input.count)
        var g = dy
        try g.withUnsafeMutableBytes { gs in
            try w.data.withUnsafeMutableBytes { ws in
                try dx.withUnsafeMutableBytes { xs in
                    try execute(p.backwardData, p.chosen[.backwardData]!,
                                [(DNNL_ARG_DIFF_DST, p.dst, gs.baseAddress!), (DNNL_ARG_WEIGHTS, p.weights, ws.baseAddress!),
                                 (DNNL_ARG_DIFF_SRC, p.src, xs.baseAddress!)], outputs: [DNNL_ARG_DIFF_SRC])
                }
            }
        }
        return dx
    }

    public func backwardWeights(x: Variable, dy: [Float], weights: TShape, bias: Bool, output o: TShape, stride: Int,
                                padding: Int) throws -> (dw: [Float], db: [Float]?) {
        let p = try primitives(key(x.shape, weights, stride, padding, bias), output: o)
        var dw = [Float](repeating: 0, count: weights.count)
        var db = [Float](repeating: 0, count: bias ? weights.n : 0)
        var g = dy
        try g.withUnsafeMutableBytes { gs in
            try x.data.withUnsafeMutableBytes { xs in
                try dw.withUnsafeMutableBytes { ws in
                    try db.withUnsafeMutableBytes { bs in
                        var args = [(DNNL_ARG_SRC, p.src, xs.baseAddress!), (DNNL_ARG_DIFF_DST, p.dst, gs.baseAddress!),
                                    (DNNL_ARG_DIFF_WEIGHTS, p.weights, ws.baseAddress!)]
                        if bias { args.append((DNNL_ARG_DIFF_BIAS, p.bias, bs.baseAddress!)) }
                        try execute(p.backwardWeights, p.chosen[.backwardWeights]!, args,
                                    outputs: [DNNL_ARG_DIFF_WEIGHTS, DNNL_ARG_DIFF_BIAS])
                    }
                }
            }
        }
        return (dw, bias ? db : nil)
    }
}
