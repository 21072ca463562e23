import Testing
import SRTestSupport
import SRCore
import SRImageIO
@testable import SREngine

@Suite("Engine options: output size, alpha modes, self-ensemble", .serialized)
struct EngineOptionsTests {
    static let engine = Engine()

    func model(_ id: String = "span-x2") throws -> LoadedModel {
        guard Self.engine.store.isInstalled(id) else { throw ModelsMissing(ids: [id], directory: Self.engine.store.directory) }
        return try Self.engine.model(id)
    }

    func picture(width: Int = 40, height: Int = 30, channels: Int = 3) -> Image {
        var px = [Float]()
        for c in 0..<channels { for y in 0..<height { for x in 0..<width {
            px.append(c == 3 || (channels == 2 && c == 1) ? (x < width / 2 ? 1 : 0.25) : Float((x * 5 + y * 3 + c * 70) % 97) / 97)
        } } }
        return Image(width: width, height: height, channels: channels, pixels: px)
    }

    @Test("the output size grammar reaches exact sizes, up and down, through the resampler",
          arguments: [("native", 80, 60), ("2.5", 100, 75), ("100:0", 100, 75), ("33:-2", 33, 24), ("long:50", 50, 38), ("1", 40, 30)])
    func outputSize(text: String, width: Int, height: Int) throws {
        let m = try model()
        let out = try Self.engine.upscale(picture(), with: m, options: UpscaleOptions(outputSize: try OutputSize(parsing: text)))
        #expect(out.width == width && out.height == height)
    }

    @Test("an output size beyond the pixel limit is a named error")
    func tooLarge() throws {
        let m = try model()
        #expect(throws: EngineError.self) {
            _ = try Self.engine.upscale(picture(), with: m, options: UpscaleOptions(outputSize: .exact(width: 100_000, height: 100_000)))
        }
    }

    @Test("alpha through the model or the resampler keeps an opaque/transparent split; gray+alpha stays two bands",
          arguments: AlphaMode.allCases)
    func alpha(mode: AlphaMode) throws {
        let m = try model()
        for channels in [2, 4] {
            let out = try Self.engine.upscale(picture(channels: channels), with: m, options: UpscaleOptions(alpha: mode))
            #expect(out.bands == channels)
            let a = channels - 1
            #expect(out.value(x: 2, y: 10, band: a) > 0.97)
            #expect(abs(out.value(x: 77, y: 10, band: a) - 0.25) < 0.03)
        }
    }

    @Test("flips and transposes invert exactly")
    func transforms() {
        var rng = SeededGenerator(seed: 4)
        let t = Tensor.random(dims: [1, 2, 3, 5], using: &rng)
        for tr in Transform.all { #expect(tr.inverse(tr.apply(t)) == t, "\(tr)") }
        #expect(Set(Transform.all.map { $0.apply(t).data }).count == 8)
    }

    @Test("self-ensemble stays close to the plain output but is not the same computation")
    func tta() throws {
        let m = try model()
        let image = try TilingTests.photo(side: 40)
        let plain = try Self.engine.upscale(image, with: m).image
        let ensemble = try Self.engine.upscale(image, with: m, options: UpscaleOptions(tta: true)).image
        let value = psnr8(plain, ensemble)
        print("TTA vs plain on a photo: \(value) dB")
        #expect(value > 30 && value < 80, "PSNR plain vs TTA \(value)")
    }

    @Test("tiling with the memory budget gives the same result as an explicit whole-image run for small images")
    func budgetWholeImage() throws {
        let m = try model()
        let a = try Self.engine.upscale(picture(), with: m)
        let b = try Self.engine.upscale(picture(), with: m, options: UpscaleOptions(tileSize: 0))
        #expect(a.bytes == b.bytes)
    }
}

@Suite("Weight blending", .serialized)
struct BlendTests {
    static let engine = Engine()

    @Test("blending interpolates weights; denoise levels pick or blend neighbours; mismatches are named errors")
    func blend() throws {
        let ids = ["realcugan-se-x2-denoise1x", "realcugan-se-x2-denoise2x", "realcugan-se-x2-no-denoise", "span-x2"]
        let missing = ids.filter { !Self.engine.store.isInstalled($0) }
        guard missing.isEmpty else { throw ModelsMissing(ids: missing, directory: Self.engine.store.directory) }
        let image = try TilingTests.photo(side: 40)
        let one = try Self.engine.upscale(image, with: try Self.engine.model(ids[0])).image
        let two = try Self.engine.upscale(image, with: try Self.engine.model(ids[1])).image
        let half = try Self.engine.upscale(image, with: try Self.engine.denoiseModel(scale: 2, level: 1.5)).image
        // Halfway weights give an output between the two levels, closer to each than they are to each other.
        let apart = psnr8(one, two)
        #expect(psnr8(half, one) > apart && psnr8(half, two) > apart, "\(psnr8(half, one)) \(psnr8(half, two)) vs \(apart)")
        #expect(try Self.engine.denoiseModel(scale: 2, level: 1).id == ids[0])
        #expect(try Self.engine.blendedModel(ids[0], ids[1], weight: 0).id == ids[0])
        #expect(throws: EngineError.self) { _ = try Self.engine.denoiseModel(scale: 2, level: 3.5) }
        #expect(throws: EngineError.self) { _ = try Self.engine.blendedModel(ids[2], "span-x2", weight: 0.5) }
    }
}
