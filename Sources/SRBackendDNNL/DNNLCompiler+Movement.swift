internal import CDNNL
import Dispatch
import SRCore
import SRBackendReference

/// Data movement between image values: concatenation, crop and pixel (un)shuffle.
extension DNNLCompiler {
    // MARK: - Data movement

    mutating func lowerConcat(_ id: ValueID) throws {
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
    mutating func lowerCrop(_ id: ValueID, _ c: Crop) throws {
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
    mutating func lowerShuffle(_ id: ValueID, _ r: Int, unshuffle: Bool, mode: PixelShuffleMode) throws {
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
}
