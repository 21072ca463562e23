import Foundation
import Testing
import SRTestSupport
import SRImageIO
import SRWeights
import SRModels

@Suite("enhance train --arch")
struct TrainArchitectureTests {
    /// T91 beside the repository (`../shared/sr-trainsets/T91`), the set `docs/training.md` trains on.
    static let t91 = TestPaths.repository.deletingLastPathComponent().appendingPathComponent("shared/sr-trainsets/T91").path

    @Test("span and compact train on T91 (the loss falls), export a model of that architecture, and upscale -m runs it",
          arguments: [("span", SPAN.name), ("compact", SRVGGNetCompact.name)])
    func trainExportUpscale(arch: String, architecture: String) throws {
        guard FileManager.default.fileExists(atPath: Self.t91) else {
            throw TrainDataMissing(path: Self.t91)
        }
        let dir = try temporaryDirectory("enhance-train-arch")
        // SPAN has six blocks, no --blocks.
        let depth = arch == "compact" ? ["--blocks", "2"] : []
        let run = try enhance(["train", "--arch", arch, "--data", Self.t91, "-o", dir + "/run", "--scale", "2",
                               "--features", "8"] + depth + ["--steps", "24", "--batch", "4", "--patch", "32",
                               "--lr", "2e-3", "--log-every", "8", "--validate-every", "24", "--checkpoint-every", "24",
                               "--hold-out", "1", "--threads", "2"])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stdout.contains("training \(architecture) x2"), "\(run.stdout)")
        let losses = run.stdout.split(separator: "\n").compactMap { line -> Double? in
            guard let r = line.range(of: "loss ") else { return nil }
            return Double(line[r.upperBound...].prefix(7).trimmingCharacters(in: .whitespaces))
        }
        #expect(losses.count == 3 && losses[2] < losses[0], "\(arch) losses \(losses)")
        let exported = try WeightFile.load(path: dir + "/run/model.safetensors")
        #expect(try ArchitectureRegistry.standard.detect(exported).architecture == architecture)
        let input = Self.t91 + "/t1.png"
        let header = try ImageIO.header(path: input)
        let up = try enhance(["upscale", input, "-m", dir + "/run/model.safetensors", "-o", dir + "/up.png"])
        #expect(up.status == 0, "\(up.stderr)")
        let out = try ImageIO.header(path: dir + "/up.png")
        #expect(out.width == 2 * header.width && out.height == 2 * header.height)
    }
}

/// The training set is set up beside the repository; the test says where it looked.
struct TrainDataMissing: Error, CustomStringConvertible {
    var path: String
    var description: String { "T91 is not at \(path); put the sr-trainsets folder beside the repository (scripts/setup.sh)" }
}
