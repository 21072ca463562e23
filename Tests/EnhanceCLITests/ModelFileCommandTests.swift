import Foundation
import Testing
import SRTestSupport
import SRImageIO

/// `enhance inspect`, `enhance convert` and `upscale -m FILE` on the architecture fixtures of SRModelsTests
/// (scripts/make_arch_fixtures.py).
@Suite("model file commands")
struct ModelFileCommandTests {
    static let fixtures = TestPaths.architectureFixtures
    static func fixture(_ name: String) -> String { fixtures.appendingPathComponent(name).path }

    func json(_ r: CLIResult) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any], "\(r.stdout)")
    }

    /// A safetensors file holding one F32 tensor per name (shape [1]).
    func writeSafetensors(_ path: String, names: [String]) throws {
        var header = "{" + names.enumerated().map { i, n in
            "\"\(n)\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[\(4 * i),\(4 * i + 4)]}"
        }.joined(separator: ",") + "}"
        while header.utf8.count % 8 != 0 { header += " " }
        var data = Data()
        withUnsafeBytes(of: UInt64(header.utf8.count).littleEndian) { data.append(contentsOf: $0) }
        data.append(contentsOf: Array(header.utf8))
        data.append(Data(count: 4 * names.count))
        try data.write(to: URL(fileURLWithPath: path))
    }

    @Test("help lists inspect and convert")
    func help() throws {
        let r = try enhance(["--help"])
        #expect(r.stdout.contains("inspect") && r.stdout.contains("convert"))
        let c = try enhance(["convert", "--help"])
        let words = c.stdout.split(whereSeparator: \.isWhitespace).joined(separator: " ")
        #expect(words.contains("mapping is kept only if the rebuilt network reproduces the ncnn graph's output"))
        let u = try enhance(["upscale", "--help"])
        #expect(u.stdout.contains(".safetensors"))
    }

    @Test("inspect shows format, architecture, configuration, scale, channels, parameters, MACs and tensors")
    func inspect() throws {
        let r = try enhance(["inspect", Self.fixture("rrdbnet_x2.safetensors")])
        #expect(r.status == 0, "\(r.stderr)")
        for text in ["safetensors", "RRDBNet (upscaler)", "x2", "3 in, 3 out", "multiple of 2", "Parameters", "MACs",
                     "per output pixel", "Tensors", "unshuffle: 2"] {
            #expect(r.stdout.contains(text), "missing '\(text)' in\n\(r.stdout)")
        }
        let j = try json(try enhance(["inspect", Self.fixture("srvgg_x4.pth"), "--json"]))
        #expect(j["architecture"] as? String == "SRVGGNetCompact" && j["format"] as? String == "pytorch")
        #expect(j["scale"] as? Int == 4 && j["inChannels"] as? Int == 3 && j["outChannels"] as? Int == 3)
        #expect((j["config"] as? [String: Any])?["features"] as? Int == 8)
        #expect((j["parameters"] as? Int ?? 0) > 0 && (j["macsPerPixel"] as? Double ?? 0) > 0)
        #expect(j["tensors"] as? Int == 14)  // 5 convolutions (weight, bias) and 4 PReLUs
    }

    @Test("convert writes a safetensors file with metadata that reads back to the same model and upscales")
    func convert() throws {
        let dir = try scratch()
        let out = dir + "/model.safetensors"
        let r = try enhance(["convert", Self.fixture("esrgan_old_x4.pth"), out, "--dtype", "f16"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("wrote \(out)"))
        let j = try json(try enhance(["inspect", out, "--json"]))
        let meta = try #require(j["metadata"] as? [String: String])
        #expect(meta["architecture"] == "RRDBNet" && meta["scale"] == "4" && meta["source"] == "esrgan_old_x4.pth")
        #expect(meta["converted_by"] == "enhance convert" && meta["config"]?.contains("\"blocks\":1") == true)
        #expect(j["dtypes"] as? [String: Int] == ["F16": 42])
        let original = try json(try enhance(["inspect", Self.fixture("rrdbnet_x4.pth"), "--json"]))
        #expect(j["parameters"] as? Int == original["parameters"] as? Int)

        try writeTestImage(dir + "/in.png", width: 10, height: 7)
        let u = try enhance(["upscale", dir + "/in.png", "-m", out, "-o", dir + "/out.png", "--threads", "1"])
        #expect(u.status == 0, "\(u.stderr)")
        let h = try ImageIO.header(path: dir + "/out.png")
        #expect(h.width == 40 && h.height == 28)
    }

    @Test("upscale -m accepts .pth files of each family, luma models and pixel-unshuffle models included",
          arguments: [("espcn_x3.pth", 3), ("rrdbnet_x1.pth", 1), ("span_x2.pth", 2)])
    func upscaleWithFile(file: String, scale: Int) throws {
        let dir = try scratch()
        try writeTestImage(dir + "/in.png", width: 11, height: 9)
        let r = try enhance(["upscale", dir + "/in.png", "-m", Self.fixture(file), "-o", dir + "/out.png", "-q"])
        #expect(r.status == 0, "\(r.stderr)")
        let h = try ImageIO.header(path: dir + "/out.png")
        #expect(h.width == 11 * scale && h.height == 9 * scale)
    }

    @Test("unknown weights, non-image networks, ncnn sources and bad outputs are one clear line and a non-zero exit")
    func errors() throws {
        let dir = try scratch()
        let unknown = dir + "/mystery.safetensors"
        try writeSafetensors(unknown, names: (0..<3).map { "encoder.blocks.\($0).attn.qkv.weight" } + ["head.weight"])
        let i = try enhance(["inspect", unknown])
        #expect(i.status != 0)
        #expect(i.stderr.contains("no known architecture") && i.stderr.contains("encoder.blocks.#.attn.qkv.weight (3)")
                && i.stderr.contains("head.weight"), "\(i.stderr)")
        try writeTestImage(dir + "/in.png")
        let d = try enhance(["upscale", dir + "/in.png", "-m", Self.fixture("vgg_discriminator.pth")])
        #expect(d.status != 0 && d.stderr.contains("does not produce an image"), "\(d.stderr)")
        FileManager.default.createFile(atPath: dir + "/net.param", contents: Data("7767517\n".utf8))
        let n = try enhance(["convert", dir + "/net.param", dir + "/x.safetensors"])
        #expect(n.status != 0 && n.stderr.contains("net.bin") && n.stderr.contains("no such file"), "\(n.stderr)")
        let o = try enhance(["convert", Self.fixture("srvgg_x4.pth"), dir + "/x.png"])
        #expect(o.status != 0 && o.stderr.contains(".safetensors"), "\(o.stderr)")
        let same = dir + "/same.safetensors"
        #expect(try enhance(["convert", Self.fixture("srvgg_x2_relu.safetensors"), same]).status == 0)
        let s = try enhance(["convert", same, same])
        #expect(s.status != 0 && s.stderr.contains("refusing to overwrite the input"), "\(s.stderr)")
        let m = try enhance(["inspect", dir + "/missing.pth"])
        #expect(m.status != 0 && m.stderr.contains("no such file"), "\(m.stderr)")
    }

    /// Upscales `input` with model `m` into `output` and returns its 8-bit pixel values.
    func upscaled(_ input: String, _ m: String, _ output: String) throws -> [Int] {
        let r = try enhance(["upscale", input, "-m", m, "-o", output, "-q"])
        #expect(r.status == 0, "\(r.stderr)")
        return try ImageIO.decode(path: output).pixels.map { Int(($0 * 255).rounded()) }
    }

    @Test("convert maps installed ncnn models to PyTorch architectures; the converted file gives the ncnn pixels",
          arguments: [("realesr-animevideov3-x4", "SRVGGNetCompact", 4), ("span-x2-ch52", "SPAN", 2),
                      ("realesrgan-x4plus-anime", "RRDBNet", 4), ("realcugan-se-x2-conservative", "RealCUGAN", 2),
                      ("realcugan-se-x3-denoise3x", "RealCUGAN", 3), ("realcugan-se-x4-no-denoise", "RealCUGAN", 4)])
    func convertNCNN(id: String, architecture: String, scale: Int) throws {
        let dir = try scratch()
        let out = dir + "/\(id).safetensors"
        let r = try enhance(["convert", id, out])
        #expect(r.status == 0, "\(r.stderr)")
        let report = try json(try enhance(["inspect", out, "--json"]))
        #expect(report["architecture"] as? String == architecture && report["scale"] as? Int == scale)
        let meta = report["metadata"] as? [String: String] ?? [:]
        #expect(meta["source"] == "\(id).param" && meta["converted_by"] == "enhance convert" && meta["licence"] != nil)
        // A photo-like input (the edge pixels exercise the reflect padding both paths share).
        try writeTestImage(dir + "/in.png", width: 21, height: 15)
        let original = try upscaled(dir + "/in.png", id, dir + "/ncnn.png")
        let converted = try upscaled(dir + "/in.png", out, dir + "/converted.png")
        #expect(original.count == 21 * scale * 15 * scale * 3 && converted.count == original.count)
        let worst = zip(original, converted).map { abs($0 - $1) }.max() ?? 99
        #expect(worst <= 1, "converted \(id) differs from the ncnn model by up to \(worst) levels")
    }

    @Test("ncnn models no architecture reproduces are refused with the reason, and nothing is written")
    func convertNCNNErrors() throws {
        let dir = try scratch()
        let resized = try enhance(["convert", "realesr-animevideov3-x2", dir + "/r.safetensors"])
        #expect(resized.status != 0 && resized.stderr.contains("final resize"), "\(resized.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/r.safetensors"))
        // An ncnn model whose weights fit no architecture by shape names what it found.
        let param = """
        7767517
        3 3
        Input data 0 1 data
        Convolution conv0 1 1 data c0 0=8 1=3 4=1 5=1 6=216
        Convolution conv1 1 1 c0 out 0=3 1=1 5=1 6=24
        """
        try Data(param.utf8).write(to: URL(fileURLWithPath: dir + "/tiny.param"))
        var bin = Data()
        for count in [216, 8, 24, 3] {
            if count > 8 { bin.append(contentsOf: [0, 0, 0, 0]) }   // weight blocks carry a 4-byte fp32 tag
            for k in 0..<count { var v = Float(k % 7) / 10; bin.append(Data(bytes: &v, count: 4)) }
        }
        try bin.write(to: URL(fileURLWithPath: dir + "/tiny.bin"))
        let tiny = try enhance(["convert", dir + "/tiny.param", dir + "/t.safetensors"])
        #expect(tiny.status != 0 && tiny.stderr.contains("2 convolutions") && tiny.stderr.contains("match no configuration"),
                "\(tiny.stderr)")
    }
}
