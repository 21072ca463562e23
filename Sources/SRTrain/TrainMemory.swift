#if canImport(Glibc)
import Glibc
#endif

/// Keeps freed memory in the process for reuse instead of handing it back to the kernel.
///
/// A training step allocates the same large buffers every time (MSRResNet x4 at batch 16: tens of 37 MB
/// activations and gradients). glibc serves blocks above 32 MB (its largest mmap threshold) with fresh `mmap`s and
/// unmaps them on free, so every step faulted every page back in, zero-filled: measured 1540 -> 965 ms per
/// MSRResNet-16 step (release, 2 threads) once blocks stay in the heap. `configure()` sets glibc's `M_MMAP_MAX` to 0
/// (the heap serves every block) and `M_TRIM_THRESHOLD` to its maximum (the heap top is not returned); the
/// process keeps its peak footprint until it exits, which suits a training run. `Tape.init` calls it.
public enum TrainMemory {
    /// Whether glibc accepted the settings (false where `mallopt` is unavailable, e.g. other C libraries).
    public static let configured: Bool = {
        #if canImport(Glibc)
        // mallopt is not exported by Swift's Glibc module; RTLD_DEFAULT is a null handle on glibc.
        guard let symbol = dlsym(nil, "mallopt") else { return false }
        typealias Mallopt = @convention(c) (Int32, Int32) -> Int32
        let mallopt = unsafeBitCast(symbol, to: Mallopt.self)
        let mmapMax: Int32 = -4, trimThreshold: Int32 = -1          // <malloc.h> M_MMAP_MAX, M_TRIM_THRESHOLD
        return mallopt(mmapMax, 0) == 1 && mallopt(trimThreshold, Int32.max) == 1
        #else
        return false
        #endif
    }()

    /// Applies the settings once per process (later calls do nothing); returns whether they are in effect.
    @discardableResult
    public static func configure() -> Bool { configured }
}
