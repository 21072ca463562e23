/// Reads the weight arrays of an ncnn `.bin`, in layer order.
///
/// Arrays loaded with *type 0* (convolution-style weights) start with a 4-byte tag:
/// - `0x01306B47`: IEEE half floats follow (`count * 2` bytes, padded to 4);
/// - `0x000D4B38`: int8 values follow (unsupported here: quantised models);
/// - `0x0002C056`: raw float32 follow;
/// - all four bytes zero: raw float32 follow;
/// - any other non-zero tag: a 256-entry float32 table, then `count` uint8 indexes (padded to 4).
/// Arrays loaded with *type 1* (biases, PReLU slopes, MemoryData) are raw float32 with no tag.
struct NCNNBinReader {
    let bytes: [UInt8]
    private(set) var offset = 0

    init(bytes: [UInt8]) { self.bytes = bytes }

    var remaining: Int { bytes.count - offset }

    private mutating func take(_ n: Int, layer: String) throws(NCNNError) -> ArraySlice<UInt8> {
        guard n <= remaining else { throw .truncatedWeights(layer: layer, needed: n, available: remaining) }
        defer { offset += n }
        return bytes[offset..<(offset + n)]
    }

    private static func aligned4(_ n: Int) -> Int { (n + 3) & ~3 }

    private static func u32(_ s: ArraySlice<UInt8>, _ i: Int) -> UInt32 {
        let b = s.startIndex + i
        return UInt32(s[b]) | UInt32(s[b + 1]) << 8 | UInt32(s[b + 2]) << 16 | UInt32(s[b + 3]) << 24
    }

    private static func floats(_ s: ArraySlice<UInt8>, count: Int) -> [Float] {
        (0..<count).map { Float(bitPattern: u32(s, $0 * 4)) }
    }

    /// Raw float32 array (type 1).
    mutating func raw(_ count: Int, layer: String) throws(NCNNError) -> [Float] {
        Self.floats(try take(count * 4, layer: layer), count: count)
    }

    /// Tagged array (type 0).
    mutating func tagged(_ count: Int, layer: String, type: String) throws(NCNNError) -> [Float] {
        let header = try take(4, layer: layer)
        let tag = Self.u32(header, 0)
        switch tag {
        case 0x0130_6B47:
            let s = try take(Self.aligned4(count * 2), layer: layer)
            return (0..<count).map { i in
                let b = s.startIndex + i * 2
                return Float(Float16(bitPattern: UInt16(s[b]) | UInt16(s[b + 1]) << 8))
            }
        case 0x000D_4B38:
            throw .unsupported(layer: layer, type: type, detail: "int8-quantised weights")
        case 0x0002_C056, 0:
            return try raw(count, layer: layer)
        default:
            let table = Self.floats(try take(256 * 4, layer: layer), count: 256)
            let s = try take(Self.aligned4(count), layer: layer)
            return (0..<count).map { table[Int(s[s.startIndex + $0])] }
        }
    }
}
