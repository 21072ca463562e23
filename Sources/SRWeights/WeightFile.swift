public import Foundation

/// Recognises a weight file by its first bytes and reads it with the matching reader.
public enum WeightFile {
    public enum Format: String, Sendable, CaseIterable {
        case safetensors
        case pytorchZip = "pytorch"
        case pytorchLegacy = "pytorch-legacy"
    }

    /// The format of `data`, from its magic bytes:
    /// - byte 8 is `{`: safetensors (an 8-byte header length, then a JSON object);
    /// - `PK\x03\x04` (or `PK\x05\x06`, an empty archive): a zip-format PyTorch checkpoint;
    /// - `0x80` (pickle PROTO): a legacy PyTorch checkpoint;
    /// - `ustar` at byte 257: PyTorch's pre-0.4 tar format, which is not supported.
    public static func sniff(_ data: Data) throws(WeightsError) -> Format {
        let head = [UInt8](data.prefix(262))
        if head.count > 8, head[8] == UInt8(ascii: "{") { return .safetensors }
        if head.starts(with: [0x50, 0x4B, 0x03, 0x04]) || head.starts(with: [0x50, 0x4B, 0x05, 0x06]) { return .pytorchZip }
        if head.first == 0x80 { return .pytorchLegacy }
        if head.count == 262, Array(head[257..<262]) == Array("ustar".utf8) {
            throw .legacyFormat(reason: "the tar-based format of torch < 0.4")
        }
        throw .unknownFormat(firstBytes: head.isEmpty ? "none: the file is empty" : WeightFileBytes.hexPrefix(data))
    }

    /// Reads the state dict of `data` in whichever format it is.
    public static func read(_ data: Data) throws(WeightsError) -> StateDict {
        switch try sniff(data) {
        case .safetensors: try Safetensors.read(data)
        case .pytorchZip: try PyTorchCheckpoint.read(zip: data)
        case .pytorchLegacy: try PyTorchCheckpoint.read(legacy: data)
        }
    }

    /// Reads the weight file at `path` (memory-mapped). The result is as stored; call `canonicalised()` to unwrap
    /// training wrappers and `module.` prefixes.
    public static func load(path: String) throws(WeightsError) -> StateDict {
        try read(WeightFileBytes.map(path))
    }
}
