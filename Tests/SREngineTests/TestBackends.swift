import SRBackendDNNL
import SRBackendReference
import SRCore
@testable import SREngine

/// The engine as the CLI builds it (oneDNN first, the reference backend last), for tests: the engine itself knows
/// no backend, so the test target builds the list (`BackendOptions.backends()` in EnhanceCLI is the real one).
extension Engine {
    convenience init(store: ModelStore = ModelStore(), threads: Int? = nil, precision: DNNLBackend.Precision = .fp32,
                     modelMemory: Int? = nil) {
        self.init(store: store, backends: [DNNLBackend(precision: precision, threads: threads), ReferenceBackend()],
                  modelMemory: modelMemory)
    }
}
