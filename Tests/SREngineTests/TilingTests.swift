import Foundation
import Testing
import SRTestSupport
import SRCore
import SRImageIO
@testable import SREngine

@Suite("Tiling")
struct TilingTests {
    @Test("window starts cover the axis with equal windows and at least the requested overlap",
          arguments: [(100, 32, 8), (33, 32, 8), (32, 32, 8), (1000, 200, 32), (517, 64, 16)])
    func starts(length: Int, tile: Int, overlap: Int) {
        let s = Tiler.starts(length: length, tile: min(tile, length), overlap: overlap)
        #expect(s.first == 0)
        #expect(s.last! + min(tile, length) == length)
        for (a, b) in zip(s, s.dropFirst()) {
            #expect(b > a)
            #expect(a + tile - b >= overlap, "overlap \(a + tile - b) < \(overlap)")
        }
    }

    @Test("blended tiles of a local operation reproduce the whole-image result")
    func exactForLocalOps() throws {
        var rng = SeededGenerator(seed: 17)
        let h = 37, w = 53, scale = 3
        let image = Tensor.random(dims: [1, 2, h, w], in: 0...1, using: &rng)
        // Nearest upscaling: each output pixel depends on one input pixel, so tiles must agree exactly.
        func nearest(_ y0: Int, _ x0: Int, _ th: Int, _ tw: Int) -> Tensor {
            var out = [Float](repeating: 0, count: 2 * th * scale * tw * scale)
            for c in 0..<2 { for y in 0..<(th * scale) { for x in 0..<(tw * scale) {
                out[(c * th * scale + y) * tw * scale + x] = image.data[(c * h + y0 + y / scale) * w + x0 + x / scale]
            } } }
            return Tensor(dims: [1, 2, th * scale, tw * scale], data: out)
        }
        let whole = nearest(0, 0, h, w)
        var tiled = [Float](repeating: -1, count: whole.count)
        var emitted = 0
        try Tiler(height: h, width: w, scale: scale, tile: 16, overlap: 5).run(channels: 2, region: { y0, x0, th, tw in
            nearest(y0, x0, th, tw)
        }, emit: { first, rows in
            #expect(first == emitted, "rows must stream in order")
            emitted += rows.shape.h
            for c in 0..<2 { for r in 0..<rows.shape.h { for x in 0..<(w * scale) {
                tiled[(c * h * scale + first + r) * w * scale + x] = rows.data[(c * rows.shape.h + r) * w * scale + x]
            } } }
        })
        #expect(emitted == h * scale)
        var worst: Float = 0
        for (a, b) in zip(tiled, whole.data) { worst = max(worst, abs(a - b)) }
        #expect(worst < 1e-5)
    }

    /// A real photo from the evaluation sets beside the repository (read at run time, never committed).
    static func photo(side: Int) throws -> Image {
        let path = Fixtures.repository.deletingLastPathComponent().appendingPathComponent("shared/sr-testsets/Set14/baboon.png").path
        let full = try ImageIO.decode(path: path)
        var px = [Float]()
        for c in 0..<3 { for y in 0..<side { for x in 0..<side { px.append(full.pixels[(c * full.height + y + 100) * full.width + x + 100]) } } }
        return Image(width: side, height: side, channels: 3, pixels: px)
    }

    @Test("tiled and untiled real-model outputs agree (PSNR >= 45 dB)",
          arguments: [("realesrgan-x4plus", 160, 64), ("realesr-animevideov3-x4", 160, 48),
                      ("realcugan-se-x2-conservative", 256, 64), ("realcugan-se-x4-conservative", 160, 48)])
    func tiledMatchesWhole(id: String, side: Int, tile: Int) throws {
        let engine = Engine()
        guard engine.store.isInstalled(id) else { throw ModelsMissing(ids: [id], directory: engine.store.directory) }
        let model = try engine.model(id)
        let image = try Self.photo(side: side)
        let whole = try engine.upscale(image, with: model, options: UpscaleOptions(tileSize: 0)).image
        let tiled = try engine.upscale(image, with: model, options: UpscaleOptions(tileSize: tile)).image
        // The windows must really be smaller than the image, or this would compare the whole image with itself.
        #expect(tile + 2 * UpscaleOptions().context < side)
        let value = psnr8(whole, tiled)
        print("tiling \(id) \(side)px tile \(tile): PSNR tiled vs whole \(String(format: "%.2f", value)) dB")
        #expect(value >= 45, "\(id): \(value) dB")
    }

    @Test("the tile size follows the memory budget")
    func budget() throws {
        let engine = Engine()
        guard engine.store.isInstalled("span-x2") else { throw ModelsMissing(ids: ["span-x2"], directory: engine.store.directory) }
        let model = try engine.model("span-x2")
        let small = try engine.tileSize(for: model, height: 4000, width: 3000, options: UpscaleOptions(maxMemory: 64 << 20))
        let large = try engine.tileSize(for: model, height: 4000, width: 3000, options: UpscaleOptions(maxMemory: 1 << 30))
        #expect(small != nil && large != nil && small! < large!)
        #expect(try engine.tileSize(for: model, height: 40, width: 30, options: UpscaleOptions()) == nil)
    }
}
