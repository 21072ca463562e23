import Foundation
import Testing
import SRTestSupport
import SREngine
import SRImageIO

/// Every shipped model against ncnn's own output (fixtures from scripts/make_ncnn_fixtures.py).
@Suite("Model goldens vs ncnn", .serialized)
struct ModelGoldenTests {
    static let engine = Engine()
    static let ids = ModelManifest.embedded.models.map(\.id)

    @Test("output matches ncnn at >= 50 dB PSNR", arguments: ids)
    func matchesNCNN(id: String) throws {
        let store = Self.engine.store
        guard store.isInstalled(id) else { throw ModelsMissing(ids: [id], directory: store.directory) }
        let input = try ImageIO.decode(path: Fixtures.ncnn.appendingPathComponent("input.png").path)
        let expected = try ImageIO.decode(path: Fixtures.ncnn.appendingPathComponent("\(id).png").path)
        let model = try Self.engine.model(id)
        let output = try Self.engine.upscale(input, with: model).image
        #expect(output.width == input.width * model.scale && output.height == input.height * model.scale)
        #expect(output.width == expected.width && output.height == expected.height)
        let value = psnr8(output, expected)
        print("golden \(id): PSNR vs ncnn \(String(format: "%.2f", value)) dB")
        #expect(value >= 50, "\(id): PSNR vs ncnn \(value) dB")
    }
}

/// bf16 inference stays close to fp32 on every model family (the acceptance bar is 45 dB).
@Suite("bf16 vs fp32", .serialized)
struct PrecisionTests {
    static let fp32 = Engine()
    static let bf16 = Engine(precision: .bf16)

    @Test("PSNR(bf16, fp32) >= 45 dB", arguments: ["realesrgan-x4plus-anime", "realesr-animevideov3-x4", "span-x4",
                                                    "realcugan-se-x2-conservative", "realcugan-se-x4-conservative"])
    func closeToFP32(id: String) throws {
        let store = Self.fp32.store
        guard store.isInstalled(id) else { throw ModelsMissing(ids: [id], directory: store.directory) }
        let input = try ImageIO.decode(path: Fixtures.ncnn.appendingPathComponent("input.png").path)
        let reference = try Self.fp32.upscale(input, with: try Self.fp32.model(id)).image
        let fast = try Self.bf16.upscale(input, with: try Self.bf16.model(id)).image
        let value = psnr8(fast, reference)
        print("bf16 \(id): PSNR vs fp32 \(String(format: "%.2f", value)) dB")
        #expect(value >= 45 && value < 200, "\(id): PSNR(bf16, fp32) \(value) dB")
    }
}
