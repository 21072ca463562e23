import Foundation
import Testing
@testable import SRWeights

/// The files written by scripts/make_torch_fixtures.py and what they must read as.
enum TorchFixtures {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("Fixtures/torch")

    static func path(_ name: String) -> String { directory.appendingPathComponent(name).path }

    static func data(_ name: String) throws -> Data { try Data(contentsOf: directory.appendingPathComponent(name)) }

    struct Expected: Decodable {
        var torch: String
        var files: [String: File]
    }

    struct File: Decodable {
        var tensors: [ExpectedTensor]
        var metadata: [String: String]
    }

    struct ExpectedTensor: Decodable {
        var path: [String]
        var dtype: String
        var shape: [Int]
        var values: [Double]
    }

    static func expected(_ name: String) throws -> File {
        let all = try JSONDecoder().decode(Expected.self, from: data("expected.json"))
        return try #require(all.files[name], "expected.json has no entry for \(name)")
    }
}

/// Values read from a file equal the generator's after the same rounding to Float.
let conversionTolerance: Float = 1e-6

func close(_ a: Float, _ b: Float, tolerance: Float) -> Bool {
    a == b || abs(a - b) <= tolerance * max(1, abs(a), abs(b))
}

/// Checks `dict` against the expected tensors of a fixture, in order.
func expectMatches(_ dict: StateDict, _ expected: TorchFixtures.File,
                   sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(dict.entries.map(\.path) == expected.tensors.map(\.path), sourceLocation: sourceLocation)
    #expect(dict.metadata == expected.metadata, sourceLocation: sourceLocation)
    for (entry, want) in zip(dict.entries, expected.tensors) {
        #expect(entry.tensor.dtype.rawValue == want.dtype, "\(entry.name)", sourceLocation: sourceLocation)
        #expect(entry.tensor.shape == want.shape, "\(entry.name)", sourceLocation: sourceLocation)
        let got = entry.tensor.floats()
        #expect(got.count == want.values.count, "\(entry.name)", sourceLocation: sourceLocation)
        for (i, (a, b)) in zip(got, want.values).enumerated() where !close(a, Float(b), tolerance: conversionTolerance) {
            Issue.record("\(entry.name)[\(i)] = \(a), expected \(Float(b))", sourceLocation: sourceLocation)
            break
        }
    }
}

/// Writes ZIP archives entry by entry (stored or with a declared method), optionally with ZIP64 records.
struct ZipBuilder {
    var entries: [(name: String, data: [UInt8], method: UInt16)] = []
    var zip64 = false

    mutating func add(_ name: String, _ data: [UInt8], method: UInt16 = 0) { entries.append((name, data, method)) }

    func build() -> Data {
        var out: [UInt8] = []
        var central: [UInt8] = []
        func u16(_ v: UInt16, _ b: inout [UInt8]) { b += withUnsafeBytes(of: v.littleEndian) { Array($0) } }
        func u32(_ v: UInt32, _ b: inout [UInt8]) { b += withUnsafeBytes(of: v.littleEndian) { Array($0) } }
        func u64(_ v: UInt64, _ b: inout [UInt8]) { b += withUnsafeBytes(of: v.littleEndian) { Array($0) } }
        for e in entries {
            let offset = out.count, name = Array(e.name.utf8)
            u32(0x0403_4B50, &out); u16(20, &out); u16(0, &out); u16(e.method, &out); u32(0, &out); u32(0, &out)
            u32(UInt32(e.data.count), &out); u32(UInt32(e.data.count), &out)
            u16(UInt16(name.count), &out); u16(0, &out)
            out += name + e.data

            var extra: [UInt8] = []
            if zip64 { u16(1, &extra); u16(24, &extra); u64(UInt64(e.data.count), &extra); u64(UInt64(e.data.count), &extra); u64(UInt64(offset), &extra) }
            let big: UInt32 = 0xFFFF_FFFF
            u32(0x0201_4B50, &central); u16(45, &central); u16(45, &central); u16(0, &central); u16(e.method, &central)
            u32(0, &central); u32(0, &central)
            u32(zip64 ? big : UInt32(e.data.count), &central); u32(zip64 ? big : UInt32(e.data.count), &central)
            u16(UInt16(name.count), &central); u16(UInt16(extra.count), &central); u16(0, &central)
            u16(0, &central); u16(0, &central); u32(0, &central); u32(zip64 ? big : UInt32(offset), &central)
            central += name + extra
        }
        let cdOffset = out.count
        out += central
        if zip64 {
            let record = out.count
            u32(0x0606_4B50, &out); u64(44, &out); u16(45, &out); u16(45, &out); u32(0, &out); u32(0, &out)
            u64(UInt64(entries.count), &out); u64(UInt64(entries.count), &out)
            u64(UInt64(central.count), &out); u64(UInt64(cdOffset), &out)
            u32(0x0706_4B50, &out); u32(0, &out); u64(UInt64(record), &out); u32(1, &out)
        }
        u32(0x0605_4B50, &out); u16(0, &out); u16(0, &out)
        u16(zip64 ? 0xFFFF : UInt16(entries.count), &out); u16(zip64 ? 0xFFFF : UInt16(entries.count), &out)
        u32(zip64 ? 0xFFFF_FFFF : UInt32(central.count), &out); u32(zip64 ? 0xFFFF_FFFF : UInt32(cdOffset), &out)
        u16(0, &out)
        return Data(out)
    }

    /// The entries of an existing stored archive.
    static func entries(of data: Data) throws -> ZipBuilder {
        let archive = try StoredZip(data)
        var builder = ZipBuilder()
        for name in archive.names { builder.add(name, [UInt8](try archive.read(name))) }
        return builder
    }
}

/// A pickle from opcode bytes (integer arrays) and strings (as BINUNICODE), for unpickler tests.
func pickle(_ parts: [Any]) -> Data {
    var out: [UInt8] = []
    for part in parts {
        switch part {
        case let s as String:
            let raw = Array(s.utf8)
            out += [0x58] + withUnsafeBytes(of: UInt32(raw.count).littleEndian) { Array($0) } + raw
        case let b as [UInt8]: out += b
        case let b as [Int]: out += b.map { UInt8($0) }
        case let b as UInt8: out.append(b)
        case let b as Int: out.append(UInt8(b))
        default: preconditionFailure("pickle(): unsupported part \(part)")
        }
    }
    return Data(out)
}

func temporaryPath(_ name: String) throws -> String {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("enhance-weights-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    return dir.appendingPathComponent(name).path
}
