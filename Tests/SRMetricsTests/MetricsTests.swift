import Foundation
import Testing
@testable import SRMetrics

/// Tolerances: resize results are compared in float against a float64 reference.
private let resizeTolerance: Float = 2e-3   // on 0...255 values
private let testSets = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .appendingPathComponent("../../../shared/sr-testsets").standardized.path

@Suite("MATLAB bicubic resize")
struct MatlabResizeTests {
    /// `factor`: > 0 upscale by it, < 0 downscale by its magnitude, 0 resize to the output size.
    struct Case: Decodable { var height, width, outHeight, outWidth, factor: Int; var input, output: [Double] }

    @Test("matches the float64 reference (scripts/sr_eval_reference.py): x1/2, x1/3, x1/4, x3, 9x8 -> 4x13")
    func reference() throws {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/imresize_cases.json")
        let cases = try JSONDecoder().decode([Case].self, from: Data(contentsOf: url))
        #expect(cases.count == 5)
        for c in cases {
            let image = PlanarImage(channels: 1, height: c.height, width: c.width, data: c.input.map(Float.init))
            let out = c.factor > 0 ? MatlabResize.upscale(image, by: c.factor)
                : c.factor < 0 ? MatlabResize.downscale(image, by: -c.factor)
                : MatlabResize.resize(image, height: c.outHeight, width: c.outWidth)
            var worst: Float = 0
            for (a, b) in zip(out.data, c.output) { worst = max(worst, abs(a - Float(b))) }
            #expect(out.height == c.outHeight && out.width == c.outWidth)
            #expect(worst <= resizeTolerance, "\(c.height)x\(c.width) -> \(c.outHeight)x\(c.outWidth): max |diff| \(worst)")
        }
    }

    @Test("weights of every output sample sum to one; a constant image stays constant")
    func partitionOfUnity() {
        for (n, m) in [(10, 3), (7, 21), (100, 25), (5, 5)] {
            let c = MatlabResize.contributions(input: n, output: m, scale: Double(m) / Double(n))
            for i in 0..<m {
                let sum = (0..<c.taps).reduce(Float(0)) { $0 + c.weights[i * c.taps + $1] }
                #expect(abs(sum - 1) < 1e-5)
                #expect((0..<c.taps).allSatisfy { (0..<n).contains(c.indices[i * c.taps + $0]) })
            }
        }
        let flat = PlanarImage(channels: 3, height: 9, width: 13, data: [Float](repeating: 77, count: 3 * 9 * 13))
        for out in [MatlabResize.downscale(flat, by: 3), MatlabResize.upscale(flat, by: 2)] {
            #expect(out.data.allSatisfy { abs($0 - 77) < 1e-3 })
        }
        #expect(MatlabResize.downscale(flat, by: 4).height == 3)   // ceil(9 / 4)
    }

    @Test("Keys cubic kernel with a = -0.5: interpolating, zero beyond 2")
    func kernel() {
        #expect(MatlabResize.cubic(0) == 1)
        #expect(MatlabResize.cubic(1) == 0 && MatlabResize.cubic(-2) == 0 && MatlabResize.cubic(2.5) == 0)
        #expect(abs(MatlabResize.cubic(0.5) - 0.5625) < 1e-12)
        #expect(abs(MatlabResize.cubic(1.5) + 0.0625) < 1e-12)
    }
}

@Suite("PSNR, SSIM and the SR protocol")
struct MetricsTests {
    func random(_ seed: UInt64, h: Int = 40, w: Int = 37) -> PlanarImage {
        var state = seed
        let data = (0..<(h * w)).map { _ -> Float in
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Float((state >> 33) % 256)
        }
        return PlanarImage(channels: 1, height: h, width: w, data: data)
    }

    @Test("PSNR: infinite for identical images, closed form for a constant offset, shave ignores the border")
    func psnr() {
        let a = random(1)
        #expect(Metrics.psnr(a, a) == .infinity)
        var b = a
        for i in b.data.indices { b.data[i] += 5 }
        #expect(abs(Metrics.psnr(a, b) - 10 * log10(255.0 * 255 / 25)) < 1e-9)
        var c = a
        for x in 0..<a.width { c[0, 0, x] = 0 }   // damage only the top row
        #expect(Metrics.psnr(a, c, border: 1) == .infinity)
        #expect(Metrics.psnr(a, c) < 40)
    }

    @Test("SSIM: 1 for identical images, symmetric, lower for noisier copies")
    func ssim() {
        let a = random(2), b = random(3)
        #expect(abs(Metrics.ssim(a, a) - 1) < 1e-12)
        #expect(abs(Metrics.ssim(a, b) - Metrics.ssim(b, a)) < 1e-12)
        var slightly = a, very = a
        for i in a.data.indices {
            slightly.data[i] = (a.data[i] * 0.9 + b.data[i] * 0.1).rounded()
            very.data[i] = (a.data[i] * 0.5 + b.data[i] * 0.5).rounded()
        }
        #expect(Metrics.ssim(a, slightly) > Metrics.ssim(a, very))
        #expect(Metrics.ssim(a, very) > Metrics.ssim(a, b))
    }

    @Test("luma: BT.601 16...235 for colour, a gray image is its own Y; quantise rounds and clamps")
    func lumaAndQuantize() {
        let rgb = PlanarImage(channels: 3, height: 1, width: 2, data: [255, 0, 255, 0, 255, 0])
        #expect(SRProtocol.luma(rgb).data == [235, 16])
        let gray = PlanarImage(channels: 1, height: 1, width: 2, data: [3, 200])
        #expect(SRProtocol.luma(gray).data == [3, 200])
        #expect(SRProtocol.quantize(PlanarImage(channels: 1, height: 1, width: 4, data: [-3, 2.5, 254.49, 300])).data
                == [0, 3, 254, 255])
        #expect(SRProtocol.modCrop(random(4, h: 10, w: 11), scale: 4).height == 8)
    }
}
