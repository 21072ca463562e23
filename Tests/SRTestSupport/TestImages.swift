import Foundation
import SRImageIO

/// Synthetic images for tests: deterministic, textured enough for codecs and networks to have work to do.
public enum TestImages {
    /// An RGB(A) gradient of `width` x `height`: sample (x, y, c) is `(9x + 5y + 40c) mod 256` / 255.
    public static func gradient(width: Int = 24, height: Int = 18, channels: Int = 3) -> Image {
        var px = [Float]()
        px.reserveCapacity(width * height * channels)
        for c in 0..<channels { for y in 0..<height { for x in 0..<width { px.append(Float((x * 9 + y * 5 + c * 40) % 256) / 255) } } }
        return Image(width: width, height: height, channels: channels, pixels: px)
    }

    /// `gradient` encoded as PNG.
    public static func png(width: Int = 24, height: Int = 18, channels: Int = 3) throws -> [UInt8] {
        try ImageIO.encode(gradient(width: width, height: height, channels: channels), format: .png)
    }
}

/// Training sets written to disk (SRTrainDataTests, SRTrainTests).
public enum TrainDataSupport {
    /// A new empty directory for one test.
    public static func scratch() throws -> String { try temporaryDirectory("enhance-train") }

    /// Writes `count` textured RGB PNGs of `side + 6` x `side` pixels (`img0.png`, `img1.png`, …) into `dir`.
    public static func writeImages(_ dir: String, count: Int, side: Int) throws {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        for k in 0..<count {
            var px = [Float]()
            let w = side + 6
            for c in 0..<3 { for y in 0..<side { for x in 0..<w {
                px.append(Float((x * (7 + k) + y * 13 + c * 50 + (x * y) % 17) % 256) / 255)
            } } }
            try ImageIO.encode(Image(width: w, height: side, channels: 3, pixels: px), to: "\(dir)/img\(k).png")
        }
    }
}
