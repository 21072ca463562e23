import Foundation
import Testing
import SRTestSupport
import SRImageIO
@testable import SREngine

@Suite("Streaming rows into the encoder", .serialized)
struct StreamingTests {
    static let engine = Engine()

    func model() throws -> LoadedModel {
        guard Self.engine.store.isInstalled("span-x2") else { throw ModelsMissing(ids: ["span-x2"], directory: Self.engine.store.directory) }
        return try Self.engine.model("span-x2")
    }

    func variant(_ base: Image, channels: Int, depth: Int) -> Image {
        let plane = base.width * base.height
        var px = [Float]()
        if channels <= 2 { px = Array(base.pixels[0..<plane]) } else { px = Array(base.pixels[0..<(3 * plane)]) }
        if channels == 2 || channels == 4 { px += (0..<plane).map { Float($0 % base.width) / Float(base.width) } }
        return Image(width: base.width, height: base.height, channels: channels, pixels: px, bitDepth: depth)
    }

    @Test("streamed and in-memory encodes write the same pixels (tiled, every band layout, 8 and 16 bits)",
          arguments: [(3, 8), (4, 8), (1, 16), (2, 8)])
    func sameAsRaster(channels: Int, depth: Int) throws {
        let m = try model()
        let dir = try temporaryDirectory()
        let image = variant(try TilingTests.photo(side: 72), channels: channels, depth: depth)
        let options = UpscaleOptions(tileSize: 24)
        try Self.engine.upscale(image, with: m, options: options, writingTo: dir + "/stream.png")
        try ImageIO.encode(try Self.engine.upscale(image, with: m, options: options), to: dir + "/raster.png")
        let a = try ImageIO.decode(path: dir + "/stream.png"), b = try ImageIO.decode(path: dir + "/raster.png")
        #expect(a.width == 144 && a.channels == channels && a.bitDepth == depth)
        #expect(a.pixels == b.pixels)
    }

    @Test("flattening onto a background while streaming matches the raster path within one level")
    func flatten() throws {
        let m = try model()
        let dir = try temporaryDirectory()
        let image = variant(try TilingTests.photo(side: 40), channels: 4, depth: 8)
        let encode = ImageIO.EncodeOptions(background: (1, 0.5, 0))
        try Self.engine.upscale(image, with: m, writingTo: dir + "/s.png", encodeOptions: encode)
        try ImageIO.encode(try Self.engine.upscale(image, with: m), to: dir + "/r.png", options: encode)
        let a = try ImageIO.decode(path: dir + "/s.png"), b = try ImageIO.decode(path: dir + "/r.png")
        #expect(a.channels == 3 && b.channels == 3)
        #expect(zip(a.pixels, b.pixels).allSatisfy { abs($0 - $1) <= 1.5 / 255 })
    }

    @Test("a producer failure surfaces as an error and leaves no file behind")
    func failure() throws {
        final class Broken: RowProducer {
            let width = 8, height = 64, bands = 3, depth = 8
            let iccProfile: [UInt8]? = nil, exif: [UInt8]? = nil, xmp: [UInt8]? = nil
            struct Boom: Error {}
            func produce(firstRow: Int, count: Int, depth: Int, background: (r: Float, g: Float, b: Float)?,
                         into buffer: UnsafeMutableRawPointer) throws {
                if firstRow > 0 { throw Boom() }
                memset(buffer, 128, count * width * 3)
            }
        }
        let dir = try temporaryDirectory()
        #expect(throws: ImageIOError.self) { try ImageIO.encode(Broken(), to: dir + "/x.png") }
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).isEmpty)
    }
}
