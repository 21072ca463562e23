import ArgumentParser
import Foundation
import SREngine
import SRImageIO

struct UpscaleCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "upscale",
        abstract: "Upscale an image by the model's native scale.",
        discussion: """
        Reads anything libvips reads (PNG, JPEG, WebP, TIFF, ...); the output format follows the output extension \
        (.png, .jpg, .webp, .tif). Without -o the result is written beside the input as NAME_x<scale>.png.
        GAN models (Real-ESRGAN, Real-CUGAN) invent plausible detail that was not in the input.
        """
    )

    @Argument(help: "The image to upscale.")
    var input: String

    @Option(name: .shortAndLong, help: "Output file; its extension picks the format.")
    var output: String?

    @Option(name: .shortAndLong, help: "Model id (see `enhance models`) or a path to an ncnn .param file.")
    var model: String = ModelManifest.embedded.default

    @Option(help: "Worker threads (default: all cores).")
    var threads: Int?

    @Option(help: "JPEG/WebP quality, 1-100.")
    var quality: Int?

    @Flag(name: .shortAndLong, help: "Print nothing but errors.")
    var quiet = false

    func validate() throws {
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1, got \(threads)") }
        if let quality, !(1...100).contains(quality) { throw ValidationError("--quality must be 1...100, got \(quality)") }
        if let output, ImageIO.Format(path: output) == nil {
            throw ValidationError("cannot tell the output format from '\(output)': use .png, .jpg, .webp or .tif")
        }
    }

    func run() throws {
        let start = Date()
        let engine = Engine(threads: threads)
        let model = try engine.model(model)
        let header = try ImageIO.header(path: input)
        let target = output ?? Self.defaultOutput(for: input, scale: model.scale)
        if Self.samePath(target, input) {
            throw ValidationError("refusing to overwrite the input '\(input)'; choose another -o")
        }
        let image = try ImageIO.decode(path: input)
        let result = try engine.upscale(image, with: model)
        try ImageIO.encode(result, to: target, options: .init(quality: quality))
        if !quiet {
            let seconds = Date().timeIntervalSince(start)
            print("wrote \(target) (\(header.width)x\(header.height) -> \(result.width)x\(result.height), " +
                  "\(model.id), \(String(format: "%.2f", seconds)) s)")
        }
    }

    static func defaultOutput(for input: String, scale: Int) -> String {
        let url = URL(fileURLWithPath: input)
        let stem = url.deletingPathExtension().lastPathComponent
        return url.deletingLastPathComponent().appendingPathComponent("\(stem)_x\(scale).png").path
    }

    static func samePath(_ a: String, _ b: String) -> Bool {
        URL(fileURLWithPath: a).standardizedFileURL.resolvingSymlinksInPath().path
            == URL(fileURLWithPath: b).standardizedFileURL.resolvingSymlinksInPath().path
    }
}
