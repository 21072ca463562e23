/// Reads the weight arrays of an ncnn `.bin`, in layer order.
///
/// Arrays loaded with *type 0* (convolution-style weights) start with a 4-byte tag:
/// - `0x01306B47`: IEEE half floats follow (`count * 2` bytes, padded to 4);
/// - `0x000D4B38`: int8 values follow (unsupported here: quantised models);
/// - `0x0002C056`: raw float32 follow;
/// - all four bytes zero: raw float32 follow;
/// - any other non-zero tag: a 256-entry float32 table, then `count` uint8 indexes (padded to 4).
/// Arrays loaded with *type 1* (biases, PReLU slopes, MemoryData) are raw float32 with no tag.
///
/// Work and memory are O(.bin bytes): an array's byte count is computed with overflow checks and compared with the
/// bytes that remain before anything is read or allocated, so a hostile element count is `truncatedWeights`.
struct NCNNBinReader {
    let bytes: [UInt8]
    private(set) var offset = 0

    init(bytes: [UInt8]) { self.bytes = bytes }

    var remaining: Int { bytes.count - offset }

    private mutating func take(_ n: Int, layer: String) throws(NCNNError) -> ArraySlice<UInt8> {
        guard n >= 0, n <= remaining else { throw .truncatedWeights(layer: layer, needed: n, available: remaining) }
        defer { offset += n }
        return bytes[offset..<(offset + n)]
    }

    private static func aligned4(_ n: Int) -> Int { (n + 3) & ~3 }

    /// The bytes of `count` elements of `size` bytes, refused (as truncation: no file holds them) when negative or
    /// more than the bytes that remain; `aligned` rounds up to a multiple of 4.
    private func byteCount(_ count: Int, _ size: Int, aligned: Bool = false, layer: String) throws(NCNNError) -> Int {
        let (bytes, overflow) = count.multipliedReportingOverflow(by: size)
        guard count >= 0, !overflow, bytes <= remaining else {
            throw .truncatedWeights(layer: layer, needed: overflow || count < 0 ? Int.max : bytes, available: remaining)
        }
        return aligned ? Self.aligned4(bytes) : bytes
    }

    private static func u32(_ s: ArraySlice<UInt8>, _ i: Int) -> UInt32 {
        let b = s.startIndex + i
        return UInt32(s[b]) | UInt32(s[b + 1]) << 8 | UInt32(s[b + 2]) << 16 | UInt32(s[b + 3]) << 24
    }

    private static func floats(_ s: ArraySlice<UInt8>, count: Int) -> [Float] {
        [Float](unsafeUninitializedCapacity: count) { out, n in
            s.withUnsafeBytes { raw in
                for i in 0..<count { out[i] = Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: i * 4, as: UInt32.self))) }
            }
            n = count
        }
    }

    /// IEEE half floats to Float with integer arithmetic the compiler vectorises (Swift's `Float16` conversion is a
    /// library call per value without F16C: realesrgan-x4plus's 16.7 M weights took most of its 0.18 s load; now
    /// the load is 0.08 s).
    /// Normal and subnormal values are exact (the exponent rebias is one multiplication by 2^112); infinities and
    /// NaNs keep an all-ones exponent.
    static func halfs(_ s: ArraySlice<UInt8>, count: Int) -> [Float] {
        [Float](unsafeUninitializedCapacity: count) { out, n in
            s.withUnsafeBytes { raw in
                // The files are little-endian, as is every machine Enhance builds for. A plain loop over raw
                // pointers, which the compiler vectorises.
                let src = raw.baseAddress!
                let dst = UnsafeMutableRawPointer(out.baseAddress!)
                for i in 0..<count {
                    let h = UInt32(src.loadUnaligned(fromByteOffset: i &* 2, as: UInt16.self))
                    var bits = (Float(bitPattern: (h & 0x7fff) &<< 13) * 0x1p112).bitPattern
                    if h & 0x7c00 == 0x7c00 { bits |= 0x7f80_0000 }
                    dst.storeBytes(of: bits | (h & 0x8000) &<< 16, toByteOffset: i &* 4, as: UInt32.self)
                }
            }
            n = count
        }
    }

    /// Raw float32 array (type 1).
    mutating func raw(_ count: Int, layer: String) throws(NCNNError) -> [Float] {
        Self.floats(try take(try byteCount(count, 4, layer: layer), layer: layer), count: count)
    }

    /// Tagged array (type 0).
    mutating func tagged(_ count: Int, layer: String, type: String) throws(NCNNError) -> [Float] {
        let header = try take(4, layer: layer)
        let tag = Self.u32(header, 0)
        switch tag {
        case 0x0130_6B47:
            return Self.halfs(try take(try byteCount(count, 2, aligned: true, layer: layer), layer: layer), count: count)
        case 0x000D_4B38:
            throw .unsupported(layer: layer, type: type, detail: "int8-quantised weights")
        case 0x0002_C056, 0:
            return try raw(count, layer: layer)
        default:
            let table = Self.floats(try take(256 * 4, layer: layer), count: 256)
            let s = try take(try byteCount(count, 1, aligned: true, layer: layer), layer: layer)
            return (0..<count).map { table[Int(s[s.startIndex + $0])] }
        }
    }
}
