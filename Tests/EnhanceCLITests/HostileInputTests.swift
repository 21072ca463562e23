import Foundation
import Testing
import SRTestSupport
import SRImageIO
#if canImport(Glibc)
import Glibc
#endif

/// Runs `enhance` like `enhance(_:)`, but gives up after `timeout` (a hang is a failure, not a stuck suite).
func enhance(_ arguments: [String], timeout: Duration, environment: [String: String] = [:])
    throws -> (result: CLIResult, elapsed: Duration) {
    let process = Process()
    process.executableURL = TestPaths.enhanceExecutable
    process.arguments = arguments
    process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
    let dir = try scratch()
    FileManager.default.createFile(atPath: dir + "/out", contents: nil)
    FileManager.default.createFile(atPath: dir + "/err", contents: nil)
    let out = try FileHandle(forWritingTo: URL(fileURLWithPath: dir + "/out"))
    let err = try FileHandle(forWritingTo: URL(fileURLWithPath: dir + "/err"))
    process.standardOutput = out
    process.standardError = err
    let start = ContinuousClock.now
    try process.run()
    while process.isRunning && ContinuousClock.now - start < timeout { usleep(20_000) }
    if process.isRunning {
        process.terminate()
        process.waitUntilExit()
        Issue.record("enhance \(arguments.joined(separator: " ")) was still running after \(timeout)")
    }
    process.waitUntilExit()
    let elapsed = ContinuousClock.now - start
    try out.close()
    try err.close()
    let o = FileManager.default.contents(atPath: dir + "/out") ?? Data()
    let e = FileManager.default.contents(atPath: dir + "/err") ?? Data()
    return (CLIResult(status: process.terminationStatus, stdout: String(decoding: o, as: UTF8.self),
                      stderr: String(decoding: e, as: UTF8.self)), elapsed)
}

/// Non-empty lines of `text`.
func lines(_ text: String) -> [Substring] { text.split(separator: "\n").filter { !$0.isEmpty } }

// MARK: Hand-made files

/// An uncompressed TIFF whose pages each hold `width` x `height` samples of `bands` IEEE floats (BitsPerSample 32,
/// SampleFormat 3), as PIL writes mode "F" images; several pages when `pages` has more than one.
func floatTIFF(width: Int, height: Int, bands: Int, pages: [[Float]]) -> [UInt8] {
    var out: [UInt8] = Array("II*\0".utf8)
    func u16(_ v: Int) -> [UInt8] { [UInt8(v & 0xFF), UInt8(v >> 8 & 0xFF)] }
    func u32(_ v: Int) -> [UInt8] { u16(v & 0xFFFF) + u16(v >> 16) }
    out += u32(8)
    for (index, samples) in pages.enumerated() {
        precondition(samples.count == width * height * bands)
        let entries = 10
        let ifdSize = 2 + entries * 12 + 4
        let ifdStart = out.count
        let extra = ifdStart + ifdSize               // BitsPerSample and SampleFormat arrays when bands > 1
        let dataStart = extra + (bands > 1 ? 4 * bands : 0)
        let byteCount = samples.count * 4
        let next = index + 1 < pages.count ? dataStart + byteCount : 0
        func entry(_ tag: Int, _ type: Int, _ count: Int, _ value: Int) -> [UInt8] {
            u16(tag) + u16(type) + u32(count) + (type == 3 && count == 1 ? u16(value) + u16(0) : u32(value))
        }
        var ifd = u16(entries)
        ifd += entry(256, 4, 1, width)
        ifd += entry(257, 4, 1, height)
        ifd += bands > 1 ? entry(258, 3, bands, extra) : entry(258, 3, 1, 32)
        ifd += entry(259, 3, 1, 1)                               // no compression
        ifd += entry(262, 3, 1, bands >= 3 ? 2 : 1)              // RGB or BlackIsZero
        ifd += entry(273, 4, 1, dataStart)
        ifd += entry(277, 3, 1, bands)
        ifd += entry(278, 4, 1, height)
        ifd += entry(279, 4, 1, byteCount)
        ifd += bands > 1 ? entry(339, 3, bands, extra + 2 * bands) : entry(339, 3, 1, 3)
        ifd += u32(next)
        out += ifd
        if bands > 1 {
            for _ in 0..<bands { out += u16(32) }
            for _ in 0..<bands { out += u16(3) }
        }
        for v in samples { out += u32(Int(v.bitPattern)) }
    }
    return out
}

/// A PNG whose header says `width` x `height` 1-bit gray and whose pixel data is missing: what a header check
/// must refuse before any decoder allocates for it.
func pngHeaderBomb(width: Int, height: Int) -> [UInt8] {
    func crc32(_ bytes: [UInt8]) -> UInt32 {
        var c: UInt32 = 0xFFFF_FFFF
        for b in bytes {
            c ^= UInt32(b)
            for _ in 0..<8 { c = c & 1 == 1 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        }
        return ~c
    }
    func be32(_ v: UInt32) -> [UInt8] { [UInt8(v >> 24), UInt8(v >> 16 & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v & 0xFF)] }
    func chunk(_ type: String, _ data: [UInt8]) -> [UInt8] {
        let body = Array(type.utf8) + data
        return be32(UInt32(data.count)) + body + be32(crc32(body))
    }
    let ihdr = be32(UInt32(width)) + be32(UInt32(height)) + [1, 0, 0, 0, 0]
    return [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] + chunk("IHDR", ihdr) + chunk("IDAT", [0x78, 0x9C])
        + chunk("IEND", [])
}

let svg16 = #"<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16"><rect width="16" height="16" fill="red"/></svg>"#
let pdfBomb = "%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n" +
    "3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 14400 14400]>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"

@Suite("hostile input: the command line")
struct HostileInputTests {
    @Test("SVG and PDF are refused by name unless --allow-all-loaders; with it an SVG upscales")
    func untrustedFormats() throws {
        let dir = try scratch()
        try Data(svg16.utf8).write(to: URL(fileURLWithPath: dir + "/vector.svg"))
        try Data(pdfBomb.utf8).write(to: URL(fileURLWithPath: dir + "/doc.pdf"))
        for (file, name) in [("vector.svg", "SVG"), ("doc.pdf", "PDF")] {
            let (r, _) = try enhance(["upscale", dir + "/" + file, "-m", "span-x2", "-o", dir + "/out.png"], timeout: .seconds(60))
            #expect(r.status != 0)
            #expect(r.stderr.contains("is \(name), which Enhance does not accept") && r.stderr.contains("--allow-all-loaders"),
                    "\(r.stderr)")
            #expect(lines(r.stderr).count == 1, "\(r.stderr)")
        }
        let (ok, _) = try enhance(["upscale", dir + "/vector.svg", "-m", "span-x2", "-o", dir + "/svg.png",
                                   "--allow-all-loaders"], timeout: .seconds(120))
        #expect(ok.status == 0, "\(ok.stderr)")
        #expect(try ImageIO.header(path: dir + "/svg.png").width == 32)
        // In process: the same policy (the default) names the format.
        #expect(ImageIO.loadersRestricted)
        #expect(throws: ImageIOError.formatNotAccepted(source: "the uploaded data", format: "SVG")) {
            try ImageIO.header(data: Array(svg16.utf8))
        }
    }

    @Test("sizes are checked from the header before decoding: a 100000x100000 PNG and a 14400-pt PDF page")
    func sizeBeforeDecode() throws {
        let dir = try scratch()
        try Data(pngHeaderBomb(width: 100_000, height: 100_000)).write(to: URL(fileURLWithPath: dir + "/huge.png"))
        try Data(pdfBomb.utf8).write(to: URL(fileURLWithPath: dir + "/page.pdf"))
        for args in [[dir + "/huge.png"], [dir + "/page.pdf", "--allow-all-loaders"]] {
            let (r, elapsed) = try enhance(["upscale"] + args + ["-m", "span-x2", "-o", dir + "/out.png"], timeout: .seconds(60))
            #expect(r.status != 0)
            #expect(r.stderr.contains("above the limit of 250 megapixels"), "\(r.stderr)")
            #expect(lines(r.stderr).count == 1, "\(r.stderr)")
            #expect(elapsed < .seconds(20), "took \(elapsed)")
        }
        // A requested output size above the limit is refused before decoding too.
        try writeTestImage(dir + "/small.png")
        let (big, _) = try enhance(["upscale", dir + "/small.png", "-m", "span-x2", "--scale", "30000:30000",
                                    "-o", dir + "/big.png"], timeout: .seconds(60))
        #expect(big.status != 0 && big.stderr.contains("exceeds the limit"), "\(big.stderr)")
    }

    @Test("32-bit float TIFFs (gray 0-1; RGB as linear light) decode to their values, not to black")
    func floatTIFFs() throws {
        let dir = try scratch()
        let (w, h) = (8, 6)
        let gray = (0..<(w * h)).map { Float($0) / Float(w * h - 1) }
        try Data(floatTIFF(width: w, height: h, bands: 1, pages: [gray])).write(to: URL(fileURLWithPath: dir + "/gray.tif"))
        let g = try ImageIO.decode(path: dir + "/gray.tif")
        #expect(g.channels == 1 && g.width == w && g.height == h)
        let worst = zip(g.pixels, gray).map { abs($0 - $1) }.max() ?? 1
        #expect(worst < 1.0 / 255, "largest difference \(worst)")

        let rgb = (0..<(w * h * 3)).map { i in Float(i % 3 == 0 ? 1 : i % 3 == 1 ? 0.5 : 0.25) }
        try Data(floatTIFF(width: w, height: h, bands: 3, pages: [rgb])).write(to: URL(fileURLWithPath: dir + "/rgb.tif"))
        let c = try ImageIO.decode(path: dir + "/rgb.tif")
        #expect(c.channels == 3)
        // Float RGB is linear light (libvips' scRGB): it comes out sRGB-encoded.
        func srgb(_ v: Float) -> Float { v <= 0.0031308 ? 12.92 * v : 1.055 * pow(v, 1 / 2.4) - 0.055 }
        let plane = w * h
        #expect(abs(c.pixels[0] - 1) < 2.0 / 255 && abs(c.pixels[plane] - srgb(0.5)) < 2.0 / 255
                && abs(c.pixels[2 * plane] - srgb(0.25)) < 2.0 / 255, "\(c.pixels[0]) \(c.pixels[plane]) \(c.pixels[2 * plane])")

        // End to end: the upscaled float TIFF is not black.
        let (r, _) = try enhance(["upscale", dir + "/gray.tif", "-m", "span-x2", "-o", dir + "/up.png"], timeout: .seconds(120))
        #expect(r.status == 0, "\(r.stderr)")
        let up = try ImageIO.decode(path: dir + "/up.png")
        #expect(up.pixels.reduce(0, +) / Float(up.pixels.count) > 0.3)
    }

    @Test("a multi-page TIFF upscales its first page and says the others were left out")
    func droppedPages() throws {
        let dir = try scratch()
        let page = [Float](repeating: 0.5, count: 8 * 6)
        try Data(floatTIFF(width: 8, height: 6, bands: 1, pages: [page, page, page]))
            .write(to: URL(fileURLWithPath: dir + "/pages.tif"))
        #expect(try ImageIO.header(path: dir + "/pages.tif").pages == 3)
        let (r, _) = try enhance(["upscale", dir + "/pages.tif", "-m", "span-x2", "-o", dir + "/first.png"], timeout: .seconds(120))
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderr.contains("warning:") && r.stderr.contains("3 pages; only the first is upscaled"), "\(r.stderr)")
        let quiet = try enhance(["upscale", dir + "/pages.tif", "-m", "span-x2", "-o", dir + "/q.png", "-q"], timeout: .seconds(120))
        #expect(quiet.result.status == 0 && quiet.result.stderr.isEmpty, "\(quiet.result.stderr)")
    }

    @Test("a FIFO or a device as input is refused at once instead of hanging")
    func specialFiles() throws {
        let dir = try scratch()
        #expect(mkfifo(dir + "/pipe.png", 0o600) == 0)
        for (input, words) in [(dir + "/pipe.png", "FIFO"), ("/dev/zero", "device")] {
            let (r, elapsed) = try enhance(["upscale", input, "-m", "span-x2", "-o", dir + "/out.png"], timeout: .seconds(30))
            #expect(r.status != 0)
            #expect(r.stderr.contains(words) && lines(r.stderr).count == 1, "\(r.stderr)")
            #expect(elapsed < .seconds(20))
        }
    }

    @Test("negative numbers are values: --width 64 --height -2 works; --scale -1 and --tile -5 say what is wrong, on one line")
    func negativeValues() throws {
        let dir = try scratch()
        try writeTestImage(dir + "/in.png")
        let (ok, _) = try enhance(["upscale", dir + "/in.png", "-m", "span-x2", "--width", "64", "--height", "-2",
                                   "-o", dir + "/w.png"], timeout: .seconds(120))
        #expect(ok.status == 0, "\(ok.stderr)")
        let header = try ImageIO.header(path: dir + "/w.png")
        #expect(header.width == 64 && header.height == 48)
        for (args, words) in [(["--scale", "-1"], "scale"), (["--tile", "-5"], "--tile must be 0"),
                              (["--threads", "-1"], "--threads must be at least 1")] {
            let (r, _) = try enhance(["upscale", dir + "/in.png", "-m", "span-x2"] + args, timeout: .seconds(60))
            #expect(r.status != 0)
            #expect(!r.stderr.contains("Missing value") && r.stderr.contains(words), "\(r.stderr)")
            #expect(lines(r.stderr).count == 1, "\(r.stderr)")
        }
        // Any argument error is one line, naming the help to read.
        let (missing, _) = try enhance(["upscale"], timeout: .seconds(30))
        #expect(missing.status != 0 && lines(missing.stderr).count == 1 && missing.stderr.contains("enhance upscale --help"),
                "\(missing.stderr)")
        let (help, _) = try enhance(["upscale", "--help"], timeout: .seconds(30))
        #expect(help.status == 0 && lines(help.stdout).count > 10)
    }

    @Test("--server at a closed port fails at once with the reason")
    func refusedServer() throws {
        let dir = try scratch()
        try writeTestImage(dir + "/in.png")
        let (r, elapsed) = try enhance(["upscale", dir + "/in.png", "--server", "http://127.0.0.1:9", "-o", dir + "/o.png"],
                                       timeout: .seconds(60))
        #expect(r.status != 0)
        #expect(r.stderr.contains("cannot reach the server") && lines(r.stderr).count == 1, "\(r.stderr)")
        #expect(elapsed < .seconds(15), "took \(elapsed)")
    }

    @Test("partial files of killed runs are removed by the next write of the same output; a live run's stay")
    func abandonedPartials() throws {
        let dir = try scratch()
        try writeTestImage(dir + "/in.png")
        // A process id that is gone: a child that has exited and been reaped.
        let child = Process()
        child.executableURL = URL(fileURLWithPath: "/bin/true")
        try child.run()
        child.waitUntilExit()
        let dead = child.processIdentifier
        let host = PartialFiles.host
        let abandoned = dir + "/.out.png.\(host)-\(dead)-0badc0de.partial.png"
        let live = dir + "/.out.png.\(host)-\(getpid())-0000cafe.partial.png"
        for path in [abandoned, live] { FileManager.default.createFile(atPath: path, contents: Data()) }
        let (r, _) = try enhance(["upscale", dir + "/in.png", "-m", "span-x2", "-o", dir + "/out.png"], timeout: .seconds(120))
        #expect(r.status == 0, "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: abandoned))
        #expect(FileManager.default.fileExists(atPath: live))
        let left = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.contains(".partial") }
        #expect(left == [(live as NSString).lastPathComponent])
    }

    @Test("model files installed as symbolic links count as installed")
    func symlinkedModels() throws {
        let dir = try scratch()
        let real = ProcessInfo.processInfo.environment["ENHANCE_MODELS_DIR"]
            ?? (NSHomeDirectory() + "/.cache/enhance/models")
        for ext in ["param", "bin"] {
            try FileManager.default.createSymbolicLink(atPath: "\(dir)/span-x2.\(ext)", withDestinationPath: "\(real)/span-x2.\(ext)")
        }
        let env = ["ENHANCE_MODELS_DIR": dir]
        let r = try enhance(["models", "--json"], environment: env)
        let rows = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [[String: Any]] ?? []
        #expect(rows.first { $0["id"] as? String == "span-x2" }?["installed"] as? Bool == true, "\(r.stdout.prefix(300))")
        try writeTestImage(dir + "/in.png")
        let (up, _) = try enhance(["upscale", dir + "/in.png", "-m", "span-x2", "-o", dir + "/o.png"], timeout: .seconds(120),
                                  environment: env)
        #expect(up.status == 0, "\(up.stderr)")
    }
}
