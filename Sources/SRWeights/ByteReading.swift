import Foundation

extension Data {
    /// The little-endian integer at `offset` bytes from the start of this (possibly sliced) data. The caller has
    /// checked that `offset + MemoryLayout<T>.size <= count`.
    func littleEndian<T: FixedWidthInteger>(_: T.Type, at offset: Int) -> T {
        withUnsafeBytes { T(littleEndian: $0.loadUnaligned(fromByteOffset: offset, as: T.self)) }
    }

    /// `count` bytes from `offset` (relative to the start), sharing storage with self. The caller checks bounds.
    func slice(_ offset: Int, _ count: Int) -> Data {
        self[(startIndex + offset)..<(startIndex + offset + count)]
    }
}

enum WeightFileBytes {
    /// The contents of `path`, memory-mapped: tensors are read straight from the page cache.
    static func map(_ path: String) throws(WeightsError) -> Data {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw .io(path: path, reason: "no such file")
        }
        guard !isDirectory.boolValue else { throw .io(path: path, reason: "is a directory") }
        do {
            return try Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped)
        } catch {
            throw .io(path: path, reason: "unreadable (\(error.localizedDescription))")
        }
    }

    /// `bytes` formatted for error messages: up to 8 bytes in hex.
    static func hexPrefix(_ bytes: Data) -> String {
        bytes.prefix(8).map { b in (b < 16 ? "0" : "") + String(b, radix: 16) }.joined(separator: " ")
    }
}
