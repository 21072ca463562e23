/// The three convolution computations training needs. `DNNLConvolution` is the fast one; `ReferenceConvolution`
/// is the plain-Swift oracle the tests hold it to. Layouts: activations NCHW, weights OIHW, square kernels.
public protocol ConvolutionEngine: AnyObject {
    /// `y = conv(x, w) + b`.
    func forward(x: Variable, w: Variable, b: Variable?, stride: Int, padding: Int, output: TShape) throws -> [Float]
    /// d(loss)/dx from d(loss)/dy.
    func backwardData(dy: [Float], w: Variable, input: TShape, output: TShape, stride: Int, padding: Int) throws -> [Float]
    /// d(loss)/dw and d(loss)/db from x and d(loss)/dy.
    func backwardWeights(x: Variable, dy: [Float], weights: TShape, bias: Bool, output: TShape, stride: Int,
                         padding: Int) throws -> (dw: [Float], db: [Float]?)
}

extension ConvolutionEngine {
    static func outputSide(_ side: Int, kernel: Int, stride: Int, padding: Int) -> Int {
        (side + 2 * padding - kernel) / stride + 1
    }
}

/// Direct loops, the test oracle.
public final class ReferenceConvolution: ConvolutionEngine {
    public init() {}

    public func forward(x: Variable, w: Variable, b: Variable?, stride s: Int, padding p: Int, output o: TShape) -> [Float] {
        let i = x.shape, k = w.shape.h
        var y = [Float](repeating: 0, count: o.count)
        for n in 0..<o.n { for oc in 0..<o.c { for oy in 0..<o.h { for ox in 0..<o.w {
            var acc = b?.data[oc] ?? 0
            for ic in 0..<i.c { for ky in 0..<k { for kx in 0..<k {
                let iy = oy * s + ky - p, ix = ox * s + kx - p
                guard iy >= 0, iy < i.h, ix >= 0, ix < i.w else { continue }
                acc += x.data[((n * i.c + ic) * i.h + iy) * i.w + ix] * w.data[((oc * i.c + ic) * k + ky) * k + kx]
            } } }
            y[((n * o.c + oc) * o.h + oy) * o.w + ox] = acc
        } } } }
        return y
    }

    public func backwardData(dy: [Float], w: Variable, input i: TShape, output o: TShape, stride s: Int,
                             padding p: Int) -> [Float] {
        let k = w.shape.h
        var dx = [Float](repeating: 0, count: i.count)
        for n in 0..<o.n { for oc in 0..<o.c { for oy in 0..<o.h { for ox in 0..<o.w {
            let g = dy[((n * o.c + oc) * o.h + oy) * o.w + ox]
            for ic in 0..<i.c { for ky in 0..<k { for kx in 0..<k {
                let iy = oy * s + ky - p, ix = ox * s + kx - p
                guard iy >= 0, iy < i.h, ix >= 0, ix < i.w else { continue }
                dx[((n * i.c + ic) * i.h + iy) * i.w + ix] += g * w.data[((oc * i.c + ic) * k + ky) * k + kx]
            } } }
        } } } }
        return dx
    }

    public func backwardWeights(x: Variable, dy: [Float], weights ws: TShape, bias: Bool, output o: TShape,
                                stride s: Int, padding p: Int) -> (dw: [Float], db: [Float]?) {
        let i = x.shape, k = ws.h
        var dw = [Float](repeating: 0, count: ws.count)
        var db = bias ? [Float](repeating: 0, count: o.c) : nil
        for n in 0..<o.n { for oc in 0..<o.c { for oy in 0..<o.h { for ox in 0..<o.w {
            let g = dy[((n * o.c + oc) * o.h + oy) * o.w + ox]
            db?[oc] += g
            for ic in 0..<i.c { for ky in 0..<k { for kx in 0..<k {
                let iy = oy * s + ky - p, ix = ox * s + kx - p
                guard iy >= 0, iy < i.h, ix >= 0, ix < i.w else { continue }
                dw[((oc * i.c + ic) * k + ky) * k + kx] += g * x.data[((n * i.c + ic) * i.h + iy) * i.w + ix]
            } } }
        } } } }
        return (dw, db)
    }
}
