import Foundation
import Testing
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
