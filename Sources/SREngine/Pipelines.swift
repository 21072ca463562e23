import SRCore

/// Host-side pre- and post-processing of the model families, reproducing the reference tools exactly
/// (see `docs/ncnn-pipelines.md`).
enum Pipelines {
    /// Real-ESRGAN, SRVGGNetCompact and SPAN pad 10 px by reflection on every side.
    static let esrganPadding = 10

    /// Real-CUGAN pads 18 / 14 / 19 px for x2 / x3 / x4.
    static func cuganPadding(scale: Int) -> Int { [2: 18, 3: 14, 4: 19][scale] ?? 18 }

    /// Real-CUGAN rounds the padded size up to a multiple of 2 (x2, x4) or 4 (x3) at the bottom and right.
    static func cuganAlignment(scale: Int) -> Int { scale == 2 || scale == 4 ? 2 : 4 }

    struct Plan {
        var top: Int, left: Int, bottom: Int, right: Int
        /// Where the wanted output starts inside the network output.
        var originY: Int, originX: Int
    }

    /// - Parameters:
    ///   - alignment: the network's input-size multiple (`LoadedModel.alignment`; used by `.plain`).
    ///   - window: whether a padded window size suits the backend (`LoadedModel.suitsBackend`). The Real-ESRGAN
    ///     pipeline extends its reflection at the bottom and right by up to 12 px until it does (the extra output
    ///     is cropped away; it only changes how far the reflected border reaches).
    static func plan(_ pipeline: ModelManifest.Pipeline, scale: Int, height: Int, width: Int, alignment: Int = 1,
                     window: ((Int, Int) -> Bool)? = nil) -> Plan {
        switch pipeline {
        case .realesrgan:
            let p = esrganPadding
            var bottom = p, right = p
            if let window, !window(height + 2 * p, width + 2 * p) {
                search: for extra in 1...12 {
                    for (b, r) in [(extra, 0), (0, extra), (extra, extra)] where window(height + 2 * p + b, width + 2 * p + r) {
                        bottom += b
                        right += r
                        break search
                    }
                }
            }
            return Plan(top: p, left: p, bottom: bottom, right: right, originY: p * scale, originX: p * scale)
        case .realcugan:
            let p = cuganPadding(scale: scale), m = cuganAlignment(scale: scale)
            let pb = p + ((height + m - 1) / m * m - height), pr = p + ((width + m - 1) / m * m - width)
            return Plan(top: p, left: p, bottom: pb, right: pr, originY: 0, originX: 0)
        case .plain:
            let m = max(alignment, 1)
            return Plan(top: 0, left: 0, bottom: (height + m - 1) / m * m - height, right: (width + m - 1) / m * m - width,
                        originY: 0, originX: 0)
        }
    }

    /// Mirror index without repeating the edge (`reflect`), folding as often as needed for tiny images.
    @inline(__always)
    static func reflect(_ i: Int, _ n: Int) -> Int {
        guard n > 1 else { return 0 }
        let period = 2 * (n - 1)
        var k = i % period
        if k < 0 { k += period }
        return k < n ? k : period - k
    }

    /// Pads a `[1, c, h, w]` tensor by reflection on the plan's four sides.
    static func pad(_ t: Tensor, _ plan: Plan) -> Tensor {
        let s = t.shape
        let oh = s.h + plan.top + plan.bottom, ow = s.w + plan.left + plan.right
        var out = [Float](repeating: 0, count: s.c * oh * ow)
        let columns = (0..<ow).map { reflect($0 - plan.left, s.w) }
        t.data.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for c in 0..<s.c {
                    for y in 0..<oh {
                        let srow = (c * s.h + reflect(y - plan.top, s.h)) * s.w, drow = (c * oh + y) * ow
                        for x in 0..<ow { dst[drow + x] = src[srow + columns[x]] }
                    }
                }
            }
        }
        return Tensor(dims: [1, s.c, oh, ow], data: out)
    }

    /// Real-CUGAN x4 networks predict a residual: add the nearest 4x upsampling of the unpadded input region.
    static func addCUGANResidual(_ graph: Graph, padding p: Int) -> Graph {
        var g = graph
        let input = g.inputs[0], net = g.outputs[0]
        let inner = g.add(.crop(Crop(start: [0, p, p], end: [0, -p, -p])), [input], name: "cugan_residual_crop")
        let up = g.add(.resize(Resize(mode: .nearest, scaleH: 4, scaleW: 4)), [inner], name: "cugan_residual_upsample")
        g.outputs = [g.add(.binary(.add), [net, up], name: "cugan_residual_add")]
        return g
    }
}
