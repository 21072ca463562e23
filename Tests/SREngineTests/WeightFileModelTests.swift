import Foundation
import Testing
import SRTestSupport
import SRCore
import SRImageIO
@testable import SREngine

/// `-m FILE` with PyTorch and safetensors files, using the architecture fixtures of SRModelsTests
/// (scripts/make_arch_fixtures.py).
@Suite("Models from PyTorch and safetensors files")
struct WeightFileModelTests {
    static let fixtures = Fixtures.repository.appendingPathComponent("Tests/SRModelsTests/Fixtures")
    static func path(_ name: String) -> String { fixtures.appendingPathComponent(name).path }

    func engine() throws -> Engine { Engine(store: ModelStore(directory: try temporaryDirectory())) }

    func testImage(width: Int, height: Int) -> Image {
        var px = [Float]()
        for c in 0..<3 { for y in 0..<height { for x in 0..<width { px.append(Float((x * 11 + y * 7 + c * 60) % 256) / 255) } } }
        return Image(width: width, height: height, channels: 3, pixels: px)
    }

    @Test("a .pth / .safetensors path resolves to a weight file; the model gets the detected scale and alignment")
    func load() throws {
        let engine = try engine()
        let resolved = try engine.store.resolve(Self.path("srvgg_x4.pth"))
        #expect(resolved.files == .weights(Self.path("srvgg_x4.pth")) && resolved.id == "srvgg_x4")
        let m = try engine.model(Self.path("rrdbnet_x2.safetensors"))
        #expect(m.scale == 2 && m.pipeline == .plain && m.alignment == 2 && m.architecture == "RRDBNet")
        #expect(Pipelines.plan(.plain, scale: 2, height: 9, width: 12, alignment: 4).bottom == 3)
    }

    @Test("a weight file installed in the models directory is used by its id; unknown ids still fail")
    func installedById() throws {
        let dir = try temporaryDirectory()
        try FileManager.default.copyItem(atPath: Self.path("rrdbnet_x2.safetensors"), toPath: dir + "/my-model.safetensors")
        let store = ModelStore(directory: dir)
        let resolved = try store.resolve("my-model")
        #expect(resolved.id == "my-model" && resolved.files == .weights(dir + "/my-model.safetensors"))
        #expect(try Engine(store: store).model("my-model").scale == 2)
        #expect(throws: EngineError.self) { try store.resolve("not-there") }
    }

    @Test("the engine runs the network as PyTorch does (rrdbnet_x2 fixture, 12x10 input)")
    func matchesPyTorch() throws {
        let m = try engine().model(Self.path("rrdbnet_x2.safetensors"))
        let n = 3 * 12 * 10
        let x = Tensor(dims: [1, 3, 12, 10], data: (0..<n).map { Float(($0 * 7919) % 1009) / 1008 })
        let y = try m.runNetwork(x)
        let data = try Data(contentsOf: Self.fixtures.appendingPathComponent("rrdbnet_x2.out.f32"))
        let expected = data.withUnsafeBytes { raw in
            (0..<(data.count / 4)).map { Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self))) }
        }
        #expect(y.dims == [1, 3, 24, 20])
        #expect(zip(y.data, expected).allSatisfy { abs($0 - $1) <= 1e-4 })
    }

    @Test("odd-sized images come back at scale x their size (alignment padding, luma models, whole and tiled)",
          arguments: [("rrdbnet_x2.safetensors", 2), ("rrdbnet_x1.pth", 1), ("espcn_x3.pth", 3), ("fsrcnn_x2.pth", 2),
                      ("srvgg_x4.pth", 4), ("edsr_x3.safetensors", 3), ("span_x2.pth", 2)])
    func oddSizes(file: String, scale: Int) throws {
        let engine = try engine()
        let model = try engine.model(Self.path(file))
        #expect(model.scale == scale)
        let image = testImage(width: 13, height: 9)
        let whole = try engine.upscale(image, with: model)
        #expect(whole.width == 13 * scale && whole.height == 9 * scale)
        let tiled = try engine.upscale(image, with: model, options: UpscaleOptions(tileSize: 8))
        #expect(tiled.width == whole.width && tiled.height == whole.height)
    }

    @Test("bad weight files are named model-file errors that name the path")
    func errors() throws {
        let engine = try engine()
        let dir = try temporaryDirectory()
        let text = dir + "/notes.pth"
        FileManager.default.createFile(atPath: text, contents: Data("not a checkpoint".utf8))
        #expect {
            try engine.model(text)
        } throws: { error in
            guard case EngineError.modelFile(text, .weights(.unknownFormat)) = error else { return false }
            return "\(error)".contains(text)
        }
        #expect {
            try engine.model(dir + "/missing.safetensors")
        } throws: { error in
            guard case EngineError.modelFile(_, .weights(.io(_, "no such file"))) = error else { return false }
            return true
        }
        #expect {
            try engine.model(Self.path("vgg_discriminator.pth"))
        } throws: { error in
            guard case EngineError.modelFile(_, .architecture(.unsupported("VGGStyleDiscriminator", _))) = error else {
                return false
            }
            return "\(error)".contains("does not produce an image")
        }
    }
}
