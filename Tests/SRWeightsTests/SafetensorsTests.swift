import Foundation
import Testing
import SRCore
@testable import SRWeights

/// A safetensors file from a header written as JSON text and a data buffer.
func safetensors(_ header: String, _ buffer: [UInt8]) -> Data {
    let raw = Array(header.utf8)
    return Data(withUnsafeBytes(of: UInt64(raw.count).littleEndian) { Array($0) } + raw + buffer)
}

func entry(_ name: String, _ dtype: String, _ shape: [Int], _ begin: Int, _ end: Int) -> String {
    "\"\(name)\":{\"dtype\":\"\(dtype)\",\"shape\":\(shape),\"data_offsets\":[\(begin),\(end)]}"
}

@Suite("safetensors")
struct SafetensorsTests {
    @Test("the fixture written by the safetensors package reads in data order with its metadata")
    func fixture() throws {
        let dict = try Safetensors.load(path: TorchFixtures.path("model.safetensors"))
        expectMatches(dict, try TorchFixtures.expected("model.safetensors"))
        #expect(try WeightFile.load(path: TorchFixtures.path("model.safetensors")) == dict)
    }

    @Test("write then read gives the same tensors, order and metadata; headers keep tensors aligned")
    func roundTrip() throws {
        var rng = SeededGenerator(seed: 11)
        let weight = Tensor.random(dims: [4, 3, 3, 3], using: &rng)
        var dict = StateDict()
        dict["body.0.weight"] = WeightTensor(weight)
        dict["half"] = WeightTensor(shape: [3], floats: [1, -0.5, 2048], dtype: .f16)
        dict["counter"] = WeightTensor(dtype: .i64, shape: [], bytes: Data([9, 0, 0, 0, 0, 0, 0, 0]))
        dict["odd \"name\"\n"] = WeightTensor(shape: [1], floats: [0.25])
        dict.metadata = ["format": "pt"]

        let path = try temporaryPath("model.safetensors")
        try Safetensors.write(dict, metadata: ["by": "enhance"], to: path)
        let back = try Safetensors.load(path: path)
        #expect(back.names == ["counter", "body.0.weight", "odd \"name\"\n", "half"], "i64 first, then f32, then f16")
        for (name, tensor) in dict { #expect(back[name] == tensor, "\(name)") }
        #expect(back.metadata == ["format": "pt", "by": "enhance"])
        #expect(back["body.0.weight"]?.tensor() == weight)

        let bytes = try Safetensors.encode(dict)
        #expect((8 + Int(bytes.littleEndian(UInt64.self, at: 0))) % 8 == 0)
        let again = try Safetensors.read(bytes)
        #expect(again.entries == back.entries)
        #expect(again.metadata == ["format": "pt"])
    }

    @Test("writing as F16 or BF16 converts float tensors within their precision and keeps integers")
    func convertOnWrite() throws {
        let values: [Float] = [0.1, -3.75, 1000.5, 1e-3]
        var dict = StateDict()
        dict["w"] = WeightTensor(shape: [2, 2], floats: values)
        dict["n"] = WeightTensor(dtype: .i32, shape: [1], bytes: Data([5, 0, 0, 0]))
        for (dtype, tolerance) in [(WeightDType.f16, Float(1e-3)), (.bf16, Float(8e-3))] {
            let back = try Safetensors.read(Safetensors.encode(dict, dtype: dtype))
            #expect(back["w"]?.dtype == dtype)
            #expect(back["n"]?.dtype == .i32)
            for (a, b) in zip(back["w"]?.floats() ?? [], values) { #expect(close(a, b, tolerance: tolerance), "\(dtype): \(a) vs \(b)") }
        }
    }

    @Test("malformed files each give their specific error")
    func malformed() throws {
        let good = safetensors("{\(entry("a", "F32", [2], 0, 8)),\(entry("b", "F16", [2], 8, 12))}", Array(repeating: 0, count: 12))
        #expect(try Safetensors.read(good).names == ["a", "b"])
        func expectError(_ error: WeightsError, _ data: Data, sourceLocation: SourceLocation = #_sourceLocation) {
            #expect(throws: error, sourceLocation: sourceLocation) { try Safetensors.read(data) }
        }
        let fixture = try TorchFixtures.data("model.safetensors")
        expectError(.tensorOutOfRange(tensor: "half", end: 124, available: 120), fixture.prefix(fixture.count - 4))
        expectError(.truncatedHeader(declared: 8, available: 5), fixture.prefix(5))
        expectError(.truncatedHeader(declared: 368, available: 22), fixture.prefix(30))
        expectError(.tensorsOverlap(first: "a", second: "b"),
                    safetensors("{\(entry("a", "F32", [2], 0, 8)),\(entry("b", "F32", [1], 4, 8))}", Array(repeating: 0, count: 8)))
        expectError(.unindexedBytes(from: 8, to: 12),
                    safetensors("{\(entry("a", "F32", [2], 0, 8)),\(entry("b", "F32", [1], 12, 16))}", Array(repeating: 0, count: 16)))
        expectError(.unindexedBytes(from: 8, to: 10), safetensors("{\(entry("a", "F32", [2], 0, 8))}", Array(repeating: 0, count: 10)))
        expectError(.invalidOffsets(tensor: "a", begin: -4, end: 4), safetensors("{\(entry("a", "F32", [2], -4, 4))}", []))
        expectError(.invalidOffsets(tensor: "a", begin: 8, end: 0), safetensors("{\(entry("a", "F32", [0], 8, 0))}", []))
        expectError(.tensorMisaligned(tensor: "b", offset: 2, alignment: 4),
                    safetensors("{\(entry("a", "F16", [1], 0, 2)),\(entry("b", "F32", [1], 2, 6))}", Array(repeating: 0, count: 6)))
        expectError(.tensorSizeMismatch(tensor: "a", shape: [3], dtype: .f32, bytes: 8),
                    safetensors("{\(entry("a", "F32", [3], 0, 8))}", Array(repeating: 0, count: 8)))
        expectError(.unsupportedDType(tensor: "a", dtype: "F8_E4M3"), safetensors("{\(entry("a", "F8_E4M3", [2], 0, 2))}", [0, 0]))
        expectError(.badHeader(reason: "tensor 'a' has an invalid shape [-1]"), safetensors("{\(entry("a", "F32", [-1], 0, 0))}", []))
        expectError(.badHeader(reason: "tensor 'a' has no 'data_offsets' pair of integers"),
                    safetensors("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}}", []))
        expectError(.badHeader(reason: "__metadata__ must map strings to strings"), safetensors("{\"__metadata__\":{\"n\":1}}", []))
        #expect {
            try Safetensors.read(safetensors("{\"a\":", []))
        } throws: { error in
            guard case .badHeader(let reason) = error as? WeightsError else { return false }
            return reason.hasPrefix("not valid JSON")
        }
        expectError(.badHeader(reason: "the header does not start with '{'"), safetensors(" {}", []))
        var huge = Data(withUnsafeBytes(of: UInt64(200_000_000).littleEndian) { Array($0) })
        huge.append(contentsOf: Array("{}".utf8))
        expectError(.badHeader(reason: "header length 200000000 exceeds the 100000000-byte limit"), huge)
        #expect(throws: WeightsError.badHeader(reason: "a tensor cannot be named __metadata__")) {
            try Safetensors.encode(StateDict(["__metadata__": WeightTensor(shape: [1], floats: [0])]))
        }
    }
}
