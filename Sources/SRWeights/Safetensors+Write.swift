public import Foundation

extension Safetensors {
    /// Writes `stateDict` to `path` atomically (a temporary file renamed over the target).
    ///
    /// - Parameters:
    ///   - metadata: stored in `__metadata__` on top of `stateDict.metadata` (these values win).
    ///   - dtype: when given (F32, F16 or BF16), floating-point tensors are converted to it; others keep their type.
    /// - Throws: `WeightsError.io` when the file cannot be written, `.badHeader` for a tensor named `__metadata__`.
    public static func write(_ stateDict: StateDict, metadata: [String: String] = [:], to path: String,
                             dtype: WeightDType? = nil) throws(WeightsError) {
        let data = try encode(stateDict, metadata: metadata, dtype: dtype)
        do { try data.write(to: URL(fileURLWithPath: path), options: .atomic) } catch {
            throw .io(path: path, reason: "cannot write (\(error.localizedDescription))")
        }
    }

    /// The bytes of a safetensors file holding `stateDict`; see `write(_:metadata:to:dtype:)`.
    public static func encode(_ stateDict: StateDict, metadata: [String: String] = [:],
                              dtype: WeightDType? = nil) throws(WeightsError) -> Data {
        precondition(dtype?.isFloatingPoint ?? true, "Safetensors.encode: cannot convert weights to \(dtype!)")
        var tensors: [(name: String, tensor: WeightTensor)] = []
        for (name, tensor) in stateDict {
            guard name != "__metadata__" else { throw .badHeader(reason: "a tensor cannot be named __metadata__") }
            let stored = if let dtype, tensor.dtype.isFloatingPoint { tensor.converted(to: dtype) } else { tensor }
            tensors.append((name, stored))
        }
        // Widest elements first keeps every tensor aligned to its element size; the sort is stable.
        tensors = tensors.enumerated()
            .sorted { ($1.element.tensor.dtype.size, $0.offset) < ($0.element.tensor.dtype.size, $1.offset) }
            .map(\.element)

        var header = "{"
        let meta = stateDict.metadata.merging(metadata) { _, new in new }
        if !meta.isEmpty {
            header += "\"__metadata__\":{"
                + meta.keys.sorted().map { "\(jsonString($0)):\(jsonString(meta[$0]!))" }.joined(separator: ",") + "},"
        }
        var offset = 0
        for (name, tensor) in tensors {
            let shape = tensor.shape.map(String.init).joined(separator: ",")
            header += "\(jsonString(name)):{\"dtype\":\"\(tensor.dtype.rawValue)\",\"shape\":[\(shape)],"
                + "\"data_offsets\":[\(offset),\(offset + tensor.bytes.count)]},"
            offset += tensor.bytes.count
        }
        if header.hasSuffix(",") { header.removeLast() }
        header += "}"
        var headerBytes = Array(header.utf8)
        while (8 + headerBytes.count) % 8 != 0 { headerBytes.append(UInt8(ascii: " ")) }

        var out = Data(capacity: 8 + headerBytes.count + offset)
        withUnsafeBytes(of: UInt64(headerBytes.count).littleEndian) { out.append(contentsOf: $0) }
        out.append(contentsOf: headerBytes)
        for (_, tensor) in tensors { out.append(tensor.bytes) }
        return out
    }

    /// `s` as a JSON string literal.
    static func jsonString(_ s: String) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}
