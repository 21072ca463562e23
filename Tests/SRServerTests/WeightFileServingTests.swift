import Foundation
import Hummingbird
import HummingbirdTesting
import SRBackendDNNL
import SREngine
import SRImageIO
import SRServer
import SRTestSupport
import Testing

/// `enhance serve -m FILE.pth`: a PyTorch / safetensors weight file served like a shipped model.
@Suite("Serving weight files")
struct WeightFileServingTests {
    /// Tiny PyTorch checkpoints written by scripts/make_arch_fixtures.py.
    static func fixture(_ name: String) -> String {
        TestPaths.architectureFixtures.appendingPathComponent(name).path
    }

    @Test("a .pth default model is listed under its file name, described from its architecture and upscales")
    func pthDefault() async throws {
        // An empty models directory: the manifest's models are listed as not installed, the file is served.
        let dir = try temporaryDirectory("enhance-models")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var c = ServerConfiguration()
        c.defaultModel = Self.fixture("msrresnet_x4.pth")
        c.threadsPerWorker = 1
        c.backends = [DNNLBackend(threads: 1)]
        let server = EnhanceServer(configuration: c, store: ModelStore(directory: dir))
        #expect(server.catalog.defaultID == "msrresnet_x4")
        try await server.application().test(.router) { client in
            try await waitReady(client)
            let ready = try await call(client, .get, "/readyz")
            #expect(ready.json["models"] as? [String] == ["msrresnet_x4"])
            let metadata = try await call(client, .get, "/model/metadata")
            #expect(metadata.json["id"] as? String == "msrresnet_x4")
            #expect((metadata.json["description"] as? String)?.contains("MSRResNet x4") == true, "\(metadata.json)")
            let models = try await call(client, .get, "/v1/models")
            #expect(models.json["default"] as? String == "msrresnet_x4")
            let list = models.json["models"] as? [[String: Any]] ?? []
            #expect(list.count == ModelManifest.embedded.models.count + 1)
            let one = try await call(client, .get, "/v1/models/msrresnet_x4")
            #expect(one.json["architecture"] as? String == "MSRResNet" && one.json["scale"] as? Int == 4)
            #expect(one.json["installed"] as? Bool == true && one.json["loaded"] as? Bool == true)
            // A shipped model that is not installed here: 409, the file's model still serves.
            let (h8, b8) = multipart([("image", "small.png", try TestImages.png(width: 8, height: 8))])
            let missing = try await call(client, .post, "/v1/upscale?model=span-x4", headers: h8, body: b8)
            #expect(missing.status == .conflict)

            let (headers, body) = multipart([("image", "photo.png", try TestImages.png(width: 20, height: 14))])
            let r = try await call(client, .post, "/model/predict", headers: headers, body: body)
            #expect(r.status == .ok && r.header("X-Enhance-Model") == "msrresnet_x4")
            #expect(try imageSize(r.bodyBytes) == (80, 56))
        }
    }

    @Test("weight files that cannot be served are refused with the reason")
    func refusals() throws {
        let store = ModelStore(directory: FileManager.default.temporaryDirectory.path + "/enhance-none-\(UUID().uuidString)")
        #expect { try ModelCatalog(store: store, defaultModel: Self.fixture("vgg_discriminator.pth")) } throws: { error in
            "\(error)".contains("not an upscaler")
        }
        #expect { try ModelCatalog(store: store, defaultModel: "/nonexistent/model.safetensors") } throws: { error in
            "\(error)".contains("/nonexistent/model.safetensors")
        }
        // The command refuses them before it listens, with the reason and a non-zero status.
        for (model, reason) in [(Self.fixture("vgg_discriminator.pth"), "not an upscaler"),
                                ("/nonexistent/model.pth", "no such file"), ("no-such-model", "unknown model")] {
            let r = try enhance(["serve", "-m", model, "--port", "1"])
            #expect(r.status != 0 && r.stderr.contains(reason), "\(model): \(r.stderr)")
        }
        // A manifest id is served as it is.
        let plain = try ModelCatalog(store: store, defaultModel: "span-x4")
        #expect(plain.defaultID == "span-x4" && plain.source("span-x4") == "span-x4")
        #expect(plain.entries.count == ModelManifest.embedded.models.count)
    }
}
