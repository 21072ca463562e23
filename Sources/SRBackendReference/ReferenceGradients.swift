public import SRCore

/// Convolution passes of training as direct loops: the oracle `DNNLGradientKernels` is held to. Any batch size,
/// groups, strides, dilations and asymmetric padding.
public final class ReferenceGradientKernels: GradientKernels {
    public init() {}

    public func convolutionForward(_ x: Tensor, _ conv: Conv2d, output: Shape) throws -> Tensor {
        var plain = conv
        plain.activation = nil
        return ReferenceKernels.conv2d(x, plain, output)
    }

    /// Calls `body(n, oc, oy, ox, ic, iy, ix, weightIndex)` for every in-bounds product of the convolution.
    @inline(__always)
    func forEachProduct(_ p: Conv2d, input i: Shape, output o: Shape,
                        _ body: (_ outIndex: Int, _ inIndex: Int, _ weightIndex: Int, _ oc: Int) -> Void) {
        let icg = p.weight.dims[1], ocg = p.outChannels / p.groups, kh = p.kernelH, kw = p.kernelW
        for n in 0..<o.n { for oc in 0..<o.c {
            let group = oc / ocg
            for oy in 0..<o.h { for ox in 0..<o.w {
                let outIndex = ((n * o.c + oc) * o.h + oy) * o.w + ox
                for icl in 0..<icg { for ky in 0..<kh { for kx in 0..<kw {
                    let iy = oy * p.strideH - p.padding.top + ky * p.dilationH
                    let ix = ox * p.strideW - p.padding.left + kx * p.dilationW
                    guard iy >= 0, iy < i.h, ix >= 0, ix < i.w else { continue }
                    let ic = group * icg + icl
                    body(outIndex, ((n * i.c + ic) * i.h + iy) * i.w + ix, ((oc * icg + icl) * kh + ky) * kw + kx, oc)
                } } }
            } }
        } }
    }

    public func convolutionBackwardData(_ dy: Tensor, _ conv: Conv2d, input: Shape) throws -> Tensor {
        var dx = [Float](repeating: 0, count: input.count)
        let w = conv.weight.data, g = dy.data
        forEachProduct(conv, input: input, output: dy.shape) { o, i, k, _ in dx[i] += g[o] * w[k] }
        return Tensor(dims: input.dims, data: dx)
    }

    public func convolutionBackwardWeights(_ x: Tensor, _ dy: Tensor, _ conv: Conv2d) throws -> (weight: [Float], bias: [Float]?) {
        var dw = [Float](repeating: 0, count: conv.weight.count)
        let xs = x.data, g = dy.data
        forEachProduct(conv, input: x.shape, output: dy.shape) { o, i, k, _ in dw[k] += g[o] * xs[i] }
        guard conv.bias != nil else { return (dw, nil) }
        let o = dy.shape, plane = o.h * o.w
        var db = [Float](repeating: 0, count: o.c)
        for n in 0..<o.n { for c in 0..<o.c { for j in 0..<plane { db[c] += g[(n * o.c + c) * plane + j] } } }
        return (dw, db)
    }
}
