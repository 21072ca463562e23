import Testing
import SRTestSupport
import SRCore
import SREngine
import SRImageIO

@Suite("Engine: channels and alpha")
struct EngineTests {
    static let engine = Engine()

    func model() throws -> LoadedModel {
        guard Self.engine.store.isInstalled("span-x2") else {
            throw ModelsMissing(ids: ["span-x2"], directory: Self.engine.store.directory)
        }
        return try Self.engine.model("span-x2")
    }

    @Test("gray stays gray and RGBA keeps a resampled alpha plane")
    func channels() throws {
        let m = try model()
        let w = 20, h = 14
        let gray = Image(width: w, height: h, channels: 1, pixels: (0..<(w * h)).map { Float($0 % w) / Float(w) })
        let g = try Self.engine.upscale(gray, with: m).image
        #expect(g.channels == 1 && g.width == 2 * w && g.height == 2 * h)

        var px = [Float](repeating: 0.5, count: 3 * w * h)
        px += (0..<(w * h)).map { $0 % w < w / 2 ? 0 : 1 }   // alpha: left half transparent
        let rgba = Image(width: w, height: h, channels: 4, pixels: px)
        let out = try Self.engine.upscale(rgba, with: m).image
        #expect(out.channels == 4 && out.width == 2 * w)
        let plane = out.width * out.height
        let alpha = out.alphaTensor!.data
        #expect(alpha[0] < 0.01 && alpha[out.width - 1] > 0.99 && alpha.count == plane)
    }

    @Test("the same input shape reuses its compiled executable and gives identical output")
    func repeatable() throws {
        let m = try model()
        let image = Image(width: 16, height: 12, channels: 3, pixels: (0..<(3 * 16 * 12)).map { Float($0 % 17) / 17 })
        let a = try Self.engine.upscale(image, with: m)
        let b = try Self.engine.upscale(image, with: m)
        #expect(a.bytes == b.bytes)
    }
}
