internal import CDNNL
import Dispatch
import SRCore
import SRBackendReference

/// Activations, binary ops and weighted sums, plus the blocked-layout loops oneDNN 2.6 lacks fast kernels for.
extension DNNLCompiler {
    // MARK: - Element-wise

    mutating func lowerActivation(_ id: ValueID, _ a: Activation) throws {
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

    mutating func lowerBinary(_ id: ValueID, _ b: BinaryOperator) throws {
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
        let src1: Memory
        if shapes[c] == out {
            src1 = try use(c, as: src0.desc)
        } else {
            // A broadcast operand of lower rank is the same bytes with leading ones (oneDNN wants equal ranks).
            let (ref, plain) = try useRef(c, as: try MD.plain(shapes[c]))
            let padded = [Int](repeating: 1, count: out.rank - shapes[c].rank) + shapes[c].dims
            src1 = padded.count == shapes[c].rank ? plain
                : view(ref, try MD.tagged(padded, MD.plainTag(rank: out.rank), MD.type(shapes[c].elementType)))
        }
        if b == .mul, out.rank == 4, out.n == 1, shapes[c] == Shape(c: out.c, h: 1, w: 1), src0.desc.data_type == dnnl_f32,
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

    mutating func lowerSum(_ id: ValueID, _ coefficients: [Float]) throws {
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

    mutating func blockedPReLU(_ slopes: [Float], from source: Memory, to destination: Memory, name: String) {
        let table = Self.channelVectors(channels: MD.dimensions(source.desc)[1]) { c in
            slopes.count == 1 ? slopes[0] : (c < slopes.count ? slopes[c] : 0)
        }
        actions.append(.kernel(name) {
            Self.blockedChannelLoop(.prelu, table: table, from: source, to: destination)
        })
    }

    /// `destination = source * scales[channel]` over an fp32 nChw16c activation of one image, with the `C` scales
    /// read at run time from `scales` (a plain `[1, C, 1, 1]` memory); `source` and `destination` may be the same.
    mutating func blockedChannelScale(scales: Memory, from source: Memory, to destination: Memory, name: String) {
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
    func inputIsBlocked16(_ desc: dnnl_memory_desc_t) -> Bool {
        guard desc.ndims == 4 else { return false }
        guard let blocked = try? MD.tagged(MD.dimensions(desc), dnnl_nChw16c, desc.data_type) else { return false }
        return MD.equal(blocked, desc)
    }
}
