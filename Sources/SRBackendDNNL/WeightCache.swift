internal import CDNNL
import Synchronization

/// Weights already laid out for oneDNN, shared by every executable of one model.
///
/// Each input size of a model compiles its own executable, and each executable used to hold its own copy of the
/// weights in the layout its primitives want — for Winograd convolutions the transformed kernels, 36 instead of 9
/// coefficients per 3x3 kernel (realesrgan-x4plus: 270 MB per executable, and a server caches up to eight). With a
/// cache, weights of the same values and the same target layout are transformed once and shared; an executable
/// keeps the buffers it uses alive, so dropping the cache (with its model) frees only what no executable holds.
public final class WeightCache: Sendable {
    private struct Key: Hashable {
        var hash: Int
        var count: Int
    }
    private final class Entry: @unchecked Sendable {
        let desc: dnnl_memory_desc_t
        let buffer: AlignedBuffer
        init(desc: dnnl_memory_desc_t, buffer: AlignedBuffer) {
            self.desc = desc
            self.buffer = buffer
        }
    }
    private let entries = Mutex<[Key: [Entry]]>([:])

    public init() {}

    /// Bytes held by the cache.
    public var bytes: Int { entries.withLock { $0.values.joined().reduce(0) { $0 + $1.buffer.size } } }

    private static func key(_ data: [Float]) -> Key {
        var hasher = Hasher()
        data.withUnsafeBytes { hasher.combine(bytes: $0) }
        return Key(hash: hasher.finalize(), count: data.count)
    }

    /// The buffer holding `data` laid out as `desc`, if one was made before.
    func lookup(_ data: [Float], _ desc: dnnl_memory_desc_t) -> AlignedBuffer? {
        let key = Self.key(data)
        return entries.withLock { e in e[key]?.first { MD.equal($0.desc, desc) }?.buffer }
    }

    func insert(_ data: [Float], _ desc: dnnl_memory_desc_t, _ buffer: AlignedBuffer) {
        let key = Self.key(data)
        entries.withLock { $0[key, default: []].append(Entry(desc: desc, buffer: buffer)) }
    }
}
