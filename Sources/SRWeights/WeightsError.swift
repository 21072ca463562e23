/// Everything that can be wrong with a safetensors file or a PyTorch checkpoint, each case naming where and what.
/// (ncnn models have their own `NCNNError`.)
public enum WeightsError: Error, Equatable, CustomStringConvertible {
    // Files
    case io(path: String, reason: String)
    case unknownFormat(firstBytes: String)

    // safetensors
    case truncatedHeader(declared: Int, available: Int)
    case badHeader(reason: String)
    case unsupportedDType(tensor: String, dtype: String)
    case invalidOffsets(tensor: String, begin: Int, end: Int)
    case tensorOutOfRange(tensor: String, end: Int, available: Int)
    case tensorSizeMismatch(tensor: String, shape: [Int], dtype: WeightDType, bytes: Int)
    case tensorMisaligned(tensor: String, offset: Int, alignment: Int)
    case tensorsOverlap(first: String, second: String)
    case unindexedBytes(from: Int, to: Int)

    // ZIP container of torch.save
    case truncatedZip(reason: String)
    case malformedZip(reason: String)
    case compressedEntry(entry: String, method: Int)
    case encryptedEntry(entry: String)
    case missingEntry(String)

    // Pickle
    case forbiddenGlobal(String)
    case unknownOpcode(UInt8, offset: Int)
    case unsupportedOpcode(String, offset: Int)
    case truncatedPickle(offset: Int)
    case malformedPickle(offset: Int, reason: String)

    // PyTorch checkpoints
    case notAStateDict(found: String)
    case missingStorage(key: String)
    case truncatedStorage(key: String, needed: Int, available: Int)
    case storageTooShort(tensor: String, needed: Int, available: Int)
    case invalidTensor(tensor: String, reason: String)
    case legacyFormat(reason: String)
    case bigEndian

    // Every reader
    case workLimit(what: String, limit: Int, inputBytes: Int)

    public var description: String {
        switch self {
        case .io(let path, let reason):
            "cannot read '\(path)': \(reason)"
        case .unknownFormat(let firstBytes):
            "not a weight file Enhance can read (first bytes \(firstBytes)); expected a PyTorch .pth/.pt (zip or legacy) or a .safetensors file"
        case .truncatedHeader(let declared, let available):
            "the safetensors header needs \(declared) bytes but the file has only \(available) after the length field; the file is truncated"
        case .badHeader(let reason):
            "bad safetensors header: \(reason)"
        case .unsupportedDType(let tensor, let dtype):
            "tensor '\(tensor)' has dtype '\(dtype)', which Enhance cannot read; convert it to F32, F16 or BF16"
        case .invalidOffsets(let tensor, let begin, let end):
            "tensor '\(tensor)' has data_offsets [\(begin), \(end)]: offsets must be non-negative and begin <= end"
        case .tensorOutOfRange(let tensor, let end, let available):
            "tensor '\(tensor)' ends at byte \(end) of the data but the file holds only \(available) bytes; the file is truncated or its header is wrong"
        case .tensorSizeMismatch(let tensor, let shape, let dtype, let bytes):
            "tensor '\(tensor)' of shape \(shape) and dtype \(dtype) spans \(bytes) bytes, which does not match its shape"
        case .tensorMisaligned(let tensor, let offset, let alignment):
            "tensor '\(tensor)' starts at byte \(offset), not a multiple of its element size \(alignment); rewrite the file with the safetensors library"
        case .tensorsOverlap(let first, let second):
            "tensors '\(first)' and '\(second)' overlap in the data buffer; the file is corrupt or crafted"
        case .unindexedBytes(let from, let to):
            "data bytes \(from)..<\(to) belong to no tensor (the safetensors format forbids holes and trailing data)"
        case .truncatedZip(let reason):
            "truncated PyTorch checkpoint: \(reason); re-download or re-save the file"
        case .malformedZip(let reason):
            "malformed zip in PyTorch checkpoint: \(reason)"
        case .compressedEntry(let entry, let method):
            "zip entry '\(entry)' is compressed (method \(method)); torch.save writes stored entries, so re-save the file with torch.save instead of re-zipping it"
        case .encryptedEntry(let entry):
            "zip entry '\(entry)' is encrypted"
        case .missingEntry(let name):
            "the checkpoint has no '\(name)' entry; it is not a torch.save archive"
        case .forbiddenGlobal(let name):
            "the checkpoint's pickle references '\(name)', which is not on the allow-list of tensor and container types; Enhance never runs code from a checkpoint, so save only the state_dict (torch.save(model.state_dict(), path))"
        case .unknownOpcode(let op, let offset):
            "unknown pickle opcode 0x\(String(op, radix: 16)) at byte \(offset); the pickle is corrupt or from a newer protocol"
        case .unsupportedOpcode(let name, let offset):
            "pickle opcode \(name) at byte \(offset) is not supported by the restricted unpickler"
        case .truncatedPickle(let offset):
            "the pickle ends at byte \(offset) before its STOP opcode; the file is truncated"
        case .malformedPickle(let offset, let reason):
            "malformed pickle at byte \(offset): \(reason)"
        case .notAStateDict(let found):
            "the checkpoint holds \(found), not a dict of tensors; save model.state_dict() instead"
        case .missingStorage(let key):
            "the checkpoint references storage '\(key)' but does not contain its data"
        case .truncatedStorage(let key, let needed, let available):
            "storage '\(key)' needs \(needed) bytes but only \(available) remain; the file is truncated"
        case .storageTooShort(let tensor, let needed, let available):
            "tensor '\(tensor)' needs \(needed) elements of its storage but the storage has \(available)"
        case .invalidTensor(let tensor, let reason):
            "tensor '\(tensor)' is invalid: \(reason)"
        case .legacyFormat(let reason):
            "legacy PyTorch checkpoint not supported: \(reason); re-save it with a current torch.save"
        case .bigEndian:
            "the checkpoint was written on a big-endian machine; re-save it on a little-endian one"
        case .workLimit(let what, let limit, let inputBytes):
            "the \(inputBytes)-byte input needs more than \(limit) \(what); a real weight file needs far less, so it is corrupt or crafted to exhaust time or memory; re-export the weights from their source"
        }
    }
}
