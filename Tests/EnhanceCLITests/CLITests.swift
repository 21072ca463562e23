import Foundation
import Testing
import SRTestSupport
import SRImageIO
import EnhanceCLI

/// A new scratch folder for one test.
func scratch() throws -> String { try temporaryDirectory("enhance-cli") }

/// Writes `TestImages.gradient` (RGB) to `path`, in the format its extension names.
func writeTestImage(_ path: String, width: Int = 24, height: Int = 18) throws {
    try ImageIO.encode(TestImages.gradient(width: width, height: height), to: path)
}

@Suite("enhance command line")
struct CLITests {
    @Test("help lists the subcommands")
    func help() throws {
        let r = try enhance(["--help"])
        #expect(r.status == 0)
        #expect(r.stdout.contains("upscale") && r.stdout.contains("models"))
        let u = try enhance(["upscale", "--help"])
        #expect(u.stdout.contains("--model") && u.stdout.contains("--threads") && u.stdout.contains("--output"))
    }

    @Test("--version prints one line: Enhance's version, the oneDNN and libvips loaded, the Swift that built it")
    func version() throws {
        let r = try enhance(["--version"])
        #expect(r.status == 0, "\(r.stderr)")
        let lines = r.stdout.split(separator: "\n")
        #expect(lines.count == 1, "\(r.stdout)")
        let line = String(lines.first ?? "")
        #expect(line.wholeMatch(of: /enhance \d+\.\d+\.\d+ \(oneDNN \d+\.\d+\.\d+, libvips \d+\.\d+\.\d+[^,)]*, Swift \d+\.\d+( or later)?\)/) != nil,
                "\(line)")
        #expect(line.hasPrefix("enhance \(EnhanceVersion.number) ("), "\(line)")
        #expect(try enhance(["--help"]).stdout.contains("--version"))
    }

    @Test("upscale writes the image at the model's scale and says where")
    func upscale() throws {
        let dir = try scratch()
        try writeTestImage(dir + "/in.png")
        let r = try enhance(["upscale", dir + "/in.png", "-m", "span-x2", "-o", dir + "/out.webp", "--threads", "1"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("wrote \(dir)/out.webp"))
        let out = try ImageIO.header(path: dir + "/out.webp")
        #expect(out.width == 48 && out.height == 36 && out.loader.hasPrefix("webp"))
        // Default output name beside the input.
        let d = try enhance(["upscale", dir + "/in.png", "-m", "span-x2", "-q"])
        #expect(d.status == 0 && d.stdout.isEmpty, "\(d.stderr)")
        #expect(try ImageIO.header(path: dir + "/in_x2.png").width == 48)
    }

    @Test("every bad input is one clear line on stderr and a non-zero exit",
          arguments: ["missing", "text", "unknown-model", "not-installed", "bad-extension", "overwrite", "threads"])
    func errors(kind: String) throws {
        let dir = try scratch()
        try writeTestImage(dir + "/in.png")
        FileManager.default.createFile(atPath: dir + "/notes.png", contents: Data("just text".utf8))
        var env: [String: String] = [:]
        let args: [String]
        let expected: String
        switch kind {
        case "missing": args = ["upscale", dir + "/nope.png", "-m", "span-x2"]; expected = "no such file"
        case "text": args = ["upscale", dir + "/notes.png", "-m", "span-x2"]; expected = "is not an image"
        case "unknown-model": args = ["upscale", dir + "/in.png", "-m", "esrgan-9000"]; expected = "unknown model 'esrgan-9000'"
        case "not-installed":
            args = ["upscale", dir + "/in.png", "-m", "span-x4"]
            env = ["ENHANCE_MODELS_DIR": dir + "/empty"]
            expected = "fetch_models.py span-x4"
        case "bad-extension": args = ["upscale", dir + "/in.png", "-o", dir + "/out.xyz"]; expected = "output format"
        case "overwrite": args = ["upscale", dir + "/in.png", "-m", "span-x2", "-o", dir + "/./in.png"]; expected = "overwrite the input"
        default: args = ["upscale", dir + "/in.png", "--threads", "0"]; expected = "--threads must be at least 1"
        }
        let r = try enhance(args, environment: env)
        #expect(r.status != 0)
        #expect(r.stderr.contains(expected), "stderr was: \(r.stderr)")
        #expect(r.stderr.split(separator: "\n").filter { !$0.isEmpty }.count == 1, "stderr was: \(r.stderr)")
        // The input is never touched.
        #expect(try ImageIO.header(path: dir + "/in.png").width == 24)
    }

    @Test("models lists every model with scale, size and licence, as a table and as JSON")
    func models() throws {
        let r = try enhance(["models"])
        #expect(r.status == 0)
        for id in ["realesrgan-x4plus (default)", "realcugan-se-x3-denoise3x", "span-x4-ch52"] { #expect(r.stdout.contains(id)) }
        #expect(r.stdout.contains("BSD-3-Clause") && r.stdout.contains("MIT") && r.stdout.contains("Apache-2.0"))
        let j = try enhance(["models", "--json"])
        let rows = try JSONSerialization.jsonObject(with: Data(j.stdout.utf8)) as! [[String: Any]]
        #expect(rows.filter { $0["kind"] as? String != "local" }.count == 27)   // models/manifest.json
        #expect(rows.contains { $0["id"] as? String == "realesrgan-x4plus" && $0["isDefault"] as? Bool == true })
    }

    @Test("models also lists weight files installed in the model directory, and names an unreadable one")
    func localModels() throws {
        let dir = try scratch()
        let shipped = TestPaths.repository.appendingPathComponent("models/enhance/enhance-msrresnet-x4.safetensors").path
        try FileManager.default.copyItem(atPath: shipped, toPath: dir + "/mine-x4.safetensors")
        try Data("not a checkpoint".utf8).write(to: URL(fileURLWithPath: dir + "/broken.pth"))
        let env = ["ENHANCE_MODELS_DIR": dir]
        let r = try enhance(["models"], environment: env)
        #expect(r.status == 0, "\(r.stderr)")
        let mine = r.stdout.split(separator: "\n").first { $0.hasPrefix("mine-x4 ") }
        #expect(mine?.contains("MSRResNet") == true && mine?.contains("x4") == true && mine?.contains("local file") == true,
                "\(r.stdout)")
        #expect(r.stdout.split(separator: "\n").contains { $0.hasPrefix("broken ") && $0.contains("unreadable") })
        let j = try enhance(["models", "--json"], environment: env)
        let rows = try JSONSerialization.jsonObject(with: Data(j.stdout.utf8)) as! [[String: Any]]
        let row = rows.first { $0["id"] as? String == "mine-x4" }
        #expect(row?["architecture"] as? String == "MSRResNet" && row?["scale"] as? Int == 4 && row?["kind"] as? String == "local")
        // The listed id is what -m takes.
        try writeTestImage(dir + "/in.png", width: 12, height: 10)
        let up = try enhance(["upscale", dir + "/in.png", "-m", "mine-x4", "-o", dir + "/out.png", "-q"], environment: env)
        #expect(up.status == 0, "\(up.stderr)")
        #expect(try ImageIO.header(path: dir + "/out.png").width == 48)
    }
}

@Suite("enhance upscale options")
struct CLIOptionTests {
    @Test("size, format and alpha options shape the written file")
    func options() throws {
        let dir = try scratch()
        try writeTestImage(dir + "/in.png", width: 30, height: 20)
        var r = try enhance(["upscale", dir + "/in.png", "-m", "span-x2", "--scale", "1.5", "-o", dir + "/a.png", "-q"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(try ImageIO.header(path: dir + "/a.png").width == 45)
        r = try enhance(["upscale", dir + "/in.png", "-m", "span-x2", "--width", "100", "-o", dir + "/b.jpg", "-q", "--quality", "80"])
        #expect(r.status == 0, "\(r.stderr)")
        let b = try ImageIO.header(path: dir + "/b.jpg")
        #expect(b.width == 100 && b.height == 67)

        // RGBA to JPEG: refused without a background, flattened with one.
        var px = [Float](repeating: 0.5, count: 3 * 20 * 30)
        px += [Float](repeating: 0.2, count: 20 * 30)
        try ImageIO.encode(Image(width: 30, height: 20, channels: 4, pixels: px), to: dir + "/rgba.png")
        r = try enhance(["upscale", dir + "/rgba.png", "-m", "span-x2", "-o", dir + "/c.jpg"])
        #expect(r.status != 0 && r.stderr.contains("alpha"), "\(r.stderr)")
        r = try enhance(["upscale", dir + "/rgba.png", "-m", "span-x2", "-o", dir + "/c.jpg", "--background", "#ffffff", "-q"])
        #expect(r.status == 0, "\(r.stderr)")
        let flat = try ImageIO.decode(path: dir + "/c.jpg")
        #expect(flat.channels == 3 && abs(flat.pixels[10 * 60 + 30] - (0.2 * 0.5 + 0.8)) < 0.05)
        // RGBA to PNG keeps alpha.
        r = try enhance(["upscale", dir + "/rgba.png", "-m", "span-x2", "-o", dir + "/d.png", "-q", "--alpha", "model"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(try ImageIO.decode(path: dir + "/d.png").channels == 4)
        // Denoise blending on a Real-CUGAN model.
        r = try enhance(["upscale", dir + "/in.png", "-m", "realcugan-se-x2-no-denoise", "--denoise", "0.5", "-o", dir + "/e.png", "-q"])
        #expect(r.status == 0, "\(r.stderr)")
    }

    @Test("bad option values are one clear error each", arguments: [
        (["--scale", "0"], "factor"), (["--scale", "1920x1080"], "1920:1080"), (["--max-memory", "12"], "--max-memory"),
        (["--background", "red"], "--background"), (["--tile", "-3"], "--tile"), (["--denoise", "1", "-m", "span-x2"], "Real-CUGAN"),
        (["--blend-weight", "2"], "--blend-weight"), (["--compression", "12"], "--compression"),
    ])
    func badValues(args: [String], expected: String) throws {
        let dir = try scratch()
        try writeTestImage(dir + "/in.png")
        let r = try enhance(["upscale", dir + "/in.png", "-o", dir + "/o.png"] + args)
        #expect(r.status != 0)
        #expect(r.stderr.contains(expected), "stderr: \(r.stderr)")
    }
}

@Suite("enhance upscale on a folder")
struct CLIBatchTests {
    @Test("batch: mirrored tree, a bad file fails alone, JSON-lines progress, skip-existing resumes")
    func batch() throws {
        let dir = try scratch()
        let fm = FileManager.default
        try fm.createDirectory(atPath: dir + "/in/sub", withIntermediateDirectories: true)
        try writeTestImage(dir + "/in/a.png")
        try writeTestImage(dir + "/in/sub/b.png", width: 16, height: 12)
        fm.createFile(atPath: dir + "/in/broken.png", contents: Data("not an image".utf8))
        var r = try enhance(["upscale", dir + "/in", "-o", dir + "/out", "-r", "-m", "span-x2", "--suffix", "_x2"])
        #expect(r.status != 0, "a failed file makes the run fail")
        #expect(try ImageIO.header(path: dir + "/out/a_x2.png").width == 48)
        #expect(try ImageIO.header(path: dir + "/out/sub/b_x2.png").width == 32)
        let events = r.stdout.split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
        #expect(events.first?["event"] as? String == "start")
        #expect(events.filter { $0["event"] as? String == "file" }.count == 3)
        let done = events.last
        #expect(done?["event"] as? String == "done" && done?["failed"] as? Int == 1 && done?["processed"] as? Int == 2,
                "\(r.stdout)")
        // Resume: existing outputs are skipped, the broken file fails again.
        r = try enhance(["upscale", dir + "/in", "-o", dir + "/out", "-r", "-m", "span-x2", "--suffix", "_x2", "--skip-existing"])
        let last = r.stdout.split(separator: "\n").last.flatMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        #expect(last?["skipped"] as? Int == 2 && last?["failed"] as? Int == 1, "\(r.stdout)")
        // The inputs are untouched and nothing is written into the input tree.
        #expect(try fm.contentsOfDirectory(atPath: dir + "/in").sorted() == ["a.png", "broken.png", "sub"])
    }

    @Test("batch refuses to write over its inputs")
    func refusesInputs() throws {
        let dir = try scratch()
        try writeTestImage(dir + "/a.png")
        let r = try enhance(["upscale", dir, "-o", dir, "-m", "span-x2"])
        #expect(r.status != 0)
        #expect(r.stderr.contains("would be overwritten"), "\(r.stderr)")
    }
}

@Suite("enhance bench")
struct CLIBenchTests {
    @Test("bench reports time, throughput and the convolution work of the model")
    func bench() throws {
        let r = try enhance(["bench", "-m", "span-x2", "--size", "40x32", "--runs", "2", "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let o = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as! [String: Any]
        #expect((o["median_ms"] as? Double ?? 0) > 0)
        #expect((o["runs_ms"] as? [Double])?.count == 2)
        // SPAN x2 ch48 on a 60x52 padded window: its convolutions' multiply-accumulates, 2 FLOP each.
        #expect((o["gflop"] as? Double ?? 0) > 0.1)
        #expect(o["model"] as? String == "span-x2")
        let bad = try enhance(["bench", "--size", "0x5"])
        #expect(bad.status != 0 && bad.stderr.contains("--size"))
    }
}
