import Foundation
import Testing
import SRTestSupport
import SRCore
@testable import SREngine

/// Real-ESRGAN's RRDBNet runs its 4x tail in row bands: the engine finds the cut in the shipped ncnn graph and the
/// banded run gives the whole run's output.
@Suite("Row-banded tails in the engine", .serialized)
struct RowBandEngineTests {
    static let engine = Engine()

    /// The installed model `id` (setup installs every model; a missing one fails with that instruction).
    func installed(_ id: String) throws -> LoadedModel {
        let store = Self.engine.store
        guard store.isInstalled(id) else { throw ModelsMissing(ids: [id], directory: store.directory) }
        return try Self.engine.model(id)
    }

    @Test("realesrgan-x4plus-anime: cut before the last upsampling; banded output equals the whole graph's")
    func bandedModel() throws {
        let model = try installed("realesrgan-x4plus-anime")
        let split = try #require(model.rowBands, "no row-local tail found in realesrgan-x4plus-anime")
        #expect(split.halo == 2 && split.rowScale == 4)
        var g = SeededGenerator(seed: 3)
        let input = Tensor.random(dims: [1, 3, 36, 28], in: 0...1, using: &g)
        // Whole images of this size are not banded with the default budget; a small one makes 4+ bands.
        #expect(model.bandPlan(for: input.shape) == nil)
        let plan = try #require(model.bandPlan(for: input.shape, bandBytes: 1 << 20))
        #expect(plan.value == Shape(c: 64, h: 36, w: 28) && plan.bands.count >= 4, "\(plan.bands)")
        let banded = try model.runBanded(input, plan)
        let whole = try model.executable(.model(input.shape)).run(input)
        #expect(banded.dims == whole.dims && banded.dims == [1, 3, 144, 112])
        var worst: Float = 0
        for (a, b) in zip(banded.data, whole.data) { worst = max(worst, abs(a - b)) }
        #expect(worst < 1e-4, "banded vs whole: \(worst)")
    }

    @Test("a 276x276 realesrgan-x4plus window runs its 2x and 4x layers in bands of at most 96 MiB")
    func defaultPlan() throws {
        let model = try installed("realesrgan-x4plus")
        let plan = try #require(model.bandPlan(for: Shape(c: 3, h: 276, w: 276)))
        #expect(plan.value == Shape(c: 64, h: 276, w: 276))
        // Two 64-channel maps of the window at 4x (the tail's largest convolution input and output).
        let windowBytes = 2 * 64 * (plan.windowRows * 4) * 1104 * 4
        #expect(windowBytes <= LoadedModel.bandBytes, "\(plan.windowRows) rows: \(windowBytes) bytes")
        #expect(plan.bands.count >= 4 && plan.windowRows % 4 == 0, "\(plan.bands)")
        // Equal bands: the tail rows computed twice (halos, the last window) stay under 15% of the map; the tail
        // is about 9% of realesrgan-x4plus's work, so this costs about 1%.
        #expect(plan.bands.count * plan.windowRows <= 276 * 115 / 100, "\(plan.bands)")
    }
}
