import Foundation
import Testing
import SRTestSupport
import SREngine

@Suite("Model manifest")
struct ManifestTests {
    @Test("ids are unique, the default exists, every model names a source, licence and pinned files")
    func consistency() throws {
        let m = ModelManifest.embedded
        let ids = m.models.map(\.id)
        #expect(Set(ids).count == ids.count)
        #expect(ids.contains(m.default))
        for required in ["realesrgan-x4plus", "realesrgan-x4plus-anime", "realesr-animevideov3-x2", "realesr-animevideov3-x3",
                         "realesr-animevideov3-x4", "span-x2", "span-x4", "realcugan-se-x2-conservative",
                         "realcugan-se-x3-conservative", "realcugan-se-x4-conservative"] {
            #expect(ids.contains(required), "\(required) missing")
        }
        for e in m.models {
            #expect(m.sources[e.source] != nil, "\(e.id): unknown source \(e.source)")
            #expect(!e.licence.isEmpty && e.licence != "unknown", "\(e.id): licence")
            #expect([2, 3, 4].contains(e.scale))
            #expect(Set(e.files.keys) == ["param", "bin"], "\(e.id)")
            for f in e.files.values {
                #expect(f.sha256.count == 64 && f.sha256.allSatisfy(\.isHexDigit), "\(e.id): sha256")
                #expect(f.size > 0)
            }
        }
        for s in m.sources.values { #expect(s.sha256.count == 64) }
    }

    @Test("model directory: ENHANCE_MODELS_DIR, then XDG_CACHE_HOME, then ~/.cache")
    func directory() {
        #expect(ModelStore.defaultDirectory(environment: ["ENHANCE_MODELS_DIR": "/m", "XDG_CACHE_HOME": "/x"]) == "/m")
        #expect(ModelStore.defaultDirectory(environment: ["XDG_CACHE_HOME": "/x", "HOME": "/h"]) == "/x/enhance/models")
        #expect(ModelStore.defaultDirectory(environment: ["HOME": "/h"]) == "/h/.cache/enhance/models")
    }

    @Test("resolving: unknown ids and uninstalled models are named errors with the fix")
    func resolve() throws {
        let store = ModelStore(directory: try temporaryDirectory())
        #expect(throws: EngineError.self) { try store.resolve("no-such-model") }
        do {
            _ = try store.resolve("span-x2")
            Issue.record("expected an error")
        } catch {
            #expect(error.description.contains("not installed"))
            #expect(error.description.contains("fetch_models.py span-x2"))
        }
        do {
            _ = try store.resolve("no-such-model")
        } catch {
            #expect(error.description.contains("realesrgan-x4plus"))
        }
    }
}
