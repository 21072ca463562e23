import Foundation
import Testing
import SRImageIO
import SRTestSupport

// Resampling, metadata, ICC, extra formats and alpha handling of SRImageIO. Every image is made here.

// MARK: - Helpers

private func image(_ width: Int, _ height: Int, channels: Int, depth: Int = 8,
                   _ value: (_ x: Int, _ y: Int, _ c: Int) -> Float) -> Image {
    var px = [Float]()
    px.reserveCapacity(width * height * channels)
    for c in 0..<channels { for y in 0..<height { for x in 0..<width { px.append(value(x, y, c)) } } }
    return Image(width: width, height: height, channels: channels, pixels: px, bitDepth: depth)
}

/// Low-frequency content: box filtering and lanczos agree closely on it.
private func smooth(_ width: Int, _ height: Int, channels: Int) -> Image {
    image(width, height, channels: channels) { x, y, c in
        let u = Float(x) / Float(width), v = Float(y) / Float(height)
        return 0.5 + 0.3 * sin(2 * .pi * (u + 0.3 * Float(c))) * cos(1.5 * .pi * v) + 0.1 * (u - v)
    }
}

private func noise(_ width: Int, _ height: Int, channels: Int) -> Image {
    var state: UInt64 = 0x9E37_79B9_7F4A_7C15
    return image(width, height, channels: channels) { _, _, _ in
        state = state &* 6364136223846793005 &+ 1442695040888963407
        return Float(state >> 40) / Float(1 << 24)
    }
}

private func at(_ image: Image, _ x: Int, _ y: Int, _ c: Int) -> Float {
    image.pixels[(c * image.height + y) * image.width + x]
}

private func quantised(_ v: Float) -> Int { Int(min(max(v * 255 + 0.5, 0), 255)) }

private func psnr(_ a: Image, _ b: Image) -> Double {
    var se = 0.0
    for (x, y) in zip(a.pixels, b.pixels) { se += Double(x - y) * Double(x - y) }
    let mse = se / Double(a.pixels.count)
    return mse == 0 ? .infinity : 10 * log10(1 / mse)
}

private func fileSize(_ path: String) throws -> Int {
    try FileManager.default.attributesOfItem(atPath: path)[.size] as! Int
}

private func contains(_ haystack: [UInt8]?, _ needle: String) -> Bool {
    guard let haystack else { return false }
    let n = Array(needle.utf8)
    guard haystack.count >= n.count else { return false }
    return (0...(haystack.count - n.count)).contains { haystack[$0..<($0 + n.count)].elementsEqual(n) }
}

// MARK: EXIF, XMP and JPEG segments, written and read here independently of libvips

private let makeMarker = "EnhanceTestCamera"
private let xmpMarker = "enhance-xmp-marker"

/// A little-endian EXIF block ("Exif\0\0" + TIFF) with IFD0 = { Make, Orientation }.
private func exifBlock(orientation: UInt16) -> [UInt8] {
    var make = Array(makeMarker.utf8) + [0]
    if make.count % 2 == 1 { make.append(0) }
    func u16(_ v: UInt16) -> [UInt8] { [UInt8(v & 0xFF), UInt8(v >> 8)] }
    func u32(_ v: UInt32) -> [UInt8] { (0..<4).map { UInt8((v >> (8 * $0)) & 0xFF) } }
    let entries = 2
    let dataOffset = UInt32(8 + 2 + entries * 12 + 4)
    var tiff: [UInt8] = Array("II".utf8) + u16(42) + u32(8) + u16(UInt16(entries))
    tiff += u16(0x010F) + u16(2) + u32(UInt32(makeMarker.utf8.count + 1)) + u32(dataOffset)   // Make, ASCII
    tiff += u16(0x0112) + u16(3) + u32(1) + u16(orientation) + u16(0)                           // Orientation
    tiff += u32(0) + make
    return Array("Exif".utf8) + [0, 0] + tiff
}

/// The Orientation tag of IFD0 in an EXIF block (with or without the "Exif\0\0" prefix), nil when absent.
private func exifOrientation(_ block: [UInt8]) -> Int? {
    var b = block[...]
    if b.starts(with: Array("Exif".utf8) + [0, 0]) { b = b.dropFirst(6) }
    let t = Array(b)
    guard t.count >= 8 else { return nil }
    let little = t[0] == 0x49
    func u16(_ o: Int) -> Int { little ? Int(t[o]) | Int(t[o + 1]) << 8 : Int(t[o]) << 8 | Int(t[o + 1]) }
    func u32(_ o: Int) -> Int { little ? u16(o) | u16(o + 2) << 16 : u16(o) << 16 | u16(o + 2) }
    let ifd = u32(4)
    guard ifd + 2 <= t.count else { return nil }
    for i in 0..<u16(ifd) {
        let e = ifd + 2 + 12 * i
        guard e + 12 <= t.count else { return nil }
        if u16(e) == 0x0112 { return u16(e + 8) }
    }
    return nil
}

private func xmpPacket() -> [UInt8] {
    Array("""
    <?xpacket begin="\u{FEFF}" id="W5M0MpCehiHzreSzNTczkc9d"?><x:xmpmeta xmlns:x="adobe:ns:meta/">\
    <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description rdf:about="" \
    xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:source>\(xmpMarker)</dc:source></rdf:Description>\
    </rdf:RDF></x:xmpmeta><?xpacket end="w"?>
    """.utf8)
}

/// JPEG segments up to the scan: (marker, payload); `rest` is the scan and what follows.
private func jpegSegments(_ jpeg: [UInt8]) -> (segments: [(UInt8, [UInt8])], rest: [UInt8]) {
    precondition(jpeg[0] == 0xFF && jpeg[1] == 0xD8)
    var segments: [(UInt8, [UInt8])] = []
    var i = 2
    while i + 4 <= jpeg.count, jpeg[i] == 0xFF {
        let marker = jpeg[i + 1]
        if marker == 0xDA { break }
        let length = Int(jpeg[i + 2]) << 8 | Int(jpeg[i + 3])
        segments.append((marker, Array(jpeg[(i + 4)..<(i + 2 + length)])))
        i += 2 + length
    }
    return (segments, Array(jpeg[i...]))
}

/// Replaces every APP1 segment (EXIF, XMP) of `jpeg` by the given payloads.
private func withAPP1(_ jpeg: [UInt8], _ payloads: [[UInt8]]) -> [UInt8] {
    let (segments, rest) = jpegSegments(jpeg)
    var out: [UInt8] = [0xFF, 0xD8]
    func put(_ marker: UInt8, _ payload: [UInt8]) {
        out += [0xFF, marker, UInt8((payload.count + 2) >> 8), UInt8((payload.count + 2) & 0xFF)] + payload
    }
    for (marker, payload) in segments where marker == 0xE0 { put(marker, payload) }   // JFIF first
    for payload in payloads { put(0xE1, payload) }
    for (marker, payload) in segments where marker != 0xE0 && marker != 0xE1 { put(marker, payload) }
    return out + rest
}

/// The EXIF APP1 payload of a JPEG file, if any.
private func jpegExif(_ jpeg: [UInt8]) -> [UInt8]? {
    jpegSegments(jpeg).segments.first { $0.0 == 0xE1 && $0.1.starts(with: Array("Exif".utf8) + [0, 0]) }?.1
}

// MARK: PNG chunks

private func crc32(_ bytes: [UInt8]) -> UInt32 {
    var crc: UInt32 = 0xFFFF_FFFF
    for b in bytes {
        crc ^= UInt32(b)
        for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1 }
    }
    return ~crc
}

private func pngChunk(_ type: String, _ data: [UInt8]) -> [UInt8] {
    func be32(_ v: UInt32) -> [UInt8] { (0..<4).reversed().map { UInt8((v >> (8 * $0)) & 0xFF) } }
    let body = Array(type.utf8) + data
    return be32(UInt32(data.count)) + body + be32(crc32(body))
}

// MARK: - Resampling

@Suite("ImageIO fidelity: resampling")
struct ImageIOResizeTests {
    @Test("output has exactly the requested size, uniform or not, for every channel count",
          arguments: [1, 2, 3, 4])
    func exactSizes(channels: Int) throws {
        let source = noise(37, 23, channels: channels)
        for (w, h) in [(10, 50), (74, 11), (1, 1), (36, 23), (37, 24), (100, 61), (19, 12), (3, 200)] {
            let out = try ImageIO.resize(source, width: w, height: h)
            #expect(out.width == w && out.height == h && out.channels == channels)
            #expect(out.pixels.count == w * h * channels)
            #expect(out.pixels.allSatisfy { $0 >= 0 && $0 <= 1 })
        }
        let tiny = try ImageIO.resize(image(1, 1, channels: channels) { _, _, _ in 0.25 }, width: 7, height: 3)
        #expect(tiny.width == 7 && tiny.height == 3 && tiny.pixels.allSatisfy { abs($0 - 0.25) < 1e-6 })
    }

    @Test("a constant image stays constant, alpha included")
    func constant() throws {
        let values: [Float] = [0.3, 0.6, 0.9, 0.7]
        let source = image(40, 30, channels: 4) { _, _, c in values[c] }
        for (w, h) in [(13, 9), (120, 90), (41, 7), (17, 100)] {
            let out = try ImageIO.resize(source, width: w, height: h)
            for c in 0..<4 {
                let plane = out.pixels[(c * w * h)..<((c + 1) * w * h)]
                #expect(plane.allSatisfy { abs($0 - values[c]) < 1e-5 }, "channel \(c) at \(w)x\(h)")
            }
        }
    }

    @Test("downscaling by 4 is close to averaging 4x4 blocks on smooth content, and keeps the mean of noise")
    func downscaleMatchesBox() throws {
        let source = smooth(96, 64, channels: 3)
        let out = try ImageIO.resize(source, width: 24, height: 16)
        var maxDiff: Float = 0, sumDiff: Float = 0
        for c in 0..<3 { for y in 0..<16 { for x in 0..<24 {
            var box: Float = 0
            for dy in 0..<4 { for dx in 0..<4 { box += at(source, 4 * x + dx, 4 * y + dy, c) } }
            let d = abs(at(out, x, y, c) - box / 16)
            maxDiff = max(maxDiff, d)
            sumDiff += d
        } } }
        #expect(maxDiff < 0.02)
        #expect(sumDiff / Float(3 * 16 * 24) < 0.004)

        let random = noise(120, 80, channels: 1)
        let small = try ImageIO.resize(random, width: 30, height: 20)
        let mean = { (i: Image) in i.pixels.reduce(0, +) / Float(i.pixels.count) }
        #expect(abs(mean(small) - mean(random)) < 0.01)
        // Lanczos smooths noise: the spread shrinks a lot.
        let spread = { (i: Image) -> Float in let m = mean(i); return i.pixels.map { ($0 - m) * ($0 - m) }.reduce(0, +) / Float(i.pixels.count) }
        #expect(spread(small) < spread(random) / 4)
    }

    @Test("upscaling maps pixel centres to pixel centres and keeps mirror symmetry")
    func upscaleAlignment() throws {
        // A horizontal ramp v = x / 16 and its mirror image.
        let ramp = image(16, 6, channels: 1) { x, _, _ in Float(x) / 16 }
        for scale in [2, 3] {
            let w = 16 * scale
            let out = try ImageIO.resize(ramp, width: w, height: 6 * scale)
            // Away from the borders (clamped there), output pixel j samples input position (j + 0.5) / s - 0.5.
            for j in (2 * scale)..<(w - 2 * scale) {
                let ideal = ((Float(j) + 0.5) / Float(scale) - 0.5) / 16
                #expect(abs(at(out, j, 3, 0) - ideal) < 0.02 / 16, "x=\(j) at \(scale)x")
            }
        }
        let symmetric = image(15, 9, channels: 2) { x, y, c in
            let d = Float(abs(x - 7) + abs(y - 4))
            return c == 0 ? 0.1 + 0.05 * d : 1 - 0.04 * d
        }
        let out = try ImageIO.resize(symmetric, width: 38, height: 23)
        var worst: Float = 0
        for c in 0..<2 { for y in 0..<23 { for x in 0..<38 {
            worst = max(worst, abs(at(out, x, y, c) - at(out, 37 - x, 22 - y, c)))
        } } }
        #expect(worst < 1e-4)
    }

    @Test("shrinking then enlarging a smooth image comes back close to it")
    func roundTripQuality() throws {
        let source = smooth(120, 90, channels: 3)
        let small = try ImageIO.resize(source, width: 60, height: 45)
        let back = try ImageIO.resize(small, width: 120, height: 90)
        #expect(psnr(source, back) > 40)
    }

    @Test("alpha is resampled and transparent colour does not bleed (premultiplied)")
    func alpha() throws {
        // Left half opaque red, right half fully transparent green.
        let source = image(40, 20, channels: 4) { x, _, c in
            let opaque = x < 20
            switch c {
            case 0: return opaque ? 1 : 0
            case 1: return opaque ? 0 : 1
            case 2: return 0
            default: return opaque ? 1 : 0
            }
        }
        for (w, h) in [(15, 8), (10, 5), (100, 50), (23, 41)] {
            let out = try ImageIO.resize(source, width: w, height: h)
            #expect(out.channels == 4)
            #expect(at(out, 0, h / 2, 3) > 0.99 && at(out, w - 1, h / 2, 3) < 0.01)
            var sawPartial = false
            for y in 0..<h { for x in 0..<w where at(out, x, y, 3) > 0.05 {
                if at(out, x, y, 3) < 0.95 { sawPartial = true }
                #expect(at(out, x, y, 0) > 0.98 && at(out, x, y, 1) < 0.02, "green bled in at \(x),\(y) for \(w)x\(h)")
            } }
            #expect(sawPartial, "the edge should be resampled, not copied, at \(w)x\(h)")
        }
    }

    @Test("bit depth and metadata are kept; bad sizes are named errors")
    func keepsAndRefuses() throws {
        var source = noise(8, 8, channels: 3)
        source.bitDepth = 16
        source.iccProfile = [1, 2, 3]
        source.exif = exifBlock(orientation: 1)
        source.xmp = xmpPacket()
        let out = try ImageIO.resize(source, width: 5, height: 11)
        #expect(out.bitDepth == 16 && out.iccProfile == [1, 2, 3] && out.exif == source.exif && out.xmp == source.xmp)
        #expect { try ImageIO.resize(source, width: 0, height: 4) } throws: { error in
            guard case ImageIOError.resizeFailed = error else { return false }
            return true
        }
    }
}

// MARK: - Metadata

@Suite("ImageIO fidelity: EXIF and XMP")
struct ImageIOMetadataTests {
    /// 32x16: left half black, right half white; EXIF orientation 6 and XMP injected as APP1 segments.
    func orientedJPEG() throws -> [UInt8] {
        let halves = image(32, 16, channels: 3) { x, _, _ in x < 16 ? 0 : 1 }
        let plain = try ImageIO.encode(halves, format: .jpeg, options: .init(quality: 95))
        let xmpHeader = Array("http://ns.adobe.com/xap/1.0/".utf8) + [0]
        return withAPP1(plain, [exifBlock(orientation: 6), xmpHeader + xmpPacket()])
    }

    @Test("a JPEG with EXIF orientation 6 decodes rotated, with its EXIF (orientation now 1) and XMP")
    func orientation() throws {
        let jpeg = try orientedJPEG()
        #expect(exifOrientation(jpegExif(jpeg)!) == 6)
        let header = try ImageIO.header(data: jpeg)
        #expect(header.width == 16 && header.height == 32)
        let decoded = try ImageIO.decode(data: jpeg)
        #expect(decoded.width == 16 && decoded.height == 32)
        // Orientation 6: the stored left (black) half is displayed on top.
        #expect(at(decoded, 8, 4, 0) < 0.1 && at(decoded, 8, 27, 0) > 0.9)
        #expect(contains(decoded.exif, makeMarker))
        #expect(decoded.exif.flatMap(exifOrientation) == 1)
        #expect(contains(decoded.xmp, xmpMarker))
    }

    @Test("copyMetadata writes EXIF and XMP back; without it they are left out",
          arguments: [ImageIO.Format.jpeg, .png, .webp, .avif, .heic])
    func roundTrip(format: ImageIO.Format) throws {
        guard format.isAvailable else { return }
        let decoded = try ImageIO.decode(data: try orientedJPEG())
        let kept = try ImageIO.decode(data: try ImageIO.encode(decoded, format: format, options: .init(copyMetadata: true)))
        #expect(kept.width == 16 && kept.height == 32, "written upright, so not rotated again")
        #expect(contains(kept.exif, makeMarker))
        #expect(kept.exif.flatMap(exifOrientation) == 1)
        #expect(contains(kept.xmp, xmpMarker))

        let dropped = try ImageIO.decode(data: try ImageIO.encode(decoded, format: format))
        #expect(dropped.width == 16 && dropped.height == 32)
        #expect(!contains(dropped.exif, makeMarker))
        #expect(dropped.xmp == nil)
    }

    @Test("libvips rewrites a supplied EXIF orientation 6 as 1 and keeps the other tags")
    func orientationReset() throws {
        var upright = image(24, 12, channels: 3) { x, _, _ in x < 12 ? 0 : 1 }
        upright.exif = exifBlock(orientation: 6)
        let dir = try temporaryDirectory()
        try ImageIO.encode(upright, to: dir + "/out.jpg", options: .init(quality: 95, copyMetadata: true))
        let file = try [UInt8](Data(contentsOf: URL(fileURLWithPath: dir + "/out.jpg")))
        let written = try #require(jpegExif(file))
        #expect(exifOrientation(written) == 1)
        #expect(contains(written, makeMarker))
        let header = try ImageIO.header(path: dir + "/out.jpg")
        #expect(header.width == 24 && header.height == 12)
        let back = try ImageIO.decode(path: dir + "/out.jpg")
        #expect(back.width == 24 && at(back, 2, 6, 0) < 0.1 && at(back, 21, 6, 0) > 0.9)
    }

    @Test("TIFF keeps XMP (libvips' TIFF writer has no EXIF)")
    func tiffXMP() throws {
        var source = noise(8, 8, channels: 3)
        source.xmp = xmpPacket()
        let back = try ImageIO.decode(data: try ImageIO.encode(source, format: .tiff, options: .init(copyMetadata: true)))
        #expect(contains(back.xmp, xmpMarker))
    }
}

// MARK: - ICC

@Suite("ImageIO fidelity: ICC profiles")
struct ImageIOICCTests {
    @Test("an embedded profile survives a round trip unchanged",
          arguments: [ImageIO.Format.png, .jpeg, .webp, .tiff])
    func survives(format: ImageIO.Format) throws {
        let p3 = try #require(ImageIO.builtinProfile(named: "p3"))
        #expect(p3.count > 128 && p3[36..<40].elementsEqual("acsp".utf8))
        var source = smooth(16, 16, channels: 3)
        source.iccProfile = p3
        let dir = try temporaryDirectory()
        try ImageIO.encode(source, to: dir + "/a" + format.suffix)
        let back = try ImageIO.decode(path: dir + "/a" + format.suffix)
        #expect(back.iccProfile == p3)
        #expect(try ImageIO.decode(data: try ImageIO.encode(source, format: format)).iccProfile == p3)
        #expect(ImageIO.builtinProfile(named: "no-such-profile") == nil)
    }

    /// Display P3 → sRGB by the textbook route: sRGB transfer curve, the P3-D65 → sRGB matrix, curve again.
    func p3ToSRGB(_ rgb: [Float]) -> [Float] {
        func linear(_ v: Float) -> Float { v <= 0.04045 ? v / 12.92 : pow((v + 0.055) / 1.055, 2.4) }
        func encoded(_ v: Float) -> Float { let v = min(max(v, 0), 1); return v <= 0.0031308 ? v * 12.92 : 1.055 * pow(v, 1 / 2.4) - 0.055 }
        let m: [[Float]] = [[1.2249, -0.2247, 0], [-0.0420, 1.0419, 0], [-0.0197, -0.0786, 1.0979]]
        let l = rgb.map(linear)
        return m.map { row in encoded(row[0] * l[0] + row[1] * l[1] + row[2] * l[2]) }
    }

    @Test("convertToSRGB transforms the pixels from the profile and drops it; alpha and 16 bits are kept",
          arguments: [8, 16])
    func convert(depth: Int) throws {
        let colours: [[Float]] = [[0.8, 0.4, 0.3], [0.2, 0.6, 0.4], [0.5, 0.5, 0.5], [0.3, 0.3, 0.7]]
        var source = image(4, 1, channels: 4, depth: depth) { x, _, c in c == 3 ? 0.5 : colours[x][c] }
        source.iccProfile = ImageIO.builtinProfile(named: "p3")
        #expect(source.iccProfile != nil)
        let back = try ImageIO.decode(data: try ImageIO.encode(source, format: .png, options: .init(convertToSRGB: true)))
        #expect(back.iccProfile == nil && back.channels == 4 && back.bitDepth == depth)
        for x in 0..<4 {
            let expected = p3ToSRGB(colours[x])
            for c in 0..<3 { #expect(abs(at(back, x, 0, c) - expected[c]) < 2.5 / 255, "pixel \(x) channel \(c)") }
            #expect(abs(at(back, x, 0, 3) - 0.5) < 1 / 255)
        }
        // A saturated P3 colour really moves.
        #expect(abs(at(back, 0, 0, 0) - 0.8) > 0.03)

        // Without the option the profile is embedded and the pixels are untouched.
        let kept = try ImageIO.decode(data: try ImageIO.encode(source, format: .png))
        #expect(kept.iccProfile == source.iccProfile)
        #expect(zip(kept.pixels, source.pixels).allSatisfy { depth == 8 ? quantised($0) == quantised($1) : abs($0 - $1) < 1e-4 })
    }

    @Test("convertToSRGB without a profile leaves the pixels alone")
    func convertWithoutProfile() throws {
        let source = smooth(8, 8, channels: 3)
        let back = try ImageIO.decode(data: try ImageIO.encode(source, format: .png, options: .init(convertToSRGB: true)))
        #expect(back.iccProfile == nil)
        #expect(zip(back.pixels, source.pixels).allSatisfy { quantised($0) == quantised($1) })
    }
}

// MARK: - Formats and options

@Suite("ImageIO fidelity: formats and encoder options")
struct ImageIOFormatTests {
    @Test("extensions map to formats")
    func extensions() {
        #expect(ImageIO.Format(path: "a.avif") == .avif)
        #expect(ImageIO.Format(path: "a.HEIC") == .heic)
        #expect(ImageIO.Format(path: "a.heif") == .heic)
        #expect(ImageIO.Format(path: "a.png") == .png)
        #expect(ImageIO.Format.png.isAvailable && ImageIO.Format.jpeg.isAvailable)
    }

    @Test("AVIF and HEIC encode and decode where libvips has HEIF; a clear error where not",
          arguments: [ImageIO.Format.avif, .heic])
    func heif(format: ImageIO.Format) throws {
        let dir = try temporaryDirectory()
        let source = smooth(64, 48, channels: 3)
        guard format.isAvailable else {
            #expect(throws: ImageIOError.formatUnavailable(format: format)) {
                try ImageIO.encode(source, to: dir + "/a" + format.suffix)
            }
            return
        }
        try ImageIO.encode(source, to: dir + "/hi" + format.suffix, options: .init(quality: 90))
        try ImageIO.encode(source, to: dir + "/lo" + format.suffix, options: .init(quality: 10))
        #expect(try fileSize(dir + "/lo" + format.suffix) < fileSize(dir + "/hi" + format.suffix))
        #expect(try ImageIO.header(path: dir + "/hi" + format.suffix).loader.hasPrefix("heifload"))
        let back = try ImageIO.decode(path: dir + "/hi" + format.suffix)
        #expect(back.width == 64 && back.height == 48 && back.channels == 3)
        #expect(psnr(source, back) > 30)

        // In memory, with alpha.
        let rgba = image(32, 32, channels: 4) { x, y, c in c == 3 ? (x < 16 ? 1 : 0.4) : Float(x + y * c) / 128 }
        let fromMemory = try ImageIO.decode(data: try ImageIO.encode(rgba, format: format, options: .init(quality: 90)))
        #expect(fromMemory.channels == 4)
        #expect(abs(at(fromMemory, 4, 4, 3) - 1) < 0.02 && abs(at(fromMemory, 28, 4, 3) - 0.4) < 0.03)

        // `.heif` is written as HEIC.
        if format == .heic {
            try ImageIO.encode(source, to: dir + "/c.heif")
            #expect(try ImageIO.decode(path: dir + "/c.heif").width == 64)
        }
    }

    @Test("PNG compression level changes the size, not the pixels")
    func pngCompression() throws {
        let source = smooth(96, 96, channels: 3)
        let stored = try ImageIO.encode(source, format: .png, options: .init(compression: 0))
        let packed = try ImageIO.encode(source, format: .png, options: .init(compression: 9))
        #expect(packed.count < stored.count)
        #expect(stored.count > 96 * 96 * 3, "level 0 stores the rows uncompressed")
        let a = try ImageIO.decode(data: stored), b = try ImageIO.decode(data: packed)
        #expect(a.pixels == b.pixels)
    }

    @Test("lossless WebP round trips exactly (RGB and RGBA); on noise it is bigger than lossy", arguments: [3, 4])
    func webpLossless(channels: Int) throws {
        // Alpha stays above zero: libwebp may rewrite the colour of fully transparent pixels.
        let source = image(48, 40, channels: channels) { x, y, c in
            c == 3 ? Float(1 + (x * 5 + y) % 255) / 255 : Float((x * 37 + y * 11 + c * 71) % 256) / 255
        }
        let lossless = try ImageIO.encode(source, format: .webp, options: .init(lossless: true))
        let back = try ImageIO.decode(data: lossless)
        #expect(back.channels == channels)
        #expect(zip(back.pixels, source.pixels).allSatisfy { quantised($0) == quantised($1) })
        let random = noise(48, 40, channels: 3)
        let lossy = try ImageIO.encode(random, format: .webp, options: .init(quality: 50))
        #expect(try lossy.count < ImageIO.encode(random, format: .webp, options: .init(lossless: true)).count)
    }

    @Test("out-of-range or inapplicable options are named errors")
    func invalidOptions() throws {
        let source = smooth(8, 8, channels: 3)
        func fails(_ options: ImageIO.EncodeOptions, _ format: ImageIO.Format, _ name: String) {
            #expect { try ImageIO.encode(source, format: format, options: options) } throws: { error in
                guard case ImageIOError.invalidOption(let n, _) = error else { return false }
                return n == name
            }
        }
        fails(.init(quality: 0), .jpeg, "quality")
        fails(.init(quality: 101), .webp, "quality")
        fails(.init(compression: 10), .png, "compression")
        fails(.init(compression: -1), .png, "compression")
        fails(.init(lossless: true), .jpeg, "lossless")
        fails(.init(lossless: true), .avif, "lossless")
        // Lossless PNG and TIFF are simply what they always are.
        _ = try ImageIO.encode(source, format: .png, options: .init(lossless: true))
    }
}

// MARK: - Alpha onto formats without alpha

@Suite("ImageIO fidelity: alpha and JPEG")
struct ImageIOAlphaTests {
    /// Columns: opaque red, half-transparent red, transparent red; 8 pixels each.
    func redFade() -> Image {
        image(24, 8, channels: 4) { x, _, c in
            switch c {
            case 0: return 1
            case 3: return x < 8 ? 1 : (x < 16 ? 0.5 : 0)
            default: return 0
            }
        }
    }

    @Test("JPEG refuses an image with alpha unless given a background")
    func refuses() throws {
        let dir = try temporaryDirectory()
        #expect(throws: ImageIOError.alphaNotSupported(format: .jpeg)) {
            try ImageIO.encode(redFade(), to: dir + "/a.jpg")
        }
        #expect(throws: ImageIOError.alphaNotSupported(format: .jpeg)) {
            _ = try ImageIO.encode(redFade(), format: .jpeg)
        }
        let message = ImageIOError.alphaNotSupported(format: .jpeg).description
        #expect(message.contains("PNG") && message.contains("WebP") && message.contains("TIFF") && message.contains("background"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).isEmpty)
        // Formats with alpha keep it.
        #expect(try ImageIO.decode(data: try ImageIO.encode(redFade(), format: .webp, options: .init(lossless: true))).channels == 4)
    }

    @Test("a background flattens: out = a * c + (1 - a) * background")
    func flattens() throws {
        let dir = try temporaryDirectory()
        try ImageIO.encode(redFade(), to: dir + "/a.jpg", options: .init(quality: 100, background: (r: 1, g: 1, b: 1)))
        let jpeg = try ImageIO.decode(path: dir + "/a.jpg")
        #expect(jpeg.channels == 3)
        let expected: [[Float]] = [[1, 0, 0], [1, 0.5, 0.5], [1, 1, 1]]
        for (i, x) in [3, 11, 20].enumerated() { for c in 0..<3 {
            #expect(abs(at(jpeg, x, 4, c) - expected[i][c]) < 0.04, "x=\(x) c=\(c)")
        } }

        // Exactly, through PNG (a background flattens whatever the format).
        let png = try ImageIO.decode(data: try ImageIO.encode(redFade(), format: .png,
                                                              options: .init(background: (r: 0, g: 0.2, b: 1))))
        #expect(png.channels == 3)
        for (x, a) in [(3, Float(1)), (11, 0.5), (20, 0)] {
            let want: [Float] = [a + (1 - a) * 0, (1 - a) * 0.2, (1 - a) * 1]
            for c in 0..<3 { #expect(quantised(at(png, x, 0, c)) == quantised(want[c])) }
        }

        // Gray + alpha flattens onto the background's luma.
        let grayAlpha = image(4, 1, channels: 2) { _, _, c in c == 0 ? 0 : 0.25 }
        let gray = try ImageIO.decode(data: try ImageIO.encode(grayAlpha, format: .jpeg,
                                                               options: .init(quality: 100, background: (r: 1, g: 1, b: 1))))
        #expect(gray.channels == 1 && abs(at(gray, 1, 0, 0) - 0.75) < 0.02)
    }
}

// MARK: - Pixel-count limit

@Suite("ImageIO fidelity: huge headers")
struct ImageIOHugeHeaderTests {
    /// A valid PNG signature and IHDR claiming 50000x50000 RGB, a token IDAT and IEND: ~60 bytes.
    func hugePNG() -> [UInt8] {
        func be32(_ v: UInt32) -> [UInt8] { (0..<4).reversed().map { UInt8((v >> (8 * $0)) & 0xFF) } }
        let ihdr = be32(50000) + be32(50000) + [8, 2, 0, 0, 0]   // 8-bit, truecolour, deflate, filter 0, no interlace
        let idat: [UInt8] = [0x78, 0x9C, 0x63, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01]   // zlib of one zero byte
        return [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
            + pngChunk("IHDR", ihdr) + pngChunk("IDAT", idat) + pngChunk("IEND", [])
    }

    @Test("header() reads a 50000x50000 PNG's size without decoding; decode(maxPixels:) refuses it first")
    func huge() throws {
        let png = hugePNG()
        #expect(png.count < 100)
        let start = Date()
        let header = try ImageIO.header(data: png)
        #expect(header.width == 50000 && header.height == 50000 && header.bands == 3)
        #expect(header.loader.hasPrefix("png"))
        let dir = try temporaryDirectory()
        try Data(png).write(to: URL(fileURLWithPath: dir + "/huge.png"))
        let fromFile = try ImageIO.header(path: dir + "/huge.png")
        #expect(fromFile.width == 50000 && fromFile.height == 50000)
        #expect(throws: ImageIOError.tooLarge(width: 50000, height: 50000, limit: 100_000_000)) {
            _ = try ImageIO.decode(data: png, maxPixels: 100_000_000)
        }
        #expect(throws: ImageIOError.tooLarge(width: 50000, height: 50000, limit: 100_000_000)) {
            _ = try ImageIO.decode(path: dir + "/huge.png", maxPixels: 100_000_000)
        }
        // 7.5 GB of pixels were never allocated: all of this is quick.
        #expect(Date().timeIntervalSince(start) < 2)
        // Within the limit, decode(maxPixels:) is decode().
        let small = try ImageIO.encode(smooth(8, 8, channels: 3), format: .png)
        #expect(try ImageIO.decode(data: small, maxPixels: 64).pixels == ImageIO.decode(data: small).pixels)
    }
}
