import Foundation
import Testing
import SRTestSupport

@Suite("enhance eval")
struct EvalCommandTests {
    static let set5 = TestPaths.testSets.appendingPathComponent("Set5").path

    struct Report: Decodable {
        struct Row: Decodable { var image: String; var bicubicPSNR, bicubicSSIM: Double; var modelPSNR, modelSSIM: Double? }
        var scale: Int
        var model: String?
        var images: [Row]
        var mean: Row
    }

    @Test("bicubic only: the protocol's per-image and mean scores, as a table and as JSON")
    func bicubic() throws {
        let table = try enhance(["eval", "--hr", Self.set5, "--scale", "4"])
        #expect(table.status == 0, "\(table.stderr)")
        #expect(table.stdout.contains("baby.png") && table.stdout.contains("mean (5 images)  "))
        #expect(table.stdout.contains("28.42 dB"))
        let json = try enhance(["eval", "--hr", Self.set5, "--scale", "4", "--limit", "2", "--json"])
        #expect(json.status == 0, "\(json.stderr)")
        let report = try JSONDecoder().decode(Report.self, from: Data(json.stdout.utf8))
        #expect(report.images.map(\.image) == ["baby.png", "bird.png"])
        #expect(abs(report.images[0].bicubicPSNR - 31.77) < 0.01 && report.model == nil)
    }

    @Test("a model is scored beside bicubic on the same LR inputs")
    func model() throws {
        let r = try enhance(["eval", "--hr", Self.set5, "--scale", "2", "--limit", "2", "-m", "span-x2", "--json",
                             "--threads", "2"])
        #expect(r.status == 0, "\(r.stderr)")
        let report = try JSONDecoder().decode(Report.self, from: Data(r.stdout.utf8))
        #expect(report.model == "span-x2" && report.images.count == 2)
        for row in report.images {
            // A real x2 network on a clean bicubic LR: far above noise, and its SSIM a probability-like value.
            #expect((row.modelPSNR ?? 0) > 28, "\(row.image): \(row.modelPSNR ?? .nan) dB")
            #expect((0...1).contains(row.modelSSIM ?? -1))
        }
    }

    @Test("the shipped enhance-msrresnet-x4 reproduces its published Set5 score (docs/training.md)")
    func shippedModel() throws {
        // Run by id, as setup.sh installs it, from the committed file.
        let r = try enhance(["eval", "--hr", Self.set5, "--scale", "4", "-m", "enhance-msrresnet-x4", "--json",
                             "--threads", "2"])
        #expect(r.status == 0, "\(r.stderr)")
        let report = try JSONDecoder().decode(Report.self, from: Data(r.stdout.utf8))
        #expect(report.images.count == 5)
        #expect(abs((report.mean.modelPSNR ?? 0) - 31.29) < 0.01, "\(report.mean.modelPSNR ?? .nan) dB")
        #expect(abs((report.mean.modelSSIM ?? 0) - 0.8822) < 0.0005, "\(report.mean.modelSSIM ?? .nan)")
    }

    @Test("bad input: scale mismatch, a missing folder, an empty folder each fail with a specific message")
    func errors() throws {
        let mismatch = try enhance(["eval", "--hr", Self.set5, "--scale", "4", "-m", "span-x2"])
        #expect(mismatch.status != 0 && mismatch.stderr.contains("upscales x2 but --scale is 4"))
        let missing = try enhance(["eval", "--hr", "/nonexistent/folder"])
        #expect(missing.status != 0 && missing.stderr.contains("is not a folder"))
        let empty = try scratch()
        let none = try enhance(["eval", "--hr", empty])
        #expect(none.status != 0 && none.stderr.contains("no images"))
        let scale = try enhance(["eval", "--hr", Self.set5, "--scale", "1"])
        #expect(scale.status != 0 && scale.stderr.contains("--scale must be between 2 and 8"))
    }
}
