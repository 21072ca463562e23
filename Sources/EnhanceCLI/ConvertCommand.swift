import ArgumentParser
import Foundation
import SREngine

extension ModelStore.StorageType: ExpressibleByArgument {}

struct ConvertCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "convert",
        abstract: "Convert a PyTorch checkpoint, a safetensors file or an ncnn model into a clean .safetensors model file.",
        discussion: """
        The input's architecture is detected as `upscale -m FILE` does; the output holds the network's tensors \
        under their canonical names (training wrappers such as params_ema, `module.` prefixes and the original \
        ESRGAN key names are removed) and metadata: architecture, config (JSON), scale, source and converted_by, \
        which detection reads back. PyTorch files are read by a restricted unpickler that never runs code.

        An ncnn model (a .param with its .bin beside it, or an installed model id) is mapped to RRDBNet \
        (Real-ESRGAN), SRVGGNetCompact (realesr-animevideov3) or SPAN by the order and shapes of its weights; the \
        mapping is kept only if the rebuilt network reproduces the ncnn graph's output on a test image (within \
        1e-3), so a converted model gives the ncnn model's pixels. Real-CUGAN's UNet has no PyTorch architecture in \
        Enhance yet and is refused with a message saying so.
        """
    )

    @Argument(help: "A .pth, .pt or .safetensors file, an ncnn .param (with its .bin) or an installed model id.")
    var input: String

    @Argument(help: "The .safetensors file to write (replaced if it exists).")
    var output: String

    @Option(help: "Store floating-point tensors as f32, f16 or bf16 (default: as in the input).")
    var dtype: ModelStore.StorageType?

    @Flag(name: .shortAndLong, help: "Print nothing but errors.")
    var quiet = false

    func validate() throws {
        guard (output as NSString).pathExtension.lowercased() == "safetensors" else {
            throw ValidationError("the output must end in .safetensors, got '\(output)'")
        }
    }

    func run() throws {
        // Direct convolutions: the ncnn mapping check compares two graphs on exactly the same kernels.
        var backend = try BackendOptions()
        backend.convolutionAlgorithm = .direct
        let report = try ModelStore().convert(input, to: output, storage: dtype, backends: backend.backends())
        if !quiet {
            print("wrote \(output): \(report.architecture) x\(report.scale), \(report.tensors) tensors, "
                  + InspectCommand.megabytes(report.bytes))
        }
    }
}
