internal import CDNNL
public import SRCore
import SRBackendReference

/// Convolution forward-training, backward-data and backward-weights through oneDNN fp32 primitives, created once per
/// shape and cached: the fast `GradientKernels`. Tensors stay in plain NCHW/OIHW (the arrays the tape uses); oneDNN
/// picks its kernels for those layouts through `format_tag_any` and the arguments are reordered at the boundary.
/// Grouped convolutions (1x1 normalisations) run the reference loops.
public final class DNNLGradientKernels: GradientKernels {
    struct Key: Hashable {
        var input: [Int], weights: [Int], stride: [Int], dilation: [Int], padL: [Int], padR: [Int], bias: Bool
    }

    enum Pass: Hashable { case forward, backwardData, backwardWeights }

    final class Primitives {
        var forward: Primitive?, backwardData: Primitive?, backwardWeights: Primitive?
        var forwardDesc: PrimitiveDescriptor?
        var src = dnnl_memory_desc_t(), weights = dnnl_memory_desc_t(), bias = dnnl_memory_desc_t()
        var dst = dnnl_memory_desc_t()
        /// Implementation names oneDNN chose (forward, backward data, backward weights), for benchmarks.
        var implementations: [String] = []
        /// The layout each primitive chose for each argument.
        var chosen: [Pass: [Int32: dnnl_memory_desc_t]] = [:]
    }

    private var cache: [Key: Primitives] = [:]
    private let fallback = ReferenceGradientKernels()
    private var engine: dnnl_engine_t { DNNLContext.shared.engine }
    private var stream: dnnl_stream_t { DNNLContext.shared.stream }

    public init() {}

    /// The implementations oneDNN picked for each cached shape (e.g. `brgconv:avx512_core`).
    public var implementations: [String] { cache.values.flatMap(\.implementations) }

    private func md(_ dims: [Int], _ tag: dnnl_format_tag_t) throws -> dnnl_memory_desc_t {
        var m = dnnl_memory_desc_t()
        let d = dims.map { Int64($0) }
        try check(dnnl_memory_desc_init_by_tag(&m, Int32(d.count), d, dnnl_f32, tag), "dnnl_memory_desc_init_by_tag")
        return m
    }

    private func key(_ input: Shape, _ p: Conv2d, bias: Bool) -> Key {
        Key(input: input.dims, weights: p.weight.dims, stride: [p.strideH, p.strideW],
            dilation: [p.dilationH - 1, p.dilationW - 1], padL: [p.padding.top, p.padding.left],
            padR: [p.padding.bottom, p.padding.right], bias: bias)
    }

    private func create(_ d: UnsafeRawPointer, hint: PrimitiveDescriptor?, _ name: String) throws -> PrimitiveDescriptor {
        var pd: dnnl_primitive_desc_t?
        try check(dnnl_primitive_desc_create(&pd, d, nil, engine, hint?.handle), "dnnl_primitive_desc_create(\(name))")
        return PrimitiveDescriptor(pd!)
    }

    private func primitives(_ key: Key, output o: Shape) throws -> Primitives {
        if let p = cache[key] { return p }
        let p = Primitives()
        p.src = try md(key.input, dnnl_nchw)
        p.weights = try md(key.weights, dnnl_oihw)
        p.bias = try md([key.weights[0]], dnnl_x)
        p.dst = try md(o.dims, dnnl_nchw)
        // oneDNN's fast kernels want blocked layouts: describe with `any`, reorder at the boundary.
        var anySrc = try md(key.input, dnnl_format_tag_any), anyWeights = try md(key.weights, dnnl_format_tag_any)
        var anyDst = try md(o.dims, dnnl_format_tag_any)
        let strides = key.stride.map(Int64.init), dilates = key.dilation.map(Int64.init)
        let padL = key.padL.map(Int64.init), padR = key.padR.map(Int64.init)
        let alg = dnnl_convolution_direct
        let biasDesc = p.bias
        // Forward (training: it is the hint of both backward primitives).
        var fd = dnnl_convolution_desc_t()
        try withBias(key.bias ? biasDesc : nil) { bp in
            try check(dnnl_dilated_convolution_forward_desc_init(&fd, dnnl_forward_training, alg, &anySrc, &anyWeights,
                                                                 bp, &anyDst, strides, dilates, padL, padR),
                      "dnnl_dilated_convolution_forward_desc_init")
        }
        let forward = try create(&fd, hint: nil, "training forward")
        p.forwardDesc = forward
        p.forward = try Primitive(descriptor: forward.handle, name: "training forward")
        p.implementations.append(forward.implementation)
        p.chosen[.forward] = [DNNL_ARG_SRC: forward.query(dnnl_query_src_md),
                              DNNL_ARG_WEIGHTS: forward.query(dnnl_query_weights_md),
                              DNNL_ARG_DST: forward.query(dnnl_query_dst_md)]
        // Backward data.
        var bd = dnnl_convolution_desc_t()
        try check(dnnl_dilated_convolution_backward_data_desc_init(&bd, alg, &anySrc, &anyWeights, &anyDst, strides,
                                                                   dilates, padL, padR),
                  "dnnl_dilated_convolution_backward_data_desc_init")
        let data = try create(&bd, hint: forward, "backward data")
        p.backwardData = try Primitive(descriptor: data.handle, name: "backward data")
        p.implementations.append(data.implementation)
        p.chosen[.backwardData] = [DNNL_ARG_DIFF_SRC: data.query(dnnl_query_diff_src_md),
                                   DNNL_ARG_WEIGHTS: data.query(dnnl_query_weights_md),
                                   DNNL_ARG_DIFF_DST: data.query(dnnl_query_diff_dst_md)]
        // Backward weights.
        var bw = dnnl_convolution_desc_t()
        try withBias(key.bias ? biasDesc : nil) { bp in
            try check(dnnl_dilated_convolution_backward_weights_desc_init(&bw, alg, &anySrc, &anyWeights, bp, &anyDst,
                                                                          strides, dilates, padL, padR),
                      "dnnl_dilated_convolution_backward_weights_desc_init")
        }
        let weights = try create(&bw, hint: forward, "backward weights")
        p.backwardWeights = try Primitive(descriptor: weights.handle, name: "backward weights")
        p.implementations.append(weights.implementation)
        p.chosen[.backwardWeights] = [DNNL_ARG_SRC: weights.query(dnnl_query_src_md),
                                      DNNL_ARG_DIFF_WEIGHTS: weights.query(dnnl_query_diff_weights_md),
                                      DNNL_ARG_DIFF_DST: weights.query(dnnl_query_diff_dst_md)]
        cache[key] = p
        return p
    }

    private func withBias(_ desc: dnnl_memory_desc_t?, _ body: (UnsafePointer<dnnl_memory_desc_t>?) throws -> Void) throws {
        if var d = desc { try withUnsafePointer(to: &d) { try body($0) } } else { try body(nil) }
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
    private func execute(_ primitive: Primitive?, _ chosen: [Int32: dnnl_memory_desc_t],
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
        try check(dnnl_primitive_execute(primitive!.handle, stream, Int32(execArgs.count), execArgs), "dnnl_primitive_execute")
        for (from, fromDesc, to, toDesc) in writeBack { try reorder(from, fromDesc, to, toDesc) }
        try check(dnnl_stream_wait(stream), "dnnl_stream_wait")
    }

    /// oneDNN only reads its inputs; the plain arrays are handed over without a copy.
    private func readOnly<R>(_ a: [Float], _ body: (UnsafeMutableRawPointer) throws -> R) rethrows -> R {
        try a.withUnsafeBytes { try body(UnsafeMutableRawPointer(mutating: $0.baseAddress!)) }
    }

    public func convolutionForward(_ x: Tensor, _ conv: Conv2d, output o: Shape) throws -> Tensor {
        guard conv.groups == 1 else { return try fallback.convolutionForward(x, conv, output: o) }
        let p = try primitives(key(x.shape, conv, bias: conv.bias != nil), output: o)
        var y = [Float](repeating: 0, count: o.count)
        try readOnly(x.data) { xs in try readOnly(conv.weight.data) { ws in
            try y.withUnsafeMutableBytes { ys in
                var args = [(DNNL_ARG_SRC, p.src, xs), (DNNL_ARG_WEIGHTS, p.weights, ws), (DNNL_ARG_DST, p.dst, ys.baseAddress!)]
                if let b = conv.bias {
                    try readOnly(b) { bs in
                        args.append((DNNL_ARG_BIAS, p.bias, bs))
                        try execute(p.forward, p.chosen[.forward]!, args, outputs: [DNNL_ARG_DST])
                    }
                } else {
                    try execute(p.forward, p.chosen[.forward]!, args, outputs: [DNNL_ARG_DST])
                }
            }
        } }
        return Tensor(dims: o.dims, data: y)
    }

    public func convolutionBackwardData(_ dy: Tensor, _ conv: Conv2d, input: Shape) throws -> Tensor {
        guard conv.groups == 1 else { return try fallback.convolutionBackwardData(dy, conv, input: input) }
        // Backward data has no bias: reuse the primitives the forward pass of this shape created, with or without one.
        let withoutBias = key(input, conv, bias: false)
        let p = try primitives(cache[withoutBias] != nil ? withoutBias : key(input, conv, bias: true), output: dy.shape)
        var dx = [Float](repeating: 0, count: input.count)
        try readOnly(dy.data) { gs in try readOnly(conv.weight.data) { ws in
            try dx.withUnsafeMutableBytes { xs in
                try execute(p.backwardData, p.chosen[.backwardData]!,
                            [(DNNL_ARG_DIFF_DST, p.dst, gs), (DNNL_ARG_WEIGHTS, p.weights, ws),
                             (DNNL_ARG_DIFF_SRC, p.src, xs.baseAddress!)], outputs: [DNNL_ARG_DIFF_SRC])
            }
        } }
        return Tensor(dims: input.dims, data: dx)
    }

    public func convolutionBackwardWeights(_ x: Tensor, _ dy: Tensor, _ conv: Conv2d) throws -> (weight: [Float], bias: [Float]?) {
        guard conv.groups == 1 else { return try fallback.convolutionBackwardWeights(x, dy, conv) }
        let bias = conv.bias != nil
        let p = try primitives(key(x.shape, conv, bias: bias), output: dy.shape)
        var dw = [Float](repeating: 0, count: conv.weight.count)
        var db = [Float](repeating: 0, count: bias ? conv.outChannels : 0)
        try readOnly(dy.data) { gs in try readOnly(x.data) { xs in
            try dw.withUnsafeMutableBytes { ws in
                try db.withUnsafeMutableBytes { bs in
                    var args = [(DNNL_ARG_SRC, p.src, xs), (DNNL_ARG_DIFF_DST, p.dst, gs),
                                (DNNL_ARG_DIFF_WEIGHTS, p.weights, ws.baseAddress!)]
                    if bias { args.append((DNNL_ARG_DIFF_BIAS, p.bias, bs.baseAddress!)) }
                    try execute(p.backwardWeights, p.chosen[.backwardWeights]!, args,
                                outputs: [DNNL_ARG_DIFF_WEIGHTS, DNNL_ARG_DIFF_BIAS])
                }
            }
        } }
        return (dw, bias ? db : nil)
    }
}
