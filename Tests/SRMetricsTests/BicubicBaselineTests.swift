import Foundation
import Testing
import SRImageIO
@testable import SRMetrics

/// The literature's bicubic baselines (e.g. the EDSR and RCAN papers' tables) on the standard test sets.
@Suite("Bicubic baselines of the literature, reproduced", .serialized)
struct BicubicBaselineTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../../shared/sr-testsets").standardized.path

    /// An 8-bit image's colour planes on the 0...255 scale (gray stays one channel).
    static func load(_ path: String) throws -> PlanarImage {
        let image = try ImageIO.decode(path: path)
        let n = image.width * image.height, c = image.colorChannels
        return PlanarImage(channels: c, height: image.height, width: image.width,
                           data: image.pixels[0..<(c * n)].map { ($0 * 255).rounded() })
    }

    @Test("x4: Set5 28.42/0.8104, Set14 26.00/0.7027, BSD100 25.96/0.6675 within 0.05 dB and 0.005",
          arguments: [("Set5", 28.42, 0.8104), ("Set14", 26.00, 0.7027), ("BSD100", 25.96, 0.6675)])
    func x4(set: String, psnr: Double, ssim: Double) throws {
        let mean = try Self.bicubicMean(set: set, scale: 4)
        #expect(abs(mean.psnr - psnr) <= 0.05, "\(set) x4 PSNR \(mean.psnr) vs \(psnr)")
        #expect(abs(mean.ssim - ssim) <= 0.005, "\(set) x4 SSIM \(mean.ssim) vs \(ssim)")
    }

    @Test("x2 and x3 on Set5: 33.66/0.9299 and 30.39/0.8682", arguments: [(2, 33.66, 0.9299), (3, 30.39, 0.8682)])
    func otherScales(scale: Int, psnr: Double, ssim: Double) throws {
        let mean = try Self.bicubicMean(set: "Set5", scale: scale)
        #expect(abs(mean.psnr - psnr) <= 0.05, "Set5 x\(scale) PSNR \(mean.psnr) vs \(psnr)")
        #expect(abs(mean.ssim - ssim) <= 0.005, "Set5 x\(scale) SSIM \(mean.ssim) vs \(ssim)")
    }

    static func bicubicMean(set: String, scale: Int) throws -> SRProtocol.Score {
        let folder = root + "/" + set
        let files = try FileManager.default.contentsOfDirectory(atPath: folder).filter { $0.hasSuffix(".png") }.sorted()
        try #require(!files.isEmpty, "the evaluation sets are missing: expected PNGs in \(folder) (../shared/sr-testsets)")
        var p = 0.0, s = 0.0
        for f in files {
            let hr = try load(folder + "/" + f)
            let lr = SRProtocol.lowResolution(hr, scale: scale)
            let score = SRProtocol.score(hr: hr, sr: SRProtocol.bicubic(lr, scale: scale), scale: scale)
            p += score.psnr
            s += score.ssim
        }
        return SRProtocol.Score(psnr: p / Double(files.count), ssim: s / Double(files.count))
    }
}
