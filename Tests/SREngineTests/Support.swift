import Foundation
import SRImageIO
import SREngine
import SRTestSupport

enum Fixtures {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")
    static let ncnn = root.appendingPathComponent("ncnn")
    static let repository = TestPaths.repository
}

/// PSNR over 8-bit samples, both images quantised as the encoder does (`trunc(v * 255 + 0.5)`).
func psnr8(_ a: Image, _ b: Image) -> Double {
    precondition(a.pixels.count == b.pixels.count)
    var se = 0.0
    for (x, y) in zip(a.pixels, b.pixels) {
        let d = Double(Int(min(max(x * 255 + 0.5, 0), 255)) - Int(min(max(y * 255 + 0.5, 0), 255)))
        se += d * d
    }
    let mse = se / Double(a.pixels.count)
    return mse == 0 ? .infinity : 10 * log10(255 * 255 / mse)
}
