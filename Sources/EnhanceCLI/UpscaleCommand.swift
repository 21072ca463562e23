import ArgumentParser
import Foundation
import SREngine
import SRImageIO

struct UpscaleCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "upscale",
        abstract: "Upscale an image (or a folder of images) with a super-resolution model.",
        discussion: """
        Reads anything libvips reads (PNG, JPEG, WebP, TIFF, AVIF/HEIC, ...); the output format follows the output \
        extension (.png, .jpg, .webp, .tif, .avif, .heic). Without -o the result is written beside the input as \
        NAME_x<scale>.png. The model runs at its native scale, in tiles when the image is large, and a resampler \
        reaches any other requested size. GAN models (Real-ESRGAN, Real-CUGAN) invent plausible detail that was \
        not in the input.
        """
    )

    @Argument(help: "The image to upscale.")
    var input: String

    @Option(name: .shortAndLong, help: "Output file; its extension picks the format.")
    var output: String?

    @OptionGroup var options: UpscaleOptionsGroup

    @Flag(name: .shortAndLong, help: "Print nothing but errors.")
    var quiet = false

    func validate() throws {
        if let output, ImageIO.Format(path: output) == nil {
            throw ValidationError("cannot tell the output format from '\(output)': use .png, .jpg, .webp, .tif, .avif or .heic")
        }
    }

    func run() throws {
        let start = Date()
        let engine = Engine(threads: options.threads)
        let model = try options.loadModel(engine)
        let header = try ImageIO.header(path: input)
        let target = output ?? Self.defaultOutput(for: input, scale: model.scale)
        if Self.samePath(target, input) {
            throw ValidationError("refusing to overwrite the input '\(input)'; choose another -o")
        }
        let image = try ImageIO.decode(path: input)
        let result = try engine.upscale(image, with: model, options: try options.engineOptions())
        try ImageIO.encode(result, to: target, options: try options.encodeOptions())
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
