import ArgumentParser
import Foundation
import SRBackendDNNL
import SRBackendReference
import SRCore
import SREngine

/// Numeric precision of inference (`--precision`): oneDNN's fp32 or bf16 kernels.
typealias Precision = DNNLBackend.Precision

extension Precision: ExpressibleByArgument {}

/// Every backend knob of the command line, parsed once, and the backend list built from them: what `upscale`,
/// `bench`, `eval`, `convert` and `serve` hand to the engine. Registering a new backend is one line in `backends()`.
struct BackendOptions: Sendable {
    /// Worker threads of the oneDNN backend (nil: all cores); `serve` passes its threads per worker.
    var threads: Int?
    var precision: Precision
    /// `ENHANCE_CONV_ALGORITHM`: `winograd` (default), `direct` or `auto` (for experiments).
    var convolutionAlgorithm: DNNLBackend.ConvolutionAlgorithm
    /// `ENHANCE_PAD_CHANNELS=0` turns channel widening off (for experiments).
    var padChannels: Bool
    /// `ENHANCE_ROW_BANDS=0` runs row-local tails unbanded (for experiments; `upscale`, `bench`, `eval`).
    var rowBands: Bool
    /// `ENHANCE_WINDOW_SLACK=1` lets the Real-ESRGAN padding reflect up to 12 more pixels so that windows suit
    /// Winograd's tiling (the behaviour before Winograd ran on row bands; it changes outputs near the bottom and right
    /// edges, so it is for measurements only).
    var windowSlack: Bool

    /// - Throws: `ValidationError` for an `ENHANCE_CONV_ALGORITHM` that names no algorithm.
    init(threads: Int? = nil, precision: Precision = .fp32,
         environment: [String: String] = ProcessInfo.processInfo.environment) throws {
        self.threads = threads
        self.precision = precision
        if let name = environment["ENHANCE_CONV_ALGORITHM"], !name.isEmpty {
            guard let algorithm = DNNLBackend.ConvolutionAlgorithm(rawValue: name) else {
                let known = DNNLBackend.ConvolutionAlgorithm.allCases.map(\.rawValue).joined(separator: ", ")
                throw ValidationError("ENHANCE_CONV_ALGORITHM must be one of \(known); got '\(name)'")
            }
            convolutionAlgorithm = algorithm
        } else {
            convolutionAlgorithm = .winograd
        }
        padChannels = environment["ENHANCE_PAD_CHANNELS"] != "0"
        rowBands = environment["ENHANCE_ROW_BANDS"] != "0"
        windowSlack = environment["ENHANCE_WINDOW_SLACK"] == "1"
    }

    /// The backends, most preferred first: oneDNN, then the plain-Swift reference backend for a model with an op
    /// oneDNN's backend declines (slow, but it runs). A new backend is registered here.
    func backends() -> [any Backend] {
        [DNNLBackend(convolutionAlgorithm: convolutionAlgorithm, precision: precision, threads: threads,
                     padChannels: padChannels, windowSlack: windowSlack),
         ReferenceBackend()]
    }

    /// An engine over `backends()` (created on the calling thread, which then runs oneDNN with `threads`).
    func engine(store: ModelStore = ModelStore(), modelMemory: Int? = nil) -> Engine {
        Engine(store: store, backends: backends(), modelMemory: modelMemory, rowBands: rowBands)
    }
}
