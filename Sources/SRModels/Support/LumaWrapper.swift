public import SRCore

/// Runs a single-channel (luma) network on RGB images, as its authors evaluate it: RGB to BT.601 YCbCr (studio
/// swing, the MATLAB `rgb2ycbcr` convention), the network on Y, bicubic upsampling of Cb and Cr, and back to RGB.
///
/// Everything stays in the graph (1x1 convolutions, crops, a resize and a concat), so tiling, blending and every
/// backend work unchanged. Values are in `[0, 1]`; Y spans `[16, 235] / 255`.
public enum LumaWrapper {
    /// RGB -> (Y, Cb, Cr) rows over RGB in [0, 1], and the offsets.
    static let toYCbCr: [Float] = [65.481, 128.553, 24.966,
                                   -37.797, -74.203, 112.0,
                                   112.0, -93.786, -18.214].map { $0 / 255 }
    static let toYCbCrOffset: [Float] = [16, 128, 128].map { $0 / 255 }

    /// The inverse of `toYCbCr` (so a round trip is the identity up to rounding).
    static let toRGB: [Float] = invert3x3(toYCbCr)
    static var toRGBOffset: [Float] {
        (0..<3).map { r in -(0..<3).reduce(Float(0)) { $0 + toRGB[r * 3 + $1] * toYCbCrOffset[$1] } }
    }

    /// `network` (`[1, 1, H, W]` -> `[1, 1, H·scale, W·scale]`) as an RGB -> RGB graph.
    public static func wrap(_ network: Graph, scale: Int) -> Graph {
        var g = Graph()
        let rgb = g.add(.input, [], name: "input")
        let ycc = g.add(.conv2d(Conv2d(weight: Tensor(dims: [3, 3, 1, 1], data: toYCbCr), bias: toYCbCrOffset)),
                        [rgb], name: "rgb_to_ycbcr")
        let y = g.add(.crop(Crop(start: [0, 0, 0], end: [1, 0, 0])), [ycc], name: "luma")
        var map = [ValueID](repeating: -1, count: network.nodes.count)
        for (id, node) in network.nodes.enumerated() {
            if case .input = node.op {
                map[id] = y
            } else {
                map[id] = g.add(node.op, node.inputs.map { map[$0] }, name: node.name)
            }
        }
        let chroma = g.add(.crop(Crop(start: [1, 0, 0], end: [3, 0, 0])), [ycc], name: "chroma")
        let up = g.add(.resize(Resize(mode: .bicubic, scaleH: Float(scale), scaleW: Float(scale))), [chroma],
                       name: "chroma_upsample")
        let merged = g.add(.concat, [map[network.outputs[0]], up], name: "ycbcr")
        g.outputs = [g.add(.conv2d(Conv2d(weight: Tensor(dims: [3, 3, 1, 1], data: toRGB), bias: toRGBOffset)),
                           [merged], name: "ycbcr_to_rgb")]
        return g
    }

    /// The inverse of a row-major 3x3 matrix (by cofactors, in Double).
    static func invert3x3(_ m: [Float]) -> [Float] {
        let a = m.map(Double.init)
        func at(_ r: Int, _ c: Int) -> Double { a[r * 3 + c] }
        func cofactor(_ r: Int, _ c: Int) -> Double {
            let rs = (0..<3).filter { $0 != r }, cs = (0..<3).filter { $0 != c }
            let minor = at(rs[0], cs[0]) * at(rs[1], cs[1]) - at(rs[0], cs[1]) * at(rs[1], cs[0])
            return (r + c) % 2 == 0 ? minor : -minor
        }
        let det = (0..<3).reduce(0.0) { $0 + at(0, $1) * cofactor(0, $1) }
        // inverse[r][c] = cofactor(c, r) / det
        return (0..<9).map { Float(cofactor($0 % 3, $0 / 3) / det) }
    }
}
