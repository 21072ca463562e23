import Foundation
import Testing
import SRImageIO
import SRTestSupport

@Suite("Image I/O through libvips")
struct ImageIOTests {
    func gradient(width: Int, height: Int, channels: Int, depth: Int) -> Image {
        var px = [Float]()
        for c in 0..<channels { for y in 0..<height { for x in 0..<width {
            px.append(Float((x * 7 + y * 3 + c * 50) % 256) / 255)
        } } }
        return Image(width: width, height: height, channels: channels, pixels: px, bitDepth: depth)
    }

    @Test("PNG round trips exactly for gray, gray+alpha, RGB and RGBA", arguments: [1, 2, 3, 4])
    func pngRoundTrip(channels: Int) throws {
        let dir = try temporaryDirectory()
        let image = gradient(width: 13, height: 7, channels: channels, depth: 8)
        try ImageIO.encode(image, to: dir + "/a.png")
        let back = try ImageIO.decode(path: dir + "/a.png")
        #expect(back.width == 13 && back.height == 7 && back.channels == channels && back.bitDepth == 8)
        for (a, b) in zip(image.pixels, back.pixels) { #expect(abs(a - b) < 0.5 / 255) }
    }

    @Test("16-bit PNG stays 16-bit")
    func sixteenBit() throws {
        let dir = try temporaryDirectory()
        var image = gradient(width: 5, height: 4, channels: 3, depth: 16)
        image.pixels[0] = 12345 / 65535
        try ImageIO.encode(image, to: dir + "/a.png")
        let back = try ImageIO.decode(path: dir + "/a.png")
        #expect(back.bitDepth == 16)
        #expect(abs(back.pixels[0] - 12345 / 65535) < 0.5 / 65535)
    }

    @Test("JPEG and WebP encode by extension; quality changes the size", arguments: ["jpg", "webp"])
    func lossy(ext: String) throws {
        let dir = try temporaryDirectory()
        var rng = SystemRandomNumberGenerator()
        let noise = Image(width: 64, height: 64, channels: 3, pixels: (0..<(64 * 64 * 3)).map { _ in Float.random(in: 0...1, using: &rng) })
        try ImageIO.encode(noise, to: dir + "/hi.\(ext)", options: .init(quality: 95))
        try ImageIO.encode(noise, to: dir + "/lo.\(ext)", options: .init(quality: 20))
        let hi = try FileManager.default.attributesOfItem(atPath: dir + "/hi.\(ext)")[.size] as! Int
        let lo = try FileManager.default.attributesOfItem(atPath: dir + "/lo.\(ext)")[.size] as! Int
        #expect(lo < hi)
        let back = try ImageIO.decode(path: dir + "/hi.\(ext)")
        #expect(back.width == 64 && back.height == 64)
        #expect(try ImageIO.header(path: dir + "/hi.\(ext)").loader.hasPrefix(ext == "jpg" ? "jpeg" : "webp"))
    }

    @Test("bad inputs are named errors")
    func errors() throws {
        let dir = try temporaryDirectory()
        #expect(throws: ImageIOError.fileNotFound(path: dir + "/none.png")) { _ = try ImageIO.decode(path: dir + "/none.png") }
        FileManager.default.createFile(atPath: dir + "/text.png", contents: Data("hello, not an image".utf8))
        #expect { try ImageIO.decode(path: dir + "/text.png") } throws: { error in
            guard case ImageIOError.notAnImage = error else { return false }
            return true
        }
        #expect { try ImageIO.decode(data: []) } throws: { error in
            (error as? ImageIOError) == .notAnImage(source: "the uploaded data", detail: "it is empty")
        }
        // A PNG cut in half decodes its header but not its pixels.
        try ImageIO.encode(gradient(width: 64, height: 64, channels: 3, depth: 8), to: dir + "/full.png")
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: dir + "/full.png")))
        #expect(throws: ImageIOError.self) { _ = try ImageIO.decode(data: Array(bytes.prefix(bytes.count / 2))) }
        try Data(bytes.prefix(bytes.count / 2)).write(to: URL(fileURLWithPath: dir + "/cut.png"))
        #expect(throws: ImageIOError.self) { _ = try ImageIO.decode(path: dir + "/cut.png") }
        #expect(throws: ImageIOError.unsupportedOutputFormat(path: dir + "/x.bmpx")) {
            try ImageIO.encode(gradient(width: 2, height: 2, channels: 3, depth: 8), to: dir + "/x.bmpx")
        }
        // Nothing is left behind by a failed or successful atomic write.
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.contains("partial") }.isEmpty)
    }
}
