import Foundation

/// The entries of a ZIP archive whose members are stored uncompressed, as `torch.save` writes them.
///
/// Only the structures needed to find entry data are read (all integers little-endian):
/// ```
/// end of central directory (last 22 + comment bytes of the file)
///   u32 0x06054b50, u16 disk, u16 cd disk, u16 entries here, u16 entries, u32 cd size, u32 cd offset, u16 comment len
/// ZIP64 locator (20 bytes right before it, when a field above is 0xFFFF / 0xFFFFFFFF)
///   u32 0x07064b50, u32 disk, u64 offset of the ZIP64 end record, u32 disks
/// ZIP64 end of central directory
///   u32 0x06064b50, u64 size, u16 made by, u16 needed, u32 disk, u32 cd disk, u64 entries here, u64 entries,
///   u64 cd size, u64 cd offset
/// central directory header (one per entry)
///   u32 0x02014b50, u16 made by, u16 needed, u16 flags, u16 method, u32 time/date, u32 crc, u32 compressed size,
///   u32 size, u16 name len, u16 extra len, u16 comment len, u16 disk, u16 attrs, u32 ext attrs,
///   u32 local header offset, name, extra, comment
///   extra block 0x0001 (ZIP64): u64 values for those of size / compressed size / offset that are 0xFFFFFFFF
/// local header (before each entry's data)
///   u32 0x04034b50, 22 bytes, u16 name len, u16 extra len, name, extra, data
/// ```
/// The CRC is not checked. Entries are only rejected (compressed, encrypted, out of range) when read.
///
/// Work and memory are O(file bytes): the end record is searched for in the last 64 KiB + 22 bytes, each directory
/// entry takes at least 46 bytes of a directory that must lie inside the file (so a declared entry count, even a
/// ZIP64 one, cannot make the loop outrun the bytes), and every offset and size, ZIP64 values included, is compared
/// with the bytes that remain by subtraction, never by a sum that could overflow.
struct StoredZip {
    struct Entry {
        var name: String
        var method: Int
        var flags: Int
        var size: Int
        var compressedSize: Int
        var localHeaderOffset: Int
    }

    let data: Data
    private(set) var entries: [Entry] = []
    private var index: [String: Int] = [:]

    init(_ data: Data) throws(WeightsError) {
        self.data = data
        let (count, cdOffset, cdSize) = try Self.centralDirectory(data)
        guard cdOffset <= data.count, cdSize <= data.count - cdOffset else {
            throw .truncatedZip(reason: "the central directory at byte \(cdOffset) (\(cdSize) bytes) lies past the end of the \(data.count)-byte file")
        }
        var p = cdOffset
        for i in 0..<count {
            guard p + 46 <= cdOffset + cdSize, data.littleEndian(UInt32.self, at: p) == 0x0201_4B50 else {
                throw .malformedZip(reason: "central directory entry \(i) at byte \(p) is missing or has a bad signature")
            }
            let nameLength = Int(data.littleEndian(UInt16.self, at: p + 28))
            let extraLength = Int(data.littleEndian(UInt16.self, at: p + 30))
            let commentLength = Int(data.littleEndian(UInt16.self, at: p + 32))
            guard p + 46 + nameLength + extraLength + commentLength <= cdOffset + cdSize else {
                throw .malformedZip(reason: "central directory entry \(i) runs past the directory")
            }
            let name = String(decoding: data.slice(p + 46, nameLength), as: UTF8.self)
            var size = Int(data.littleEndian(UInt32.self, at: p + 24))
            var compressed = Int(data.littleEndian(UInt32.self, at: p + 20))
            var local = Int(data.littleEndian(UInt32.self, at: p + 42))
            if size == 0xFFFF_FFFF || compressed == 0xFFFF_FFFF || local == 0xFFFF_FFFF {
                var values = try Self.zip64Values(data.slice(p + 46 + nameLength, extraLength), entry: name)
                func next() throws(WeightsError) -> Int {
                    guard !values.isEmpty else { throw .malformedZip(reason: "entry '\(name)' lacks its ZIP64 sizes") }
                    return values.removeFirst()
                }
                if size == 0xFFFF_FFFF { size = try next() }
                if compressed == 0xFFFF_FFFF { compressed = try next() }
                if local == 0xFFFF_FFFF { local = try next() }
            }
            index[name] = entries.count
            entries.append(Entry(name: name, method: Int(data.littleEndian(UInt16.self, at: p + 10)),
                                 flags: Int(data.littleEndian(UInt16.self, at: p + 8)),
                                 size: size, compressedSize: compressed, localHeaderOffset: local))
            p += 46 + nameLength + extraLength + commentLength
        }
    }

    var names: [String] { entries.map(\.name) }

    func contains(_ name: String) -> Bool { index[name] != nil }

    /// The bytes of entry `name`, sharing storage with the archive.
    func read(_ name: String) throws(WeightsError) -> Data {
        guard let i = index[name] else { throw .missingEntry(name) }
        let e = entries[i]
        guard e.flags & 1 == 0 else { throw .encryptedEntry(entry: name) }
        guard e.method == 0 else { throw .compressedEntry(entry: name, method: e.method) }
        guard e.size == e.compressedSize else {
            throw .malformedZip(reason: "stored entry '\(name)' has size \(e.size) but compressed size \(e.compressedSize)")
        }
        let h = e.localHeaderOffset
        guard h <= data.count - 30 else {
            throw .truncatedZip(reason: "the local header of '\(name)' at byte \(h) lies past the end of the file")
        }
        guard data.littleEndian(UInt32.self, at: h) == 0x0403_4B50 else {
            throw .malformedZip(reason: "the local header of '\(name)' at byte \(h) has a bad signature")
        }
        let start = h + 30 + Int(data.littleEndian(UInt16.self, at: h + 26)) + Int(data.littleEndian(UInt16.self, at: h + 28))
        guard start <= data.count, e.size <= data.count - start else {
            let (end, overflow) = start.addingReportingOverflow(e.size)
            let needs = overflow ? "\(e.size) bytes from byte \(start)" : "bytes \(start)..<\(end)"
            throw .truncatedZip(reason: "entry '\(name)' needs \(needs) but the file has \(data.count)")
        }
        return data.slice(start, e.size)
    }

    /// Entry count, offset and size of the central directory, from the (ZIP64) end record.
    private static func centralDirectory(_ data: Data) throws(WeightsError) -> (Int, Int, Int) {
        guard data.count >= 22 else {
            throw .truncatedZip(reason: "the file has \(data.count) bytes, fewer than a zip end record")
        }
        var eocd = -1
        var p = data.count - 22
        let lowest = max(0, data.count - 22 - 0xFFFF)
        while p >= lowest {
            if data.littleEndian(UInt32.self, at: p) == 0x0605_4B50 { eocd = p; break }
            p -= 1
        }
        guard eocd >= 0 else {
            throw .truncatedZip(reason: "no end-of-central-directory record at the end of the file")
        }
        var count = Int(data.littleEndian(UInt16.self, at: eocd + 10))
        var size = Int(data.littleEndian(UInt32.self, at: eocd + 12))
        var offset = Int(data.littleEndian(UInt32.self, at: eocd + 16))
        guard data.littleEndian(UInt16.self, at: eocd + 4) == 0, data.littleEndian(UInt16.self, at: eocd + 6) == 0 else {
            throw .malformedZip(reason: "multi-disk archives are not supported")
        }
        guard count == 0xFFFF || size == 0xFFFF_FFFF || offset == 0xFFFF_FFFF else { return (count, offset, size) }

        let locator = eocd - 20
        guard locator >= 0, data.littleEndian(UInt32.self, at: locator) == 0x0706_4B50 else {
            throw .malformedZip(reason: "the end record needs ZIP64 values but there is no ZIP64 locator")
        }
        let recordOffset = data.littleEndian(UInt64.self, at: locator + 8)
        guard data.count >= 56, recordOffset <= UInt64(data.count - 56) else {
            throw .truncatedZip(reason: "the ZIP64 end record at byte \(recordOffset) lies past the end of the file")
        }
        let r = Int(recordOffset)
        guard data.littleEndian(UInt32.self, at: r) == 0x0606_4B50 else {
            throw .malformedZip(reason: "the ZIP64 end record at byte \(r) has a bad signature")
        }
        let values = [32, 40, 48].map { data.littleEndian(UInt64.self, at: r + $0) }
        guard values.allSatisfy({ $0 <= UInt64(data.count) }) else {
            throw .truncatedZip(reason: "the ZIP64 end record points past the end of the file")
        }
        (count, size, offset) = (Int(values[0]), Int(values[1]), Int(values[2]))
        return (count, offset, size)
    }

    /// The u64 values of the ZIP64 extra block (id 1) in `extra`.
    private static func zip64Values(_ extra: Data, entry: String) throws(WeightsError) -> [Int] {
        var p = 0
        while p + 4 <= extra.count {
            let id = extra.littleEndian(UInt16.self, at: p)
            let length = Int(extra.littleEndian(UInt16.self, at: p + 2))
            guard p + 4 + length <= extra.count else { break }
            if id == 1 {
                return try stride(from: p + 4, to: p + 4 + length - 7, by: 8).map { (q: Int) throws(WeightsError) -> Int in
                    let v = extra.littleEndian(UInt64.self, at: q)
                    guard v <= UInt64(Int.max) else { throw .malformedZip(reason: "entry '\(entry)' has a ZIP64 value \(v)") }
                    return Int(v)
                }
            }
            p += 4 + length
        }
        throw .malformedZip(reason: "entry '\(entry)' lacks its ZIP64 extra field")
    }
}
