import Testing
import SRCore
@testable import EnhanceCLI

/// The one place the command line turns its backend knobs into the backend list it hands to the engine.
@Suite("Backend options")
struct BackendOptionsTests {
    @Test("oneDNN first, the reference backend last; precision and threads reach the oneDNN backend")
    func list() throws {
        let fp32 = try BackendOptions(threads: 1, environment: [:])
        #expect(fp32.backends().map(\.name) == ["onednn", "reference"])
        #expect(fp32.threads == 1 && fp32.convolutionAlgorithm == .winograd && fp32.padChannels && fp32.rowBands)
        #expect(try BackendOptions(precision: .bf16, environment: [:]).backends().map(\.name) == ["onednn-bf16", "reference"])
        #expect(try BackendOptions(environment: [:]).engine().backends.count == 2)
    }

    @Test("environment knobs are parsed once, here; a bad algorithm name is an error, not silently Winograd")
    func environment() throws {
        let env = ["ENHANCE_CONV_ALGORITHM": "direct", "ENHANCE_PAD_CHANNELS": "0", "ENHANCE_ROW_BANDS": "0"]
        let o = try BackendOptions(environment: env)
        #expect(o.convolutionAlgorithm == .direct && !o.padChannels && !o.rowBands)
        #expect(!o.engine().rowBands)
        #expect(throws: (any Error).self) { try BackendOptions(environment: ["ENHANCE_CONV_ALGORITHM": "fast"]) }
    }
}
