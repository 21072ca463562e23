import Foundation
import Testing
import SRTestSupport
import SRCore
import SRImageIO
@testable import SREngine

/// What a server needs from the engine under hostile load: a deadline that stops a pass between two ops, and
/// models that leave memory when clients name too many.
@Suite("Interrupted passes and unloaded models", .serialized)
struct InterruptionTests {
    func image(_ side: Int) -> Image {
        var px = [Float]()
        for c in 0..<3 { for y in 0..<side { for x in 0..<side { px.append(Float((x * 7 + y * 3 + c * 50) % 256) / 255) } } }
        return Image(width: side, height: side, channels: 3, pixels: px)
    }

    @Test("a cancellation raised during one whole-image pass stops it at the next op, not after the pass")
    func cancelMidPass() throws {
        let engine = Engine(threads: 2)
        guard engine.store.isInstalled("realesrgan-x4plus") else {
            throw ModelsMissing(ids: ["realesrgan-x4plus"], directory: engine.store.directory)
        }
        let model = try engine.model("realesrgan-x4plus")
        let input = image(96)
        // One uninterrupted pass, for scale (compiles too).
        let full = ContinuousClock().measure { _ = try? engine.upscale(input, with: model, options: UpscaleOptions(tileSize: 0)) }
        let cancellation = Cancellation()
        DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(150)) { cancellation.cancel() }
        let start = ContinuousClock.now
        #expect {
            _ = try engine.upscale(input, with: model, options: UpscaleOptions(tileSize: 0, cancellation: cancellation))
        } throws: { error in
            if case EngineError.cancelled = error { return true }
            return false
        }
        let stopped = ContinuousClock.now - start
        // Whole image = one pass: before, the run finished it (then reported success); now it stops within an op.
        #expect(stopped < full / 2, "stopped after \(stopped); a whole pass takes \(full)")
    }

    @Test("beyond the model memory budget the least recently used model is unloaded; the one in use stays")
    func leastRecentlyUsedModelsLeave() throws {
        let ids = ["span-x2", "span-x4", "realesr-animevideov3-x4"]
        let probe = ModelStore()
        let missing = ids.filter { !probe.isInstalled($0) }
        guard missing.isEmpty else { throw ModelsMissing(ids: missing, directory: probe.directory) }

        let unlimited = Engine(threads: 1)
        for id in ids { _ = try unlimited.model(id) }
        #expect(unlimited.loadedModels == ids)

        // A budget that holds about one model: each new model pushes the oldest out.
        let one = try Engine(threads: 1).model("span-x4").residentBytes
        let engine = Engine(threads: 1, modelMemory: one + one / 2)
        let first = try engine.model(ids[0])
        _ = try engine.upscale(image(32), with: first)
        _ = try engine.model(ids[1])
        #expect(engine.loadedModels == [ids[1]])
        _ = try engine.model(ids[2])
        #expect(engine.loadedModels == [ids[2]])
        // Asking again reloads it (and still works).
        let again = try engine.model(ids[0])
        #expect(try engine.upscale(image(16), with: again).width == 32)
        #expect(engine.loadedModels == [ids[0]])
    }
}
