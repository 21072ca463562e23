import Foundation
import SRImageIO
import SREngine

enum Fixtures {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")
    static let ncnn = root.appendingPathComponent("ncnn")
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()
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

func temporaryDirectory() throws -> String {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("enhance-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    return dir
}

/// Models come from the set-up step (scripts/setup.sh); tests that need them fail with that instruction.
struct ModelsMissing: Error, CustomStringConvertible {
    var ids: [String]
    var directory: String
    var description: String {
        "models not installed in \(directory): \(ids.joined(separator: ", ")); run scripts/setup.sh --all (or set ENHANCE_MODELS_DIR)"
    }
}
