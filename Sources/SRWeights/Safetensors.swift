public import Foundation

/// Reads and writes safetensors files.
///
/// ```
/// u64 LE   N                       header length
/// N bytes  JSON object, UTF-8      starts with '{'; may be padded with spaces (0x20)
///            "__metadata__": {"key": "value", ...}                                   optional, strings only
///            "<name>": {"dtype": "F32", "shape": [d0, d1, ...], "data_offsets": [begin, end]}
/// rest     data buffer             each tensor at [begin, end) from the buffer start, row-major, little-endian
/// ```
/// The buffer is fully indexed: tensors sorted by `begin` lie back to back from 0 to the end of the file, with no
/// holes, overlaps or trailing bytes, and each starts at a multiple of its element size (the reference writer orders
/// tensors by alignment). Readers return tensors in file order; the file is memory-mapped, not copied.
///
/// Work and memory are O(header bytes), and the header is at most `maxHeaderLength` bytes and no longer than the
/// file: its JSON nests at most `maxHeaderNesting` deep (checked by a scan before parsing), every shape's element
/// and byte counts are overflow-checked, every tensor must lie inside the file's data buffer, and checking that the
/// tensors tile the buffer sorts them once. Tensor bytes are never copied.
public enum Safetensors {
    /// Headers larger than this are refused (the reference implementation's limit).
    static let maxHeaderLength = 100_000_000
    /// Headers whose arrays and objects nest deeper than this are refused (a real header nests 3 deep).
    static let maxHeaderNesting = 64

    /// Reads the safetensors file at `path`.
    public static func load(path: String) throws(WeightsError) -> StateDict {
        try read(WeightFileBytes.map(path))
    }

    /// Parses a whole safetensors file; tensors share storage with `data`.
    public static func read(_ data: Data) throws(WeightsError) -> StateDict {
        guard data.count >= 8 else { throw .truncatedHeader(declared: 8, available: data.count) }
        let declared = data.littleEndian(UInt64.self, at: 0)
        guard declared <= UInt64(maxHeaderLength) else {
            throw .badHeader(reason: "header length \(declared) exceeds the \(maxHeaderLength)-byte limit")
        }
        let headerLength = Int(declared)
        guard headerLength <= data.count - 8 else {
            throw .truncatedHeader(declared: headerLength, available: data.count - 8)
        }
        let header = data.slice(8, headerLength)
        guard header.first == UInt8(ascii: "{") else { throw .badHeader(reason: "the header does not start with '{'") }
        guard nesting(of: header, within: maxHeaderNesting) else {
            throw .badHeader(reason: "arrays and objects nest more than \(maxHeaderNesting) deep")
        }
        let json: Any
        do { json = try JSONSerialization.jsonObject(with: header) } catch {
            throw .badHeader(reason: "not valid JSON (\(error.localizedDescription))")
        }
        guard let object = json as? [String: Any] else { throw .badHeader(reason: "the header is not a JSON object") }

        var result = StateDict()
        if let meta = object["__metadata__"] {
            guard let strings = meta as? [String: String] else {
                throw .badHeader(reason: "__metadata__ must map strings to strings")
            }
            result.metadata = strings
        }
        let buffer = data.slice(8 + headerLength, data.count - 8 - headerLength)
        var infos: [TensorInfo] = []
        for name in object.keys.sorted() where name != "__metadata__" {
            infos.append(try TensorInfo(name: name, json: object[name]!))
        }
        for info in try validated(infos, bufferSize: buffer.count) {
            result.insert(WeightTensor(dtype: info.dtype, shape: info.shape,
                                       bytes: buffer.slice(info.begin, info.end - info.begin)),
                          path: [info.name])
        }
        return result
    }

    /// Whether the arrays and objects of the JSON text `json` nest at most `limit` deep (brackets inside strings do
    /// not count). Malformed JSON passes; the parser reports it.
    static func nesting(of json: Data, within limit: Int) -> Bool {
        json.withUnsafeBytes { nesting(of: $0, within: limit) }
    }

    private static func nesting(of json: UnsafeRawBufferPointer, within limit: Int) -> Bool {
        var depth = 0, inString = false, escaped = false
        for byte in json {
            if inString {
                if escaped {
                    escaped = false
                } else if byte == UInt8(ascii: "\\") {
                    escaped = true
                } else if byte == UInt8(ascii: "\"") {
                    inString = false
                }
                continue
            }
            switch byte {
            case UInt8(ascii: "\""): inString = true
            case UInt8(ascii: "["), UInt8(ascii: "{"):
                depth += 1
                if depth > limit { return false }
            case UInt8(ascii: "]"), UInt8(ascii: "}"): depth -= 1
            default: break
            }
        }
        return true
    }

    /// One header entry, checked on its own.
    struct TensorInfo {
        var name: String
        var dtype: WeightDType
        var shape: [Int]
        var begin: Int
        var end: Int

        init(name: String, json: Any) throws(WeightsError) {
            guard let fields = json as? [String: Any] else {
                throw .badHeader(reason: "entry '\(name)' is not an object")
            }
            guard let dtypeName = fields["dtype"] as? String else {
                throw .badHeader(reason: "tensor '\(name)' has no string 'dtype'")
            }
            guard let shape = fields["shape"] as? [Int] else {
                throw .badHeader(reason: "tensor '\(name)' has no integer array 'shape'")
            }
            guard let offsets = fields["data_offsets"] as? [Int], offsets.count == 2 else {
                throw .badHeader(reason: "tensor '\(name)' has no 'data_offsets' pair of integers")
            }
            guard let dtype = WeightDType(rawValue: dtypeName) else {
                throw .unsupportedDType(tensor: name, dtype: dtypeName)
            }
            guard let count = WeightDType.elementCount(shape), !count.multipliedReportingOverflow(by: dtype.size).overflow else {
                throw .badHeader(reason: "tensor '\(name)' has an invalid shape \(shape)")
            }
            let (begin, end) = (offsets[0], offsets[1])
            guard begin >= 0, end >= begin else { throw .invalidOffsets(tensor: name, begin: begin, end: end) }
            guard end - begin == count * dtype.size else {
                throw .tensorSizeMismatch(tensor: name, shape: shape, dtype: dtype, bytes: end - begin)
            }
            guard begin % dtype.size == 0 else {
                throw .tensorMisaligned(tensor: name, offset: begin, alignment: dtype.size)
            }
            (self.name, self.dtype, self.shape, self.begin, self.end) = (name, dtype, shape, begin, end)
        }
    }

    /// `infos` in buffer order, after checking that they tile `[0, bufferSize)` exactly.
    static func validated(_ infos: [TensorInfo], bufferSize: Int) throws(WeightsError) -> [TensorInfo] {
        let sorted = infos.sorted { ($0.begin, $0.end, $0.name) < ($1.begin, $1.end, $1.name) }
        var position = 0
        var previous: String?
        for info in sorted {
            if info.end > bufferSize { throw .tensorOutOfRange(tensor: info.name, end: info.end, available: bufferSize) }
            if info.begin < position, let previous { throw .tensorsOverlap(first: previous, second: info.name) }
            if info.begin > position { throw .unindexedBytes(from: position, to: info.begin) }
            position = info.end
            previous = info.name
        }
        if position < bufferSize { throw .unindexedBytes(from: position, to: bufferSize) }
        return sorted
    }
}
