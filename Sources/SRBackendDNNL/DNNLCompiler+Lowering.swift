internal import CDNNL
import Dispatch
import SRCore
import SRBackendReference

extension DNNLCompiler {
    /// Lowers one node that is not part of a fused chain.
    mutating func lower(_ id: ValueID) throws {
        let node = graph.nodes[id]
        switch node.op {
        case .input:
            return
        case .constant(let t):
            let desc = try MD.plain(shapes[id])
            _ = try permanentMemory(desc, data: t.data)
            md[id] = desc
            constantRefs[id] = .permanent(permanent.count - 1)
        case .conv2d, .deconv2d, .linear:
            try lowerHead(id, postOps: [], as: id)
        case .activation(let a):
            try lowerActivation(id, a)
        case .binary(let b):
            try lowerBinary(id, b)
        case .weightedSum(let c):
            try lowerSum(id, c)
        case .concat:
            try lowerConcat(id)
        case .crop(let c):
            try lowerCrop(id, c)
        case .pixelShuffle(let r, let mode):
            try lowerShuffle(id, r, unshuffle: false, mode: mode)
        case .pixelUnshuffle(let r):
            try lowerShuffle(id, r, unshuffle: true, mode: .channelsFirst)
        case .resize(let r):
            try lowerResize(id, r)
        case .pool(let p):
            try lowerPool(id, p)
        }
    }

    // MARK: - Convolution, deconvolution, linear (+ post-ops)

    /// Lowers a conv/deconv/linear head with `postOps` fused, defining value `result`.
    /// Throws `FusionFailed` when oneDNN cannot create the fused primitive.
    mutating func lowerHead(_ head: ValueID, postOps: [PostOp], as result: ValueID,
                            dstLayout: dnnl_memory_desc_t? = nil) throws {
        let node = graph.nodes[head]
        let x = node.inputs[0]
        let attributes = try PrimitiveAttributes()
        var ops: [PostOp] = []
        let outShape = shapes[head]
        // Activations oneDNN's Winograd kernel cannot fuse (it fuses plain ReLU only) run after it, in place.
        var separateActivation: Activation?
        switch node.op {
        case .conv2d(let p):
            if algorithm == .winograd, winogradPays(p, output: outShape) {
                let fusable = ((p.activation.map { [PostOp($0)] } ?? []) + postOps).allSatisfy(\.winogradFusable)
                if !fusable, !postOps.isEmpty { throw FusionFailed() }
                if fusable { if let a = p.activation { ops.append(PostOp(a)) } } else { separateActivation = p.activation }
            } else if let a = p.activation {
                ops.append(PostOp(a))
            }
        case .deconv2d(let p): if let a = p.activation { ops.append(PostOp(a)) }
        case .linear(let l): if let a = l.activation { ops.append(PostOp(a)) }
        default: fatalError("lowerHead on \(node.op.kind)")
        }
        ops += postOps
        // A full-size second operand fixes the destination layout (oneDNN matches them), and a plain operand drags
        // the convolution onto a slow plain-layout kernel. Ask for the layout the convolution prefers on its own
        // and reorder the operand to it instead.
        let hasFullOperand = ops.contains { if case .binary(_, let o) = $0 { shapes[o] == outShape } else { false } }
        if dstLayout == nil, hasFullOperand {
            let probe = PrimitiveAttributes.plain
            let preferred: dnnl_memory_desc_t?
            switch node.op {
            case .conv2d(let p):
                preferred = try? convolution(p, input: shapes[x], output: outShape, probe, node.name, dst: nil,
                                             weightsNeeded: false, blocked: false).0
                    .query(dnnl_query_dst_md)
            case .deconv2d(let p):
                preferred = try? deconvolution(p, input: shapes[x], output: outShape, probe, node.name, dst: nil, weightsNeeded: false).0
                    .query(dnnl_query_dst_md)
            default: preferred = nil
            }
            if let preferred { return try lowerHead(head, postOps: postOps, as: result, dstLayout: preferred) }
        }
        let hasBinary = ops.contains { if case .binary = $0 { true } else { false } }
        var binaryDescs: [Int: dnnl_memory_desc_t] = [:]
        for (i, op) in ops.enumerated() {
            switch op {
            case .eltwise(let alg, let a, let b): try attributes.appendEltwise(alg, alpha: a, beta: b)
            case .prelu: try attributes.appendPReLU(perChannel: true)
            case .binary(let alg, let other):
                let desc = shapes[other] == outShape ? (dstLayout ?? md[other]!) : try MD.plain(shapes[other])
                binaryDescs[i] = desc
                try attributes.appendBinary(alg, src1: desc)
            }
        }
        try attributes.commit()

        let pd: PrimitiveDescriptor
        var weightsMemory: Memory?
        var biasMemory: Memory?
        let name = node.name
        do {
            switch node.op {
            case .conv2d(let p):
                (pd, weightsMemory, biasMemory) = try convolution(p, input: shapes[x], output: outShape, attributes, name,
                                                                  dst: dstLayout, blocked: !hasBinary)
            case .deconv2d(let p):
                (pd, weightsMemory, biasMemory) = try deconvolution(p, input: shapes[x], output: outShape, attributes, name,
                                                                    dst: dstLayout)
            case .linear(let l):
                (pd, weightsMemory, biasMemory) = try innerProduct(l, input: shapes[x], attributes, name)
            default: fatalError("unreachable")
            }
        } catch let error as BackendError {
            if !postOps.isEmpty { throw FusionFailed() }
            throw error
        }
        // A fused post-op oneDNN only has a reference kernel for (e.g. PReLU in v2.6) costs far more than a
        // separate element-wise pass: run the chain unfused instead.
        if !postOps.isEmpty, pd.implementation.hasPrefix("ref") {
            throw FusionFailed()
        }

        let src = try use(x, as: pd.query(dnnl_query_src_md))
        var args: [(Int32, Memory)] = [(DNNL_ARG_SRC, src), (DNNL_ARG_WEIGHTS, weightsMemory!)]
        if let biasMemory { args.append((DNNL_ARG_BIAS, biasMemory)) }
        let dst: Memory
        if case .linear = node.op {
            // Inner product writes [n, o]; the value is the same bytes viewed as plain [n, o, 1, 1].
            md[result] = try MD.plain(shapes[result])
            _ = define(.value(result), md[result]!)
            dst = view(.value(result), pd.query(dnnl_query_dst_md))
        } else {
            dst = output(result, pd.query(dnnl_query_dst_md))
        }
        args.append((DNNL_ARG_DST, dst))
        for (i, op) in ops.enumerated() {
            switch op {
            case .eltwise: break
            case .binary(_, let other):
                args.append((cdnnl_arg_post_op_src1(Int32(i)), try use(other, as: binaryDescs[i]!)))
            case .prelu(let slopes):
                let desc = try MD.tagged([1, slopes.count, 1, 1], dnnl_nchw)
                args.append((cdnnl_arg_post_op_weights(Int32(i)), try permanentMemory(desc, data: slopes)))
            }
        }
        try emit(pd, name: name, args: args)
        if let a = separateActivation { try activateInPlace(a, dst, name: name + ".activation") }
    }

    /// Applies `a` to `memory` in place (source and destination are the same bytes).
    private mutating func activateInPlace(_ a: Activation, _ memory: Memory, name: String) throws {
        let attr = try PrimitiveAttributes()
        try attr.commit()
        var data = memory.desc
        switch PostOp(a) {
        case .eltwise(let alg, let alpha, let beta):
            var desc = dnnl_eltwise_desc_t()
            try check(dnnl_eltwise_forward_desc_init(&desc, dnnl_forward_inference, alg, &data, alpha, beta),
                      "dnnl_eltwise_forward_desc_init(\(name))")
            let pd = try withUnsafePointer(to: &desc) { try PrimitiveDescriptor(op: $0, attributes: attr, name: name) }
            try emit(pd, name: name, args: [(DNNL_ARG_SRC, memory), (DNNL_ARG_DST, memory)])
        case .prelu(let slopes) where inputIsBlocked16(data) && data.data_type == dnnl_f32:
            blockedPReLU(slopes, from: memory, to: memory, name: name)
        case .prelu(let slopes):
            var w = try MD.tagged([1, slopes.count, 1, 1], dnnl_nchw)
            var desc = dnnl_prelu_desc_t()
            try check(dnnl_prelu_forward_desc_init(&desc, dnnl_forward_inference, &data, &w),
                      "dnnl_prelu_forward_desc_init(\(name))")
            let pd = try withUnsafePointer(to: &desc) { try PrimitiveDescriptor(op: $0, attributes: attr, name: name) }
            let weights = try permanentMemory(w, data: slopes)
            try emit(pd, name: name, args: [(DNNL_ARG_SRC, memory), (DNNL_ARG_WEIGHTS, weights), (DNNL_ARG_DST, memory)])
        case .binary:
            fatalError("an activation is never a binary post-op")
        }
    }

    private mutating func convolution(_ p: Conv2d, input: Shape, output: Shape, _ attr: PrimitiveAttributes,
                                      _ name: String, dst dstLayout: dnnl_memory_desc_t?,
                                      weightsNeeded: Bool = true, blocked: Bool = true)
        throws -> (PrimitiveDescriptor, Memory?, Memory?) {
        let g = p.groups
        let wDims = g == 1 ? p.weight.dims : [g, p.outChannels / g] + Array(p.weight.dims[1...])
        let wTag = g == 1 ? dnnl_oihw : dnnl_goihw
        var src = try MD.any(input, computeType), dst = try dstLayout ?? MD.any(output, computeType)
        if algorithm == .winograd, precision == .fp32, blocked {
            // Winograd kernels work on nChw16c; direct kernels would pick nhwc, and a concatenation of mixed
            // layouts runs on oneDNN's reference kernel. Keep every 16-multiple activation in nChw16c, except
            // under binary post-ops: oneDNN 2.6's nChw16c direct kernel computes those wrongly on some widths
            // (the conformance test "conv2d fused with residual tails" catches it), its nhwc kernel does not.
            if input.c % 16 == 0 { src = try MD.tagged(input.dims, dnnl_nChw16c) }
            if dstLayout == nil, output.c % 16 == 0 { dst = try MD.tagged(output.dims, dnnl_nChw16c) }
        }
        var w = try MD.tagged(wDims, dnnl_format_tag_any, computeType)
        let b = try MD.tagged([p.outChannels], dnnl_x)
        func descriptor(_ alg: dnnl_alg_kind_t) throws -> PrimitiveDescriptor {
            var desc = dnnl_convolution_desc_t()
            try check(withOptional(p.bias == nil ? nil : b) { bp in dnnl_dilated_convolution_forward_desc_init(
                &desc, dnnl_forward_inference, alg, &src, &w, bp, &dst,
                MD.dims([p.strideH, p.strideW]), MD.dims([p.dilationH - 1, p.dilationW - 1]),
                MD.dims([p.padding.top, p.padding.left]), MD.dims([p.padding.bottom, p.padding.right])) },
                "dnnl_dilated_convolution_forward_desc_init(\(name))")
            return try withUnsafePointer(to: &desc) { try PrimitiveDescriptor(op: $0, attributes: attr, name: name) }
        }
        let pd: PrimitiveDescriptor
        switch algorithm {
        case .direct: pd = try descriptor(dnnl_convolution_direct)
        case .auto: pd = try descriptor(dnnl_convolution_auto)
        case .winograd:
            // oneDNN has no Winograd kernel for some shapes and fused post-ops (e.g. binary adds): use direct then,
            // and also where its scratchpad (transformed tiles) would outgrow the activations themselves.
            if winogradPays(p, output: output), let wino = try? descriptor(dnnl_convolution_winograd),
               MD.size(wino.scratchpad) <= DNNLBackend.winogradScratchpadLimit {
                pd = wino
            } else {
                pd = try descriptor(dnnl_convolution_direct)
            }
        }
        guard weightsNeeded else { return (pd, nil, nil) }
        let weights = try weights(p.weight.data, plain: try MD.tagged(wDims, wTag), wanted: pd.query(dnnl_query_weights_md))
        let bias = try p.bias.map { try permanentMemory(try MD.tagged([p.outChannels], dnnl_x), data: $0) }
        return (pd, weights, bias)
    }

    /// Whether oneDNN's fp32 Winograd F(4x4, 3x3) kernel beats its direct kernel for this convolution.
    ///
    /// Measured on the 2-core AVX-512 machines (oneDNN 2.6, 2 threads): for 3x3 stride-1 convolutions with 64 or
    /// 192 input and 32 or 64 output channels, Winograd runs 2.0-2.6x faster than the direct brgemm kernel on
    /// outputs of 128x128 pixels and more, but at 64x64 oneDNN switches to its F(2x2, 3x3) kernel, which is up to
    /// 1.7x slower than direct. Its blocked kernels need channel counts that are multiples of 16.
    private func winogradPays(_ p: Conv2d, output: Shape) -> Bool {
        precision == .fp32 && p.groups == 1 && p.kernelH == 3 && p.kernelW == 3 && p.strideH == 1 && p.strideW == 1
            && p.dilationH == 1 && p.dilationW == 1 && p.inChannels % 16 == 0 && p.outChannels % 16 == 0
            && output.h * output.w >= DNNLBackend.winogradMinimumPixels
            && DNNLBackend.winogradTilesSplitWell(output)
    }

    private mutating func deconvolution(_ p: Deconv2d, input: Shape, output: Shape, _ attr: PrimitiveAttributes,
                                        _ name: String, dst dstLayout: dnnl_memory_desc_t?,
                                        weightsNeeded: Bool = true) throws -> (PrimitiveDescriptor, Memory?, Memory?) {
        var src = try MD.any(input, computeType), dst = try dstLayout ?? MD.any(output, computeType)
        var w = try MD.tagged(p.weight.dims, dnnl_format_tag_any, computeType)
        let b = try MD.tagged([p.outChannels], dnnl_x)
        var desc = dnnl_deconvolution_desc_t()
        try check(withOptional(p.bias == nil ? nil : b) { bp in dnnl_dilated_deconvolution_forward_desc_init(
            &desc, dnnl_forward_inference, dnnl_deconvolution_direct, &src, &w, bp, &dst,
            MD.dims([p.strideH, p.strideW]), MD.dims([p.dilationH - 1, p.dilationW - 1]),
            MD.dims([p.padding.top, p.padding.left]),
            MD.dims([p.padding.bottom - p.outputPaddingH, p.padding.right - p.outputPaddingW])) },
            "dnnl_dilated_deconvolution_forward_desc_init(\(name))")
        let pd = try withUnsafePointer(to: &desc) { try PrimitiveDescriptor(op: $0, attributes: attr, name: name) }
        guard weightsNeeded else { return (pd, nil, nil) }
        let weights = try weights(p.weight.data, plain: try MD.tagged(p.weight.dims, dnnl_oihw),
                                  wanted: pd.query(dnnl_query_weights_md))
        let bias = try p.bias.map { try permanentMemory(try MD.tagged([p.outChannels], dnnl_x), data: $0) }
        return (pd, weights, bias)
    }

    private mutating func innerProduct(_ l: Linear, input: Shape, _ attr: PrimitiveAttributes,
                                       _ name: String) throws -> (PrimitiveDescriptor, Memory?, Memory?) {
        let wDims = [l.outFeatures, input.c, input.h, input.w]
        var src = try MD.any(input)
        var w = try MD.tagged(wDims, dnnl_format_tag_any)
        let b = try MD.tagged([l.outFeatures], dnnl_x)
        var dst = try MD.tagged([input.n, l.outFeatures], dnnl_nc)
        var desc = dnnl_inner_product_desc_t()
        try check(withOptional(l.bias == nil ? nil : b) { bp in
                      dnnl_inner_product_forward_desc_init(&desc, dnnl_forward_inference, &src, &w, bp, &dst) },
                  "dnnl_inner_product_forward_desc_init(\(name))")
        let pd = try withUnsafePointer(to: &desc) { try PrimitiveDescriptor(op: $0, attributes: attr, name: name) }
        let weights = try weights(l.weight.data, plain: try MD.tagged(wDims, dnnl_oihw), wanted: pd.query(dnnl_query_weights_md))
        let bias = try l.bias.map { try permanentMemory(try MD.tagged([l.outFeatures], dnnl_x), data: $0) }
        return (pd, weights, bias)
    }

    // MARK: - Element-wise

    private mutating func lowerActivation(_ id: ValueID, _ a: Activation) throws {
        let x = graph.nodes[id].inputs[0]
        let src = try use(x)
        let attr = try PrimitiveAttributes()
        try attr.commit()
        if case .prelu(let slopes) = a, slopes.count > 1, inputIsBlocked16(src.desc), src.desc.data_type == dnnl_f32 {
            let dst = output(id, src.desc, inPlaceOf: x)
            blockedPReLU(slopes, from: src, to: dst, name: graph.nodes[id].name)
            return
        }
        if case .prelu(let slopes) = a, slopes.count > 1 {
            var data = src.desc
            var w = try MD.tagged([1, slopes.count, 1, 1], dnnl_nchw)
            var desc = dnnl_prelu_desc_t()
            try check(dnnl_prelu_forward_desc_init(&desc, dnnl_forward_inference, &data, &w), "dnnl_prelu_forward_desc_init")
            let pd = try withUnsafePointer(to: &desc) { try PrimitiveDescriptor(op: $0, attributes: attr, name: graph.nodes[id].name) }
            let weights = try permanentMemory(w, data: slopes)
            let dst = output(id, src.desc, inPlaceOf: x)
            try emit(pd, name: graph.nodes[id].name, args: [(DNNL_ARG_SRC, src), (DNNL_ARG_WEIGHTS, weights), (DNNL_ARG_DST, dst)])
            return
        }
        guard case .eltwise(let alg, let alpha, let beta) = PostOp(a) else { fatalError("unreachable") }
        var data = src.desc
        var desc = dnnl_eltwise_desc_t()
        try check(dnnl_eltwise_forward_desc_init(&desc, dnnl_forward_inference, alg, &data, alpha, beta),
                  "dnnl_eltwise_forward_desc_init")
        let pd = try withUnsafePointer(to: &desc) { try PrimitiveDescriptor(op: $0, attributes: attr, name: graph.nodes[id].name) }
        let dst = output(id, src.desc, inPlaceOf: x)
        try emit(pd, name: graph.nodes[id].name, args: [(DNNL_ARG_SRC, src), (DNNL_ARG_DST, dst)])
    }

    private mutating func lowerBinary(_ id: ValueID, _ b: BinaryOperator) throws {
        var a = graph.nodes[id].inputs[0], c = graph.nodes[id].inputs[1]
        let out = shapes[id]
        let commutative = [.add, .mul, .max, .min].contains(b)
        if shapes[a] != out, shapes[c] == out, commutative { swap(&a, &c) }
        guard shapes[a] == out else { return try lowerReference(id) }
        let alg: dnnl_alg_kind_t = switch b {
        case .add: dnnl_binary_add
        case .sub: dnnl_binary_sub
        case .mul: dnnl_binary_mul
        case .div: dnnl_binary_div
        case .max: dnnl_binary_max
        case .min: dnnl_binary_min
        }
        let src0 = try use(a)
        let src1 = try use(c, as: shapes[c] == out ? src0.desc : try MD.plain(shapes[c]))
        if b == .mul, out.n == 1, shapes[c] == Shape(c: out.c, h: 1, w: 1), src0.desc.data_type == dnnl_f32,
           inputIsBlocked16(src0.desc) {
            // Squeeze-excitation gains (Real-CUGAN): oneDNN 2.6 broadcasts a [1, C, 1, 1] operand over nChw16c with
            // its reference kernel (262 ms for 128 x 270 x 270, most of a Real-CUGAN run); a vector loop instead.
            let dst = output(id, src0.desc, inPlaceOf: a)
            blockedChannelScale(scales: src1, from: src0, to: dst, name: graph.nodes[id].name)
            return
        }
        var d0 = src0.desc, d1 = src1.desc, dd = src0.desc
        var desc = dnnl_binary_desc_t()
        try check(dnnl_binary_desc_init(&desc, alg, &d0, &d1, &dd), "dnnl_binary_desc_init")
        let attr = try PrimitiveAttributes()
        try attr.commit()
        let pd = try withUnsafePointer(to: &desc) { try PrimitiveDescriptor(op: $0, attributes: attr, name: graph.nodes[id].name) }
        let dst = output(id, src0.desc, inPlaceOf: a)
        try emit(pd, name: graph.nodes[id].name, args: [(DNNL_ARG_SRC_0, src0), (DNNL_ARG_SRC_1, src1), (DNNL_ARG_DST, dst)])
    }

    private mutating func lowerSum(_ id: ValueID, _ coefficients: [Float]) throws {
        let inputs = graph.nodes[id].inputs
        let first = try use(inputs[0])
        var srcs = [first]
        for v in inputs.dropFirst() { srcs.append(try use(v, as: first.desc)) }
        var descs = srcs.map(\.desc)
        var dstDesc = first.desc
        let attr = try PrimitiveAttributes()
        try attr.commit()
        var pdHandle: dnnl_primitive_desc_t?
        try check(dnnl_sum_primitive_desc_create(&pdHandle, &dstDesc, Int32(srcs.count), coefficients, &descs,
                                                 attr.handle, DNNLContext.shared.engine), "dnnl_sum_primitive_desc_create")
        let pd = PrimitiveDescriptor(pdHandle!)
        // oneDNN accumulates source by source, so writing over src0 is safe only when no later source reads it.
        let dst = output(id, first.desc, inPlaceOf: inputs.dropFirst().contains(inputs[0]) ? nil : inputs[0])
        var args: [(Int32, Memory)] = srcs.enumerated().map { (cdnnl_arg_multiple_src(Int32($0.offset)), $0.element) }
        args.append((DNNL_ARG_DST, dst))
        try emit(pd, name: graph.nodes[id].name, args: args)
    }

    // MARK: - Data movement

    private mutating func lowerConcat(_ id: ValueID) throws {
        let inputs = graph.nodes[id].inputs
        // oneDNN concatenates one element type: a bf16 convolution output beside an fp32 input converts to bf16.
        let types = Set(inputs.map { md[$0]!.data_type.rawValue })
        let common = types.count == 1 ? md[inputs[0]]!.data_type : computeType
        let srcs = try inputs.map { v -> Memory in
            var wanted = md[v]!
            wanted.data_type = common
            return try use(v, as: wanted)
        }
        // One image in nChw16c with 16-multiple channel counts: every input is a contiguous run of whole channel
        // blocks of the output, so each is one parallel copy into its slice (oneDNN's concat kernel for blocked
        // layouts copies block rows one thread at a time: 5 ms for a 192-channel 152x152 output, 4x this). A
        // concatenation with a shared buffer (`planConcatGroups`) is a view of it: inputs their producers wrote
        // into their slice need no copy at all.
        let out = shapes[id]
        if aliases[.value(id)] != nil
            || (out.n == 1 && srcs.allSatisfy { inputIsBlocked16($0.desc) } && inputs.allSatisfy { shapes[$0].c % 16 == 0 }) {
            let dstDesc = try MD.tagged(out.dims, dnnl_nChw16c, common)
            _ = output(id, dstDesc)
            var channel = 0
            for (v, src) in zip(inputs, srcs) {
                if !isInPlace(v, in: id, channel: channel) {
                    let slice = view(.value(id), try MD.submemory(dstDesc, dims: shapes[v].dims, offsets: [0, channel, 0, 0]))
                    try reorder(from: src, to: slice, name: graph.nodes[id].name)
                }
                channel += shapes[v].c
            }
            return
        }
        var descs = srcs.map(\.desc)
        let attr = try PrimitiveAttributes()
        try attr.commit()
        var pdHandle: dnnl_primitive_desc_t?
        try check(dnnl_concat_primitive_desc_create(&pdHandle, nil, Int32(srcs.count), 1, &descs, attr.handle,
                                                    DNNLContext.shared.engine), "dnnl_concat_primitive_desc_create")
        let pd = PrimitiveDescriptor(pdHandle!)
        let dst = output(id, pd.query(dnnl_query_dst_md))
        var args: [(Int32, Memory)] = srcs.enumerated().map { (cdnnl_arg_multiple_src(Int32($0.offset)), $0.element) }
        args.append((DNNL_ARG_DST, dst))
        try emit(pd, name: graph.nodes[id].name, args: args)
    }

    /// PReLU over an fp32 nChw16c activation (`source` and `destination` may be the same memory).
    ///
    /// oneDNN 2.6 runs PReLU on nChw16c with its reference kernel (24 ms for 64x148x148, 150x its nhwc kernel),
    /// so this is a blocked loop of our own: 16 channels per vector, the channel blocks split across threads.
    private mutating func blockedPReLU(_ slopes: [Float], from source: Memory, to destination: Memory, name: String) {
        let table = Self.channelVectors(channels: MD.dimensions(source.desc)[1]) { c in
            slopes.count == 1 ? slopes[0] : (c < slopes.count ? slopes[c] : 0)
        }
        actions.append(.kernel(name) {
            Self.blockedChannelLoop(.prelu, table: table, from: source, to: destination)
        })
    }

    /// `destination = source * scales[channel]` over an fp32 nChw16c activation of one image, with the `C` scales
    /// read at run time from `scales` (a plain `[1, C, 1, 1]` memory); `source` and `destination` may be the same.
    private mutating func blockedChannelScale(scales: Memory, from source: Memory, to destination: Memory, name: String) {
        let channels = MD.dimensions(source.desc)[1]
        actions.append(.kernel(name) {
            let gains = try! dataPointer(scales).assumingMemoryBound(to: Float.self)
            let table = Self.channelVectors(channels: channels) { gains[$0] }
            Self.blockedChannelLoop(.scale, table: table, from: source, to: destination)
        })
    }

    /// One 16-lane vector per channel block of `value(channel)` (0 past the last channel).
    static func channelVectors(channels: Int, _ value: (Int) -> Float) -> [SIMD16<Float>] {
        (0..<(channels + 15) / 16).map { b in
            var v = SIMD16<Float>()
            for l in 0..<16 where b * 16 + l < channels { v[l] = value(b * 16 + l) }
            return v
        }
    }

    enum ChannelOp { case prelu, scale }

    /// A per-channel element-wise op over an fp32 nChw16c activation (one pixel of a channel block is one
    /// 16-lane vector), pixel ranges split evenly across the threads (blocks alone split unevenly: 4 blocks of a
    /// 64-channel map on 3 threads). `source` and `destination` may be the same memory.
    static func blockedChannelLoop(_ op: ChannelOp, table: [SIMD16<Float>], from source: Memory, to destination: Memory) {
        let d = MD.dimensions(source.desc)
        let channelBlocks = (d[1] + 15) / 16, pixels = d[2] * d[3], total = d[0] * channelBlocks * pixels
        let from = Int(bitPattern: try! dataPointer(source)), to = Int(bitPattern: try! dataPointer(destination))
        let workers = max(1, DNNLBackend.threads)
        DispatchQueue.concurrentPerform(iterations: workers) { part in
            let src = UnsafeRawPointer(bitPattern: from)!, dst = UnsafeMutableRawPointer(bitPattern: to)!
            var k = total * part / workers
            let hi = total * (part + 1) / workers
            while k < hi {
                let b = k / pixels, end = min(hi, (b + 1) * pixels)
                let c = table[b % channelBlocks]
                switch op {
                case .prelu:
                    for i in k..<end {
                        let v = src.loadUnaligned(fromByteOffset: i * 64, as: SIMD16<Float>.self)
                        dst.storeBytes(of: v.replacing(with: v * c, where: v .< 0), toByteOffset: i * 64, as: SIMD16<Float>.self)
                    }
                case .scale:
                    for i in k..<end {
                        let v = src.loadUnaligned(fromByteOffset: i * 64, as: SIMD16<Float>.self)
                        dst.storeBytes(of: v * c, toByteOffset: i * 64, as: SIMD16<Float>.self)
                    }
                }
                k = end
            }
        }
    }

    /// Whether `desc` is a 4-D nChw16c activation.
    private func inputIsBlocked16(_ desc: dnnl_memory_desc_t) -> Bool {
        guard desc.ndims == 4 else { return false }
        guard let blocked = try? MD.tagged(MD.dimensions(desc), dnnl_nChw16c, desc.data_type) else { return false }
        return MD.equal(blocked, desc)
    }

    private mutating func lowerCrop(_ id: ValueID, _ c: Crop) throws {
        let x = graph.nodes[id].inputs[0]
        let s = shapes[x], o = shapes[id]
        let offsets = [0, c.range(axis: 0, size: s.c).lowerBound, c.range(axis: 1, size: s.h).lowerBound,
                       c.range(axis: 2, size: s.w).lowerBound]
        guard let sub = try? MD.submemory(md[x]!, dims: o.dims, offsets: offsets) else { return try lowerReference(id) }
        let src = view(ref(of: x), sub)
        // Keep the input's blocking so later element-wise ops and post-ops see matching layouts.
        let dst = output(id, c.start[0] == 0 && c.end[0] == 0 ? try MD.sameLayout(as: md[x]!, dims: o.dims)
                                                              : try MD.tagged(o.dims, dnnl_nchw, md[x]!.data_type))
        try reorder(from: src, to: dst, name: graph.nodes[id].name)
    }

    /// Pixel (un)shuffle as one strided 6-D reorder over plain buffers.
    private mutating func lowerShuffle(_ id: ValueID, _ r: Int, unshuffle: Bool, mode: PixelShuffleMode) throws {
        let x = graph.nodes[id].inputs[0]
        let small = unshuffle ? shapes[id] : shapes[x]   // [n, C*r*r, H, W]
        let big = unshuffle ? shapes[x] : shapes[id]     // [n, C, H*r, W*r]
        let n = small.n, c = big.c, h = small.h, w = small.w
        let dims = [n, c, r, r, h, w]
        let bigStrides = [c * h * r * w * r, h * r * w * r, w * r, 1, r * w * r, r]
        let smallStrides = mode == .channelsFirst
            ? [c * r * r * h * w, r * r * h * w, r * h * w, h * w, w, 1]
            : [c * r * r * h * w, h * w, r * c * h * w, c * h * w, w, 1]
        let (srcRef, _) = try useRef(x, as: try MD.plain(shapes[x]))
        _ = output(id, try MD.plain(shapes[id]))
        // Views of the same bytes with 6-D strides.
        let srcView = view(srcRef, try MD.strided(dims, strides: unshuffle ? bigStrides : smallStrides))
        let dstView = view(.value(id), try MD.strided(dims, strides: unshuffle ? smallStrides : bigStrides))
        try reorder(from: srcView, to: dstView, name: graph.nodes[id].name)
    }

    private mutating func lowerResize(_ id: ValueID, _ r: Resize) throws {
        let x = graph.nodes[id].inputs[0]
        let s = shapes[x], o = shapes[id]
        let integral = r.mode == .nearest && o.h % s.h == 0 && o.w % s.w == 0 && !r.alignCorners
        guard integral else { return try lowerReference(id) }
        let src = try use(x)
        var sd = src.desc
        var dd = try MD.any(o, src.desc.data_type)
        var desc = dnnl_resampling_desc_t()
        let factors: [Float] = [Float(o.h / s.h), Float(o.w / s.w)]
        try check(dnnl_resampling_forward_desc_init(&desc, dnnl_forward_inference, dnnl_resampling_nearest, factors, &sd, &dd),
                  "dnnl_resampling_forward_desc_init")
        let attr = try PrimitiveAttributes()
        try attr.commit()
        let pd = try withUnsafePointer(to: &desc) { try PrimitiveDescriptor(op: $0, attributes: attr, name: graph.nodes[id].name) }
        let dst = output(id, pd.query(dnnl_query_dst_md))
        try emit(pd, name: graph.nodes[id].name, args: [(DNNL_ARG_SRC, src), (DNNL_ARG_DST, dst)])
    }

    private mutating func lowerPool(_ id: ValueID, _ p: Pool) throws {
        let x = graph.nodes[id].inputs[0]
        let s = shapes[x], o = shapes[id]
        let src = try use(x)
        var sd = src.desc
        var dd = try MD.any(o, src.desc.data_type)
        let kernel = p.global ? [s.h, s.w] : [p.kernelH, p.kernelW]
        let strides = p.global ? [1, 1] : [p.strideH, p.strideW]
        let padL = p.global ? [0, 0] : [p.padding.top, p.padding.left]
        let padR = p.global ? [0, 0] : [p.padding.bottom, p.padding.right]
        let alg = p.kind == .max ? dnnl_pooling_max
            : (p.countIncludesPadding ? dnnl_pooling_avg_include_padding : dnnl_pooling_avg_exclude_padding)
        var desc = dnnl_pooling_v2_desc_t()
        try check(dnnl_pooling_v2_forward_desc_init(&desc, dnnl_forward_inference, alg, &sd, &dd, MD.dims(strides),
                                                    MD.dims(kernel), MD.dims([0, 0]), MD.dims(padL), MD.dims(padR)),
                  "dnnl_pooling_v2_forward_desc_init")
        let attr = try PrimitiveAttributes()
        try attr.commit()
        let pd = try withUnsafePointer(to: &desc) { try PrimitiveDescriptor(op: $0, attributes: attr, name: graph.nodes[id].name) }
        let dst = output(id, pd.query(dnnl_query_dst_md))
        var args: [(Int32, Memory)] = [(DNNL_ARG_SRC, src), (DNNL_ARG_DST, dst)]
        let ws = pd.query(dnnl_query_workspace_md)
        if MD.size(ws) > 0 { args.append((DNNL_ARG_WORKSPACE, newTemp(ws).1)) }
        try emit(pd, name: graph.nodes[id].name, args: args)
    }

    // MARK: - Reference fallback

    /// Runs a node through the reference kernel over plain NCHW copies (ops without a oneDNN primitive).
    mutating func lowerReference(_ id: ValueID) throws {
        let node = graph.nodes[id]
        let inputs = try node.inputs.map { try use($0, as: try MD.plain(shapes[$0])) }
        let inShapes = node.inputs.map { shapes[$0] }
        let outShape = shapes[id]
        let dst = output(id, try MD.plain(outShape))
        let op = node.op
        actions.append(.kernel(node.name) {
            let tensors = zip(inputs, inShapes).map { m, s in
                let p = try! dataPointer(m).assumingMemoryBound(to: Float.self)
                return Tensor(shape: s, data: Array(UnsafeBufferPointer(start: p, count: s.count)))
            }
            let result = ReferenceKernels.evaluate(op, inputs: tensors, outputShape: outShape)
            let out = try! dataPointer(dst).assumingMemoryBound(to: Float.self)
            result.data.withUnsafeBufferPointer { out.update(from: $0.baseAddress!, count: outShape.count) }
        })
    }
}
