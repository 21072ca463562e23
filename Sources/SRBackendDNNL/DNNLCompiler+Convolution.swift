internal import CDNNL
import Dispatch
import SRCore
import SRBackendReference

/// The ops `lowerHead` lowers (`DNNLCompiler.isChainHead`).
enum HeadKind {
    case conv2d(Conv2d)
    case deconv2d(Deconv2d)
    case linear(Linear)

    init(_ op: Op) {
        if case .conv2d(let p) = op { self = .conv2d(p) } else if case .deconv2d(let p) = op { self = .deconv2d(p) } else if case .linear(let l) = op {
            self = .linear(l)
        } else {
            preconditionFailure("lowerHead on \(op.kind): only convolution and linear heads are lowered there")
        }
    }
}

/// Convolutions, transposed convolutions and image linear layers, with their fused post-op chains.
extension DNNLCompiler {
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
        let kind = HeadKind(node.op)
        // Activations oneDNN's Winograd kernel cannot fuse (it fuses plain ReLU only) run after it, in place.
        var separateActivation: Activation?
        switch kind {
        case .conv2d(let p):
            if dstLayout == nil, algorithm == .winograd, winogradEligible(p, output: outShape),
               !DNNLBackend.winogradTilesSplitWell(outShape), let bands = Self.winogradBands(outShape) {
                // The whole output's tiles split badly (a prime count above 32): Winograd on row bands whose tiles
                // split well, instead of the 2x slower direct kernel (and instead of changing the window size).
                let all = (p.activation.map { [PostOp($0)] } ?? []) + postOps
                let fusable = all.allSatisfy(\.winogradFusable)
                if !fusable, !postOps.isEmpty { throw FusionFailed() }
                if try lowerBandedWinograd(head, p, fused: fusable ? all : [], separate: fusable ? nil : p.activation,
                                           as: result, bands: bands) {
                    return
                }
            }
            if algorithm == .winograd, winogradPays(p, output: outShape) {
                let fusable = ((p.activation.map { [PostOp($0)] } ?? []) + postOps).allSatisfy(\.winogradFusable)
                if !fusable, !postOps.isEmpty { throw FusionFailed() }
                if fusable { if let a = p.activation { ops.append(PostOp(a)) } } else { separateActivation = p.activation }
            } else if let a = p.activation {
                ops.append(PostOp(a))
            }
        case .deconv2d(let p): if let a = p.activation { ops.append(PostOp(a)) }
        case .linear(let l): if let a = l.activation { ops.append(PostOp(a)) }
        }
        ops += postOps
        // A full-size second operand fixes the destination layout (oneDNN matches them), and a plain operand drags
        // the convolution onto a slow plain-layout kernel. Ask for the layout the convolution prefers on its own
        // and reorder the operand to it instead.
        let hasFullOperand = ops.contains { if case .binary(_, let o) = $0 { shapes[o] == outShape } else { false } }
        if dstLayout == nil, hasFullOperand {
            let probe = PrimitiveAttributes.plain
            let preferred: dnnl_memory_desc_t?
            switch kind {
            case .conv2d(let p):
                preferred = try? convolution(p, input: shapes[x], output: outShape, probe, node.name, dst: nil,
                                             weightsNeeded: false, blocked: false).0
                    .query(dnnl_query_dst_md)
            case .deconv2d(let p):
                preferred = try? deconvolution(p, input: shapes[x], output: outShape, probe, node.name, dst: nil, weightsNeeded: false).0
                    .query(dnnl_query_dst_md)
            case .linear:
                preferred = nil
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
            switch kind {
            case .conv2d(let p):
                (pd, weightsMemory, biasMemory) = try convolution(p, input: shapes[x], output: outShape, attributes, name,
                                                                  dst: dstLayout, blocked: !hasBinary)
            case .deconv2d(let p):
                (pd, weightsMemory, biasMemory) = try deconvolution(p, input: shapes[x], output: outShape, attributes, name,
                                                                    dst: dstLayout)
            case .linear(let l):
                (pd, weightsMemory, biasMemory) = try innerProduct(l, input: shapes[x], attributes, name)
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
    mutating func activateInPlace(_ a: Activation, _ memory: Memory, name: String) throws {
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

    mutating func convolution(_ p: Conv2d, input: Shape, output: Shape, _ attr: PrimitiveAttributes,
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
               MD.size(wino.scratchpad) <= scratchpadLimit {
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
    func winogradPays(_ p: Conv2d, output: Shape) -> Bool {
        winogradEligible(p, output: output) && DNNLBackend.winogradTilesSplitWell(output)
    }

    /// Everything `winogradPays` asks except how the output's tiles split.
    func winogradEligible(_ p: Conv2d, output: Shape) -> Bool {
        precision == .fp32 && Self.winogradEligible(p, output: output)
    }

    /// The shape conditions of `winogradEligible` (fp32 aside).
    static func winogradEligible(_ p: Conv2d, output: Shape) -> Bool {
        p.groups == 1 && p.kernelH == 3 && p.kernelW == 3 && p.strideH == 1 && p.strideW == 1
            && p.dilationH == 1 && p.dilationW == 1 && p.inChannels % 16 == 0 && p.outChannels % 16 == 0
            && output.h * output.w >= DNNLBackend.winogradMinimumPixels
    }

    /// Two row bands of `output`, each a whole number of 4-row tiles except the last, whose Winograd tiles both split
    /// well and are large enough for Winograd to pay (nil: no such split).
    static func winogradBands(_ output: Shape) -> [Range<Int>]? {
        let tilesH = (output.h + 3) / 4
        func good(_ rows: Int) -> Bool {
            rows * output.w >= DNNLBackend.winogradMinimumPixels
                && DNNLBackend.winogradTilesSplitWell(Shape(n: output.n, c: output.c, h: rows, w: output.w))
        }
        guard tilesH >= 2 else { return nil }
        for d in 0...(tilesH / 2) {
            for t in [tilesH / 2 - d, tilesH / 2 + d] where t >= 1 && t < tilesH {
                if good(4 * t), good(output.h - 4 * t) { return [0..<(4 * t), (4 * t)..<output.h] }
            }
        }
        return nil
    }

    /// A 3x3 convolution as one Winograd primitive per row band: each band's input rows (with the halo the kernel
    /// needs, and the convolution's own zero padding only at the true top and bottom) are copied into a dense
    /// buffer, convolved, and copied into the band's rows of the output. Every output value is computed from the
    /// same inputs as by one primitive, so only rounding differs. `fused` are Winograd-fusable post-ops, `separate`
    /// an activation applied afterwards. Returns false (having emitted nothing) when oneDNN does not give Winograd
    /// kernels for the bands.
    mutating func lowerBandedWinograd(_ head: ValueID, _ p: Conv2d, fused: [PostOp], separate: Activation?,
                                      as result: ValueID, bands: [Range<Int>]) throws -> Bool {
        let node = graph.nodes[head]
        let x = node.inputs[0]
        let inShape = shapes[x], outShape = shapes[head]
        var plans: [(pd: PrimitiveDescriptor, rows: Range<Int>, input: Range<Int>)] = []
        for band in bands {
            let top = band.lowerBound - p.padding.top, bottom = band.upperBound - 1 - p.padding.top + p.kernelH
            let rows = max(0, top)..<min(inShape.h, bottom)
            var q = p
            q.padding = Padding(top: rows.lowerBound - top, left: p.padding.left, bottom: bottom - rows.upperBound,
                                right: p.padding.right)
            let attributes = try PrimitiveAttributes()
            for op in fused {
                guard case .eltwise(let alg, let alpha, let beta) = op else { return false }
                try attributes.appendEltwise(alg, alpha: alpha, beta: beta)
            }
            try attributes.commit()
            let bandIn = Shape(n: inShape.n, c: inShape.c, h: rows.count, w: inShape.w)
            let bandOut = Shape(n: outShape.n, c: outShape.c, h: band.count, w: outShape.w)
            guard let (pd, _, _) = try? convolution(q, input: bandIn, output: bandOut, attributes, node.name + ".band",
                                                    dst: try MD.tagged(bandOut.dims, dnnl_nChw16c), weightsNeeded: false),
                  pd.implementation.contains("wino") else { return false }
            plans.append((pd, band, rows))
        }
        let inDesc = try MD.tagged(inShape.dims, dnnl_nChw16c), outDesc = try MD.tagged(outShape.dims, dnnl_nChw16c)
        let (source, _) = try useRef(x, as: inDesc)
        let dst = output(result, outDesc)
        let g = p.groups
        let wDims = g == 1 ? p.weight.dims : [g, p.outChannels / g] + Array(p.weight.dims[1...])
        let bias = try p.bias.map { try permanentMemory(try MD.tagged([p.outChannels], dnnl_x), data: $0) }
        var weightMemory: Memory?
        for (k, plan) in plans.enumerated() {
            let wanted = plan.pd.query(dnnl_query_weights_md)
            if weightMemory == nil || !MD.equal(weightMemory!.desc, wanted) {
                weightMemory = try weights(p.weight.data, plain: try MD.tagged(wDims, dnnl_oihw), wanted: wanted)
            }
            let name = "\(node.name).band\(k)"
            let bandIn = Shape(n: inShape.n, c: inShape.c, h: plan.input.count, w: inShape.w)
            let bandOut = Shape(n: outShape.n, c: outShape.c, h: plan.rows.count, w: outShape.w)
            let from = view(source, try MD.submemory(inDesc, dims: bandIn.dims, offsets: [0, 0, plan.input.lowerBound, 0]))
            let (_, src) = newTemp(plan.pd.query(dnnl_query_src_md))
            try reorder(from: from, to: src, name: name + ".in")
            let (_, out) = newTemp(plan.pd.query(dnnl_query_dst_md))
            var args: [(Int32, Memory)] = [(DNNL_ARG_SRC, src), (DNNL_ARG_WEIGHTS, weightMemory!), (DNNL_ARG_DST, out)]
            if let bias { args.append((DNNL_ARG_BIAS, bias)) }
            try emit(plan.pd, name: name, args: args)
            let to = view(.value(result), try MD.submemory(outDesc, dims: bandOut.dims, offsets: [0, 0, plan.rows.lowerBound, 0]))
            try reorder(from: out, to: to, name: name + ".out")
        }
        if let separate { try activateInPlace(separate, dst, name: node.name + ".activation") }
        return true
    }

    mutating func deconvolution(_ p: Deconv2d, input: Shape, output: Shape, _ attr: PrimitiveAttributes,
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

    mutating func innerProduct(_ l: Linear, input: Shape, _ attr: PrimitiveAttributes,
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
}
