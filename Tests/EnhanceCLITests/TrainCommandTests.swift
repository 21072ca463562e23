import Foundation
import Testing
import SRTestSupport
import SRImageIO
import SRWeights
import SRModels
import SRCore

@Suite("enhance train")
struct TrainCommandTests {
    /// Writes `count` textured PNGs of `side` x `side` pixels.
    static func images(_ dir: String, count: Int, side: Int) throws {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        for k in 0..<count {
            var px = [Float]()
            for c in 0..<3 { for y in 0..<side { for x in 0..<side {
                px.append(Float((x * (5 + k) + y * 11 + c * 60 + (x * y) % 13) % 256) / 255)
            } } }
            try ImageIO.encode(Image(width: side, height: side, channels: 3, pixels: px), to: "\(dir)/hr\(k).png")
        }
    }

    @Test("both phases end to end on a small folder; the losses fall and the exported models upscale")
    func bothPhases() throws {
        let dir = try scratch()
        try Self.images(dir + "/hr", count: 4, side: 136)
        // Phase 1: a small MSRResNet, 30 steps.
        let p1 = try enhance(["train", "--data", dir + "/hr", "-o", dir + "/run", "--features", "8", "--blocks", "1",
                              "--steps", "30", "--batch", "4", "--patch", "32", "--lr", "2e-3", "--log-every", "10",
                              "--validate-every", "30", "--checkpoint-every", "30", "--hold-out", "1", "--threads", "2"])
        #expect(p1.status == 0, "\(p1.stderr)")
        let losses = p1.stdout.split(separator: "\n").compactMap { line -> Double? in
            guard let r = line.range(of: "loss ") else { return nil }
            return Double(line[r.upperBound...].prefix(7))
        }
        #expect(losses.count == 3 && losses[2] < losses[0], "phase-1 losses \(losses)")
        #expect(p1.stdout.contains("val PSNR"))
        let log = try String(contentsOfFile: dir + "/run/train.jsonl", encoding: .utf8)
        #expect(log.split(separator: "\n").count == 3)
        // Resume: continues from step 30 to 40.
        let resumed = try enhance(["train", "--data", dir + "/hr", "-o", dir + "/run", "--features", "8", "--blocks", "1",
                                   "--steps", "40", "--batch", "4", "--patch", "32", "--log-every", "10",
                                   "--validate-every", "100", "--checkpoint-every", "100", "--hold-out", "1", "--resume"])
        #expect(resumed.status == 0 && resumed.stdout.contains("from step 30 to 40"), "\(resumed.stderr)")
        // Phase 2 from the phase-1 model with a tiny random VGG.
        var vgg = StateDict()
        var g = SeededGenerator(seed: 5)
        for spec in VGGFeatures.stateDictSpec(VGGFeatures.Config(stages: [[4], [4]])) {
            let n = spec.shape.reduce(1, *)
            vgg.insert(WeightTensor(shape: spec.shape, floats: (0..<n).map { _ in Float.random(in: -0.3...0.3, using: &g) }),
                       path: spec.key.split(separator: ".").map(String.init))
        }
        try Safetensors.write(vgg, to: dir + "/vgg.safetensors")
        let p2 = try enhance(["train", "--phase", "gan", "--data", dir + "/hr", "-o", dir + "/run", "--initial",
                              dir + "/run/model.safetensors", "--vgg", dir + "/vgg.safetensors", "--vgg-layer", "conv2_1",
                              "--discriminator-features", "2", "--steps", "3", "--batch", "2", "--patch", "128",
                              "--log-every", "1", "--checkpoint-every", "3"])
        #expect(p2.status == 0, "\(p2.stderr)")
        #expect(p2.stdout.contains("adversarial") && p2.stdout.contains("D real"))
        for model in ["model.safetensors", "model-gan.safetensors"] {
            let up = try enhance(["upscale", dir + "/hr/hr0.png", "-m", dir + "/run/" + model, "-o", dir + "/up-\(model).png"])
            #expect(up.status == 0, "\(up.stderr)")
            let header = try ImageIO.header(path: dir + "/up-\(model).png")
            #expect(header.width == 544 && header.height == 544)
        }
    }

    @Test("bad options and data fail with specific messages")
    func errors() throws {
        let dir = try scratch()
        let none = try enhance(["train", "--data", dir, "-o", dir + "/out"])
        #expect(none.status != 0 && none.stderr.contains("no usable training images"))
        let patch = try enhance(["train", "--data", dir, "--patch", "30"])
        #expect(patch.status != 0 && patch.stderr.contains("--patch must be a positive multiple of --scale"))
        let gan = try enhance(["train", "--data", dir, "--phase", "gan", "--patch", "96"])
        #expect(gan.status != 0 && gan.stderr.contains("needs --patch 128"))
        let vgg = try enhance(["train", "--data", dir, "--phase", "gan", "--patch", "128", "--initial", "x.safetensors"])
        #expect(vgg.status != 0 && vgg.stderr.contains("needs --vgg FILE"))
    }
}
