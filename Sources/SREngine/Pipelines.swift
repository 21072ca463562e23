import SRCore
import SRModels

/// Host-side pre- and post-processing of a network window, as its `HostNeeds` declare them (reproducing the
/// reference tools exactly for the shipped families; see `docs/ncnn-pipelines.md`).
enum Pipelines {
    struct Plan {
        var top: Int, left: Int, bottom: Int, right: Int
        /// Where the wanted output starts inside the network output.
        var originY: Int, originX: Int
    }

    /// The padding of a `height` x `width` window.
    /// - Parameters:
    ///   - host: the model's host needs: `padding` reflected on every side, the unpadded sides rounded up to
    ///     `sizeMultiple` at the bottom and right, the output at the scaled padding or at the origin.
    ///   - window: whether a padded window size suits the backend (`Backend.prefersWindow`). With a
    ///     `backendSlack`, the reflection at the bottom and right grows by up to that many pixels until it does
    ///     (the extra output is cropped away; it only changes how far the reflected border reaches).
    static func plan(_ host: HostNeeds, scale: Int, height: Int, width: Int,
                     window: ((Int, Int) -> Bool)? = nil) -> Plan {
        let p = host.padding, m = host.sizeMultiple
        var bottom = p + ((height + m - 1) / m * m - height), right = p + ((width + m - 1) / m * m - width)
        if host.backendSlack > 0, let window, !window(height + p + bottom, width + p + right) {
            let h = height + p + bottom, w = width + p + right
            search: for extra in 1...host.backendSlack {
                for (b, r) in [(extra, 0), (0, extra), (extra, extra)] where window(h + b, w + r) {
                    bottom += b
                    right += r
                    break search
                }
            }
        }
        let origin = host.outputOrigin == .scaledPadding ? p * scale : 0
        return Plan(top: p, left: p, bottom: bottom, right: right, originY: origin, originX: origin)
    }

    /// The padding of a manifest pipeline family (`alignment`: the size multiple of `.plain`).
    static func plan(_ pipeline: ModelManifest.Pipeline, scale: Int, height: Int, width: Int, alignment: Int = 1,
                     window: ((Int, Int) -> Bool)? = nil) -> Plan {
        plan(pipeline == .plain ? .aligned(alignment) : pipeline.hostNeeds(scale: scale), scale: scale,
             height: height, width: width, window: window)
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

    /// Networks that predict a residual (Real-CUGAN x4): add the nearest `scale`x upsampling of the unpadded input
    /// region (the input without `padding` on every side).
    static func addNearestResidual(_ graph: Graph, padding p: Int, scale: Int) -> Graph {
        var g = graph
        let input = g.inputs[0], net = g.outputs[0]
        let inner = g.add(.crop(Crop(start: [0, p, p], end: [0, -p, -p])), [input], name: "cugan_residual_crop")
        let up = g.add(.resize(Resize(mode: .nearest, scaleH: Float(scale), scaleW: Float(scale))), [inner],
                       name: "cugan_residual_upsample")
        g.outputs = [g.add(.binary(.add), [net, up], name: "cugan_residual_add")]
        return g
    }
}
