public import ArgumentParser

/// `enhance`: image super-resolution on the CPU.
public struct EnhanceCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "enhance",
        abstract: "Upscale images with real super-resolution networks (Real-ESRGAN, Real-CUGAN, SPAN) on the CPU.",
        subcommands: [UpscaleCommand.self, ServeCommand.self, ModelsCommand.self, InspectCommand.self, ConvertCommand.self,
                      BenchCommand.self, EvalCommand.self, TrainCommand.self],
        defaultSubcommand: nil
    )

    public init() {}
}
