import ArgumentParser
import Foundation
#if canImport(Glibc)
import Glibc
#endif
import SREngine
import SRImageIO

struct UpscaleCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "upscale",
        abstract: "Upscale an image (or a folder of images) with a super-resolution model.",
        discussion: """
        Reads PNG, JPEG, WebP, TIFF, GIF and AVIF/HEIC (the first frame or page of animated or multi-page files, \
        with a warning); other formats libvips knows (PDF, SVG, BMP, ...) only with --allow-all-loaders. Images are \
        refused before decoding when the input or the model's native output exceeds 250 megapixels. The output format follows the output \
        extension (.png, .jpg, .webp, .tif, .avif, .heic). Without -o the result is written beside the input as \
        NAME_x<scale>.png. The model runs at its native scale, in tiles when the image is large, and a resampler \
        reaches any other requested size. GAN models (Real-ESRGAN, Real-CUGAN) invent plausible detail that was \
        not in the input.
        """
    )

    @Argument(help: "The image to upscale, or a folder of images (batch mode).")
    var input: String

    @Option(name: .shortAndLong, help: "Output file (its extension picks the format), or the output folder in batch mode.")
    var output: String?

    @Flag(name: .shortAndLong, help: "Batch: descend into subfolders (the output mirrors the tree).")
    var recursive = false

    @Option(help: ArgumentHelp("Batch: only files matching this glob (*, **, ?, [abc]); repeatable.", valueName: "glob"))
    var include: [String] = []

    @Option(help: ArgumentHelp("Batch: skip files or folders matching this glob; repeatable.", valueName: "glob"))
    var exclude: [String] = []

    @Option(help: "Batch: appended to each output name before the extension, e.g. _x4.")
    var suffix: String = ""

    @Option(help: "Batch: output format for every file (png, jpg, webp, tif, avif, heic); default: keep the input's.")
    var format: String?

    @Flag(name: .customLong("skip-existing"), help: "Batch: leave outputs that already exist (resume an interrupted run).")
    var skipExisting = false

    @OptionGroup var options: UpscaleOptionsGroup

    @Option(help: ArgumentHelp("Send the work to a running `enhance serve` at this URL instead of running it here.",
                               valueName: "url"))
    var server: String?

    @OptionGroup var loaders: LoaderOptions

    @Flag(name: .shortAndLong, help: "Print nothing but errors.")
    var quiet = false

    @Flag(name: .shortAndLong, help: "Describe the run (tiling, memory budget) on stderr.")
    var verbose = false

    var isBatch: Bool {
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: input, isDirectory: &isDirectory) && isDirectory.boolValue
    }

    func validate() throws {
        if isBatch { return }
        if let output, ImageIO.Format(path: output) == nil {
            throw ValidationError("cannot tell the output format from '\(output)': use .png, .jpg, .webp, .tif, .avif or .heic")
        }
    }

    func run() throws {
        loaders.apply()
        if let server { return try runRemote(server) }
        if isBatch { return try runBatch() }
        let start = Date()
        let engine = try BackendOptions(threads: options.threads, precision: options.precision).engine()
        let model = try options.loadModel(engine)
        let target = output ?? Self.defaultOutput(for: input, scale: model.scale)
        if Self.samePath(target, input) {
            throw ValidationError("refusing to overwrite the input '\(input)'; choose another -o")
        }
        let engineOptions = try options.engineOptions()
        let (image, header) = try Self.decode(input, scale: model.scale, outputSize: engineOptions.outputSize,
                                              quiet: quiet)
        if verbose {
            let tile = try engine.tileSize(for: model, height: image.height, width: image.width, options: engineOptions)
            let plan = tile.map { "tiles of \($0)x\($0) input pixels (+\(engineOptions.context) context, \(engineOptions.overlap) overlap)" }
                ?? "whole image in one piece"
            let budget = ByteCountFormatter.string(fromByteCount: Int64(engineOptions.maxMemory), countStyle: .memory)
            FileHandle.standardError.write(Data("enhance: \(model.id) x\(model.scale), \(plan), working-memory budget \(budget)\n".utf8))
        }
        // On a terminal, long runs show how far they are.
        let size = try engine.upscale(image, with: model, options: engineOptions, writingTo: target,
                                      encodeOptions: try options.encodeOptions(),
                                      progress: !quiet && isatty(2) == 1 ? Self.terminalProgress(since: Date()) : nil)
        if !quiet {
            let seconds = Date().timeIntervalSince(start)
            print("wrote \(target) (\(header.width)x\(header.height) -> \(size.width)x\(size.height), " +
                  "\(model.id), \(String(format: "%.2f", seconds)) s)")
        }
    }

    /// Upscales every matching file of a folder; per-file errors are reported and the run goes on.
    /// `--server`: each file goes to the server; the batch rules (atomic outputs, per-file failures) stay.
    func runRemote(_ server: String) throws {
        let remote: RemoteUpscaler
        do { remote = try RemoteUpscaler(server: server, options: options) } catch {
            throw ValidationError("\(error)")
        }
        let scale = try remote.modelScale()
        if !isBatch {
            let target = output ?? Self.defaultOutput(for: input, scale: scale)
            if Self.samePath(target, input) {
                throw ValidationError("refusing to overwrite the input '\(input)'; choose another -o")
            }
            guard FileManager.default.fileExists(atPath: input) else { throw ValidationError("no such file: \(input)") }
            let size = try remote.upscale(input: input, output: target)
            if !quiet { print("\(target) (\(size), upscaled by \(server))") }
            return
        }
        let target = output ?? URL(fileURLWithPath: input).standardizedFileURL.path + "_x\(scale)"
        let plan = try BatchPlan(inputDirectory: input, outputDirectory: target, recursive: recursive, include: include,
                                 exclude: exclude, suffix: suffix, format: format, skipExisting: skipExisting)
        let summary = BatchRunner().run(plan, progress: BatchProgress.automatic(quiet: quiet)) { item in
            ItemResult(detail: try remote.upscale(input: item.input, output: item.output))
        }
        if summary.exitCode != 0 { throw ExitCode(summary.exitCode) }
    }

    func runBatch() throws {
        let engine = try BackendOptions(threads: options.threads, precision: options.precision).engine()
        let model = try options.loadModel(engine)
        let target = output ?? URL(fileURLWithPath: input).standardizedFileURL.path + "_x\(model.scale)"
        let plan = try BatchPlan(inputDirectory: input, outputDirectory: target, recursive: recursive, include: include,
                                 exclude: exclude, suffix: suffix, format: format, skipExisting: skipExisting)
        let engineOptions = try options.engineOptions(), encodeOptions = try options.encodeOptions()
        let summary = BatchRunner().run(plan, progress: BatchProgress.automatic(quiet: quiet)) { item in
            let (image, _) = try Self.decode(item.input, scale: model.scale, outputSize: engineOptions.outputSize,
                                             quiet: quiet)
            let size = try engine.upscale(image, with: model, options: engineOptions,
                                          writingTo: item.output, encodeOptions: encodeOptions)
            return ItemResult(detail: "\(size.width)x\(size.height)")
        }
        if summary.exitCode != 0 { throw ExitCode(summary.exitCode) }
    }

    /// Pixels an input, and the model's native output, may have (the output limit of `OutputSize`).
    static let maxPixels = OutputSize.defaultMaxPixels

    struct SizeError: Error, CustomStringConvertible {
        let description: String
    }

    /// Reads the header of `path` and refuses — before any pixel is decoded — an input, native output or requested
    /// output above `maxPixels`; warns when frames or pages beyond the first are left out; then decodes.
    static func decode(_ path: String, scale: Int, outputSize: OutputSize,
                       quiet: Bool) throws -> (Image, ImageIO.Header) {
        let header = try ImageIO.header(path: path)
        let (native, overflow) = (header.width * scale).multipliedReportingOverflow(by: header.height * scale)
        if overflow || native > maxPixels || header.width * header.height > maxPixels {
            throw SizeError(description: "\(path) is \(header.width)x\(header.height); at x\(scale) that is " +
                "\(header.width * scale)x\(header.height * scale), above the limit of \(maxPixels / 1_000_000) megapixels " +
                "(the model runs at its native scale before any resize); use a smaller image or a model of lower scale")
        }
        do {
            _ = try outputSize.resolve(inputWidth: header.width, inputHeight: header.height, nativeScale: scale)
        } catch {
            throw SizeError(description: "\(path): \(error.description)")
        }
        if !quiet, let warning = header.droppedFramesWarning { warn("\(path): \(warning)") }
        return (try ImageIO.decode(path: path, maxPixels: maxPixels), header)
    }

    static func warn(_ message: String) {
        FileHandle.standardError.write(Data("warning: \(message)\n".utf8))
    }

    /// A progress line on stderr: percentage and time left, cleared at the end.
    static func terminalProgress(since started: Date) -> @Sendable (Double) -> Void {
        { fraction in
            let elapsed = Date().timeIntervalSince(started)
            let eta = fraction > 0 ? Int(elapsed / fraction - elapsed) : 0
            let line = fraction >= 1 ? "\r\u{1B}[K"
                : String(format: "\rupscaling %3.0f%%  ETA %dm%02ds ", fraction * 100, eta / 60, eta % 60)
            FileHandle.standardError.write(Data(line.utf8))
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
