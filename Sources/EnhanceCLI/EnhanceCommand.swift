public import ArgumentParser
import Foundation

/// `enhance`: image super-resolution on the CPU.
public struct EnhanceCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "enhance",
        abstract: "Upscale images with real super-resolution networks (Real-ESRGAN, Real-CUGAN, SPAN) on the CPU.",
        // Computed when the command line is first parsed: the library versions are those loaded at run time.
        version: EnhanceVersion.line,
        subcommands: [UpscaleCommand.self, ServeCommand.self, ModelsCommand.self, InspectCommand.self, ConvertCommand.self,
                      BenchCommand.self, EvalCommand.self, TrainCommand.self],
        defaultSubcommand: nil
    )

    public init() {}

    /// Parses `arguments`, runs the command and exits. Help goes to stdout in full; every error is one line on
    /// stderr ("Error: ..."; for a bad argument, with a pointer to the command's `--help`) and a non-zero status.
    public static func runFromCommandLine(_ arguments: [String] = Array(CommandLine.arguments.dropFirst())) -> Never {
        do {
            var command = try parseAsRoot(arguments)
            try command.run()
            Foundation.exit(0)
        } catch {
            let code = exitCode(for: error)
            if code == .success {
                print(fullMessage(for: error))
                Foundation.exit(0)
            }
            let message = Self.oneLine(error, arguments: arguments)
            if !message.isEmpty { FileHandle.standardError.write(Data((message + "\n").utf8)) }
            Foundation.exit(code.rawValue)
        }
    }

    /// The error as one line; argument errors name the (sub)command whose `--help` explains the options.
    static func oneLine(_ error: any Error, arguments: [String]) -> String {
        let text = message(for: error)
            .split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty }.joined(separator: "; ")
        guard !text.isEmpty else { return "" }
        let line = text.hasPrefix("Error:") ? text : "Error: \(text)"
        guard exitCode(for: error) == .validationFailure else { return line }
        let sub = configuration.subcommands.first { arguments.first == $0.configuration.commandName }
        let name = ["enhance", sub?.configuration.commandName].compactMap { $0 }.joined(separator: " ")
        return "\(line) (see '\(name) --help')"
    }
}
