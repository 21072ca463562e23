import ArgumentParser
import Foundation
import SREngine
import SRImageIO
import SRMetrics

/// `enhance eval`: PSNR/SSIM of a model on a folder of HR images, the way the super-resolution papers measure.
struct EvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Score a model (and bicubic) on HR images with the SR papers' protocol: PSNR/SSIM on Y.",
        discussion: """
        Each HR image is cropped to a multiple of --scale, downscaled with MATLAB-compatible bicubic \
        (imresize, antialiased) and rounded to 8 bits; that LR image is upscaled by the model and by bicubic, and \
        both are scored against the HR image on the Y channel of MATLAB's rgb2ycbcr (a gray image is its own Y) \
        with --scale pixels shaved from every side. Without -m only the bicubic baseline is computed. \
        The images are never modified.
        """
    )

    @Option(help: ArgumentHelp("Folder of HR images (png, jpg, bmp, tif, webp).", valueName: "DIR"))
    var hr: String

    @Option(help: "Downscaling factor of the protocol (2, 3 or 4); the model's native scale must match.")
    var scale: Int = 4

    @Option(name: .shortAndLong, help: "Model id or weight file (.param, .pth, .safetensors); omit for bicubic only.")
    var model: String?

    @Option(help: "Score only the first N images (sorted by name).")
    var limit: Int?

    @Option(help: "Worker threads (default: all cores).")
    var threads: Int?

    @Option(help: "Numeric precision of the model: fp32 or bf16.")
    var precision: Precision = .fp32

    @OptionGroup var loaders: LoaderOptions

    @Flag(help: "Print JSON instead of a table.")
    var json = false

    static let extensions: Set<String> = ["png", "jpg", "jpeg", "bmp", "tif", "tiff", "webp"]

    func validate() throws {
        guard (2...8).contains(scale) else { throw ValidationError("--scale must be between 2 and 8, got \(scale)") }
        if let limit, limit < 1 { throw ValidationError("--limit must be at least 1, got \(limit)") }
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1, got \(threads)") }
    }

    struct Row: Codable {
        var image: String
        var width: Int
        var height: Int
        var bicubicPSNR: Double
        var bicubicSSIM: Double
        var modelPSNR: Double?
        var modelSSIM: Double?
    }

    func run() throws {
        loaders.apply()
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: hr, isDirectory: &isDir), isDir.boolValue else {
            throw ValidationError("--hr '\(hr)' is not a folder")
        }
        var files = try FileManager.default.contentsOfDirectory(atPath: hr)
            .filter { Self.extensions.contains(($0 as NSString).pathExtension.lowercased()) }
            .sorted()
        if let limit { files = Array(files.prefix(limit)) }
        guard !files.isEmpty else {
            throw ValidationError("no images (\(Self.extensions.sorted().joined(separator: ", "))) in '\(hr)'")
        }
        var engine: Engine?
        var loaded: LoadedModel?
        if let model {
            let e = try BackendOptions(threads: threads, precision: precision).engine()
            let m = try e.model(model)
            guard m.scale == scale else {
                throw ValidationError("model '\(model)' upscales x\(m.scale) but --scale is \(scale); pass --scale \(m.scale) or a x\(scale) model")
            }
            engine = e
            loaded = m
        }
        var rows: [Row] = []
        for file in files {
            let path = (hr as NSString).appendingPathComponent(file)
            let decoded = try ImageIO.decode(path: path)
            let hrImage = Self.planar(decoded)
            guard hrImage.height >= 2 * scale + 11, hrImage.width >= 2 * scale + 11 else {
                throw ValidationError("'\(file)' is \(hrImage.width)x\(hrImage.height); too small to score at x\(scale)")
            }
            let lr = SRProtocol.lowResolution(hrImage, scale: scale)
            let bicubic = SRProtocol.score(hr: hrImage, sr: SRProtocol.bicubic(lr, scale: scale), scale: scale)
            var row = Row(image: file, width: hrImage.width, height: hrImage.height,
                          bicubicPSNR: bicubic.psnr, bicubicSSIM: bicubic.ssim)
            if let engine, let loaded {
                let input = Image(width: lr.width, height: lr.height, channels: lr.channels,
                                  pixels: lr.data.map { $0 / 255 }, bitDepth: 8)
                let output = try engine.upscale(input, with: loaded).image
                let sr = Self.planar(output)
                let score = SRProtocol.score(hr: hrImage, sr: sr, scale: scale)
                row.modelPSNR = score.psnr
                row.modelSSIM = score.ssim
            }
            rows.append(row)
            if !json { print(Self.line(row)) }
        }
        let mean = { (k: KeyPath<Row, Double?>) -> Double? in
            let v = rows.compactMap { $0[keyPath: k] }
            return v.count == rows.count ? v.reduce(0, +) / Double(v.count) : nil
        }
        let summary = Row(image: "mean (\(rows.count) images)", width: 0, height: 0,
                          bicubicPSNR: rows.map(\.bicubicPSNR).reduce(0, +) / Double(rows.count),
                          bicubicSSIM: rows.map(\.bicubicSSIM).reduce(0, +) / Double(rows.count),
                          modelPSNR: mean(\.modelPSNR), modelSSIM: mean(\.modelSSIM))
        if json {
            struct Report: Codable {
                var folder: String, scale: Int, model: String?, images: [Row], mean: Row
            }
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            let data = try encoder.encode(Report(folder: hr, scale: scale, model: loaded?.id, images: rows, mean: summary))
            print(String(decoding: data, as: UTF8.self))
        } else {
            print(Self.line(summary))
        }
    }

    /// The image's colour planes on the 0...255 scale (alpha dropped), rounded to whole levels of 8-bit sources.
    static func planar(_ image: Image) -> PlanarImage {
        let c = image.colorChannels, n = image.width * image.height
        let levels: Float = image.bitDepth > 8 ? 65535 : 255
        let data = image.pixels[0..<(c * n)].map { ($0 * levels).rounded() * 255 / levels }
        return PlanarImage(channels: c, height: image.height, width: image.width, data: data)
    }

    static func line(_ r: Row) -> String {
        var s = r.image.padding(toLength: max(24, r.image.count), withPad: " ", startingAt: 0)
        s += String(format: "  bicubic %6.2f dB %.4f", r.bicubicPSNR, r.bicubicSSIM)
        if let p = r.modelPSNR, let q = r.modelSSIM { s += String(format: "   model %6.2f dB %.4f", p, q) }
        return s
    }
}
