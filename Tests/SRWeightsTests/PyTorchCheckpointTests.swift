import Foundation
import Testing
@testable import SRWeights

@Suite("PyTorch checkpoints")
struct PyTorchCheckpointTests {
    @Test("fixtures written by torch.save read as the generator recorded them",
          arguments: ["plain.pth", "protocol4.pth", "legacy.pth", "wrapped.pth", "dtypes.pth"])
    func fixtures(name: String) throws {
        let dict = try WeightFile.load(path: TorchFixtures.path(name))
        expectMatches(dict, try TorchFixtures.expected(name))
        #expect(try PyTorchCheckpoint.load(path: TorchFixtures.path(name)) == dict)
    }

    @Test("formats are sniffed from magic bytes")
    func sniffing() throws {
        #expect(try WeightFile.sniff(TorchFixtures.data("plain.pth")) == .pytorchZip)
        #expect(try WeightFile.sniff(TorchFixtures.data("legacy.pth")) == .pytorchLegacy)
        #expect(try WeightFile.sniff(TorchFixtures.data("model.safetensors")) == .safetensors)
        #expect(throws: WeightsError.unknownFormat(firstBytes: "37 37 36 37 35 31 37 0a")) {
            try WeightFile.read(Data("7767517\n1 1\n".utf8))
        }
        #expect(throws: WeightsError.unknownFormat(firstBytes: "none: the file is empty")) { try WeightFile.read(Data()) }
        var tar = [UInt8](repeating: 0, count: 512)
        tar.replaceSubrange(257..<262, with: Array("ustar".utf8))
        #expect(throws: WeightsError.legacyFormat(reason: "the tar-based format of torch < 0.4")) {
            try WeightFile.read(Data(tar))
        }
        #expect(throws: WeightsError.io(path: "/nonexistent/x.pth", reason: "no such file")) {
            try WeightFile.load(path: "/nonexistent/x.pth")
        }
    }

    @Test("views are copied contiguous; a contiguous tensor shares the file's bytes")
    func viewsAndSharing() throws {
        let data = try TorchFixtures.data("plain.pth")
        let dict = try PyTorchCheckpoint.read(zip: data)
        let transposed = try #require(dict["transposed"])
        #expect(transposed.shape == [4, 3])
        #expect(transposed.floats() == [0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11].map { Float($0) / 8 })
        let offset = try #require(dict["shared.offset"])
        #expect(offset.floats() == [4.5, 6, 7.5, 9])
        let bias = try #require(dict["conv.bias"])
        let base = data.startIndex
        #expect(data.indices.contains(bias.bytes.startIndex) && bias.bytes.startIndex > base)
    }

    @Test("training wrappers and module. prefixes are unwrapped, EMA weights preferred")
    func wrapped() throws {
        let raw = try WeightFile.load(path: TorchFixtures.path("wrapped.pth"))
        #expect(raw.names.first == "params.module.conv.weight")
        let dict = raw.canonicalised()
        #expect(dict.names == ["conv.weight", "conv.bias"])
        #expect(dict["conv.bias"]?.floats() == [0.125, 0.25])
        #expect(dict.metadata == ["iter": "1000", "note": "fixture"])
    }

    @Test("checkpoints that reference code are refused by name, before anything runs")
    func forbiddenGlobals() throws {
        #expect(throws: WeightsError.forbiddenGlobal("os.system")) {
            try WeightFile.load(path: TorchFixtures.path("forbidden_reduce.pth"))
        }
        #expect(throws: WeightsError.forbiddenGlobal("__main__.Evil")) {
            try WeightFile.load(path: TorchFixtures.path("forbidden_class.pth"))
        }
    }

    @Test("re-zipped, truncated and incomplete archives each give their error")
    func brokenArchives() throws {
        #expect(throws: WeightsError.compressedEntry(entry: "compressed/data.pkl", method: 8)) {
            try WeightFile.load(path: TorchFixtures.path("compressed.pth"))
        }
        let plain = try TorchFixtures.data("plain.pth")
        #expect(throws: WeightsError.truncatedZip(reason: "no end-of-central-directory record at the end of the file")) {
            try WeightFile.read(plain.prefix(plain.count - 100))
        }
        #expect(throws: WeightsError.truncatedZip(reason: "the file has 10 bytes, fewer than a zip end record")) {
            try WeightFile.read(plain.prefix(10))
        }

        let original = try ZipBuilder.entries(of: plain)
        let expected = try PyTorchCheckpoint.read(zip: plain)
        #expect(try PyTorchCheckpoint.read(zip: original.build()) == expected)
        var zip64 = original
        zip64.zip64 = true
        #expect(try PyTorchCheckpoint.read(zip: zip64.build()) == expected)

        var noPickle = original
        noPickle.entries.removeAll { $0.name.hasSuffix("data.pkl") }
        #expect(throws: WeightsError.missingEntry("<root>/data.pkl")) { try PyTorchCheckpoint.read(zip: noPickle.build()) }

        var noStorage = original
        noStorage.entries.removeAll { $0.name == "plain/data/1" }
        #expect(throws: WeightsError.missingStorage(key: "1")) { try PyTorchCheckpoint.read(zip: noStorage.build()) }

        var short = original
        let i = try #require(short.entries.firstIndex { $0.name == "plain/data/0" })
        short.entries[i].data = Array(short.entries[i].data.prefix(40))
        #expect(throws: WeightsError.storageTooShort(tensor: "conv.weight", needed: 54, available: 10)) {
            try PyTorchCheckpoint.read(zip: short.build())
        }

        var deflated = original
        deflated.entries[0].method = 8
        #expect(throws: WeightsError.compressedEntry(entry: "plain/data.pkl", method: 8)) {
            try PyTorchCheckpoint.read(zip: deflated.build())
        }

        var bigEndian = original
        bigEndian.add("plain/byteorder", Array("big".utf8))
        #expect(throws: WeightsError.bigEndian) { try PyTorchCheckpoint.read(zip: bigEndian.build()) }

        // An entry whose central-directory size (255) runs past the end of the file.
        var cut = ZipBuilder()
        cut.add("x/data.pkl", Array(pickle([0x80, 0x02, 0x7D, 0x2E])))
        var bytes = [UInt8](cut.build())
        let central = try #require((0..<bytes.count - 4).first { bytes[$0..<$0 + 4] == [0x50, 0x4B, 0x01, 0x02] })
        bytes.replaceSubrange((central + 20)..<(central + 28), with: [0xFF, 0, 0, 0, 0xFF, 0, 0, 0])
        #expect(throws: WeightsError.truncatedZip(reason: "entry 'x/data.pkl' needs bytes 40..<295 but the file has \(bytes.count)")) {
            try PyTorchCheckpoint.read(zip: Data(bytes))
        }
    }

    @Test("truncated legacy checkpoints name the storage or pickle that is cut")
    func brokenLegacy() throws {
        let legacy = try TorchFixtures.data("legacy.pth")
        do {
            _ = try PyTorchCheckpoint.read(legacy: legacy.prefix(legacy.count - 4))
            Issue.record("a truncated legacy file was read")
        } catch {
            guard case .truncatedStorage(_, let needed, let available) = error else {
                Issue.record("expected truncatedStorage, got \(error)"); return
            }
            #expect(needed - available == 4)
        }
        #expect(throws: WeightsError.truncatedPickle(offset: 100)) {
            try PyTorchCheckpoint.read(legacy: legacy.prefix(100))
        }
        #expect(throws: WeightsError.legacyFormat(reason: "the file starts with a pickle but not with the torch.save magic number")) {
            try PyTorchCheckpoint.read(legacy: pickle([0x80, 0x02, 0x7D, 0x2E]))
        }
    }

    @Test("a checkpoint that is not a dict is refused")
    func notADict() throws {
        var zip = ZipBuilder()
        zip.add("x/data.pkl", Array(pickle([0x80, 0x02, 0x5D, 0x2E])))
        #expect(throws: WeightsError.notAStateDict(found: "a list")) { try PyTorchCheckpoint.read(zip: zip.build()) }
    }
}
