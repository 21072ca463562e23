internal import CDNNL
import Dispatch
import SRCore
import SRBackendReference

/// Resampling and pooling.
extension DNNLCompiler {
    mutating func lowerResize(_ id: ValueID, _ r: Resize) throws {
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

    mutating func lowerPool(_ id: ValueID, _ p: Pool) throws {
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
}
