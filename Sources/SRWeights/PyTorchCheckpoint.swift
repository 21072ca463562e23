public import Foundation

/// Reads `torch.save` checkpoints through the restricted unpickler; no code from the file ever runs.
///
/// Zip format (torch >= 1.6), a ZIP archive of stored entries (see `StoredZip`):
/// ```
/// <root>/data.pkl      the pickled object; each storage is a persistent id
///                      ("storage", torch.<Type>Storage, key, location, element count)
/// <root>/data/<key>    the raw little-endian bytes of storage <key>
/// <root>/byteorder     "little" or "big" (torch >= 2.1; absent means little)
/// ```
/// Legacy format (`_use_new_zipfile_serialization=False`, torch < 1.6), pickles back to back:
/// ```
/// pickle   magic number 0x1950a86a20f9469cfc6c
/// pickle   protocol version 1001
/// pickle   sys_info {"protocol_version": 1001, "little_endian": True, "type_sizes": {...}}
/// pickle   the object; storages are ("storage", torch.<Type>Storage, key, location, count, view or None),
///          a view being (view key, element offset, element count) of the storage
/// pickle   list of storage keys, in the order their data follows
/// per key  i64 LE element count, then count * element size bytes
/// ```
/// Tensors are `torch._utils._rebuild_tensor_v2(storage, offset, size, stride, ...)` calls; views with offsets or
/// strides are copied into contiguous tensors. The object must be a dict; nested dicts and lists give entry paths
/// (see `StateDict`), top-level strings and numbers become metadata, other values are ignored.
///
/// Work and memory are O(file bytes): the zip directory and the unpickler are linear in their input (see
/// `StoredZip`, `Unpickler`); listing the tensors visits containers that may be shared through the memo, so each
/// entry visited and each tensor name built spends a `WorkBudget.units` over the pickle's bytes (a few hundred
/// bytes of lists that share each other would otherwise describe billions of paths); and the bytes that strided
/// views copy spend `WorkBudget.copies` (twice the file, plus 64 MiB).
public enum PyTorchCheckpoint {
    /// Reads the checkpoint at `path` (zip or legacy format).
    public static func load(path: String) throws(WeightsError) -> StateDict {
        let data = try WeightFileBytes.map(path)
        return data.starts(with: [0x50, 0x4B]) ? try read(zip: data) : try read(legacy: data)
    }

    /// Parses a zip-format checkpoint; contiguous tensors share storage with `data`.
    public static func read(zip data: Data) throws(WeightsError) -> StateDict {
        let archive = try StoredZip(data)
        let candidates = archive.names.filter { $0 == "data.pkl" || $0.hasSuffix("/data.pkl") }
        guard let pickleName = candidates.min(by: { $0.count < $1.count }) else { throw .missingEntry("<root>/data.pkl") }
        let root = String(pickleName.dropLast("data.pkl".count))
        if archive.contains(root + "byteorder"),
           String(decoding: try archive.read(root + "byteorder"), as: UTF8.self) != "little" {
            throw .bigEndian
        }
        let storages = StorageTable()
        let pickle = try archive.read(pickleName)
        var unpickler = Unpickler(pickle) { (pid: PickleValue) throws(WeightsError) -> PickleValue in
            let (dtype, key, _) = try storageID(pid)
            if let known = storages.byKey[key] { return .storage(known) }
            let entry = root + "data/" + key
            guard archive.contains(entry) else { throw .missingStorage(key: key) }
            let storage = TorchStorage(key: key, dtype: dtype, bytes: try archive.read(entry))
            storages.byKey[key] = storage
            return .storage(storage)
        }
        defer { unpickler.dismantle() }
        return try stateDict(from: try unpickler.load(), pickleBytes: pickle.count, fileBytes: data.count)
    }

    /// Parses a legacy (pre-zip) checkpoint.
    public static func read(legacy data: Data) throws(WeightsError) -> StateDict {
        var unpickler = Unpickler(data)
        defer { unpickler.dismantle() }
        let magic: [UInt8] = [0x6C, 0xFC, 0x9C, 0x46, 0xF9, 0x20, 0x6A, 0xA8, 0x50, 0x19]
        guard case .bigInt(magic) = try unpickler.load() else {
            throw .legacyFormat(reason: "the file starts with a pickle but not with the torch.save magic number")
        }
        guard case .int(let version) = try unpickler.load(), version == 1001 else {
            throw .legacyFormat(reason: "unknown legacy protocol version (expected 1001)")
        }
        if case .dict(let info) = try unpickler.load(),
           let little = info.items.first(where: { $0.key.dictKey == "slittle_endian" })?.value,
           case .bool(false) = little {
            throw .bigEndian
        }

        let storages = StorageTable()
        var main = Unpickler(data, position: unpickler.position) { (pid: PickleValue) throws(WeightsError) -> PickleValue in
            let (dtype, key, viewMetadata) = try storageID(pid)
            let root = storages.byKey[key] ?? TorchStorage(key: key, dtype: dtype)
            storages.byKey[key] = root
            guard let viewMetadata else { return .storage(root) }
            if case PickleValue.none = viewMetadata { return .storage(root) }
            guard case .tuple(let view) = viewMetadata, view.count == 3, case .string(let viewKey) = view[0],
                  case .int(let offset) = view[1], case .int(let count) = view[2] else {
                throw .malformedPickle(offset: 0, reason: "storage '\(key)' has a malformed view \(viewMetadata.kind)")
            }
            // torch views only root storages; a chain of views would also be freed one recursive call per link.
            guard root.viewOf == nil else {
                throw .legacyFormat(reason: "storage view '\(viewKey)' is taken of storage '\(key)', which is itself a view")
            }
            let storage = storages.byKey[viewKey] ?? TorchStorage(key: viewKey, dtype: dtype, viewOf: (root, offset, count))
            storages.byKey[viewKey] = storage
            return .storage(storage)
        }
        defer { main.dismantle() }
        let object = try main.load()
        var keys = Unpickler(data, position: main.position)
        defer { keys.dismantle() }
        guard case .list(let keyList) = try keys.load() else {
            throw .legacyFormat(reason: "the storage key list after the object is missing")
        }
        var position = keys.position
        for item in keyList.items {
            guard case .string(let key) = item, let storage = storages.byKey[key] else {
                throw .legacyFormat(reason: "the storage key list names \(item.kind) that the object does not use")
            }
            guard position <= data.count - 8 else { throw .truncatedStorage(key: key, needed: 8, available: data.count - position) }
            let count = data.littleEndian(Int64.self, at: position)
            let (bytes, overflow) = Int(clamping: count).multipliedReportingOverflow(by: storage.dtype.size)
            guard count >= 0, !overflow, bytes <= data.count - position - 8 else {
                throw .truncatedStorage(key: key, needed: Int(clamping: count) &* storage.dtype.size,
                                        available: data.count - position - 8)
            }
            storage.bytes = data.slice(position + 8, bytes)
            position += 8 + bytes
        }
        for storage in storages.byKey.values { storage.resolveView() }
        return try stateDict(from: object, pickleBytes: data.count, fileBytes: data.count)
    }

    /// dtype, key and the view metadata (legacy files; nil when absent) of a
    /// `("storage", type, key, location, count[, view or None])` id.
    private static func storageID(_ pid: PickleValue) throws(WeightsError) -> (WeightDType, String, PickleValue?) {
        guard case .tuple(let t) = pid, t.count >= 5, case .string("storage") = t[0] else {
            throw .malformedPickle(offset: 0, reason: "persistent id \(pid.kind) is not a storage")
        }
        guard case .global(.storageType(let dtype)) = t[1], case .string(let key) = t[2] else {
            throw .malformedPickle(offset: 0, reason: "storage id with \(t[1].kind) and \(t[2].kind)")
        }
        return (dtype, key, t.count > 5 ? t[5] : nil)
    }

    /// Containers nested deeper than this (or containing themselves) are refused.
    static let maxNesting = 32

    /// The tensors of the unpickled `object`, which must be a dict, from a pickle of `pickleBytes` bytes in a file
    /// of `fileBytes`: each entry visited and each tensor name spends the walk's budget, each strided copy the
    /// copies' budget.
    static func stateDict(from object: PickleValue, pickleBytes: Int, fileBytes: Int) throws(WeightsError) -> StateDict {
        guard case .dict(let dict) = object else { throw .notAStateDict(found: object.kind) }
        var result = StateDict()
        var walk = WorkBudget.units(inputBytes: pickleBytes)
        var copies = WorkBudget.copies(fileBytes: fileBytes)
        func visit(_ value: PickleValue, _ path: [String]) throws(WeightsError) {
            guard path.count <= maxNesting else {
                throw .notAStateDict(found: "containers nested more than \(maxNesting) deep, or a container inside itself")
            }
            guard walk.spend(1) else {
                throw .workLimit(what: "container entries visited to list its tensors "
                                     + "(containers shared through the pickle memo describe too many tensor paths)",
                                 limit: walk.limit, inputBytes: pickleBytes)
            }
            switch value {
            case .tensor(let view):
                let name = path.joined(separator: ".")
                guard walk.spend(WorkBudget.stringUnits(name.utf8.count)) else {
                    throw .workLimit(what: "container entries visited to list its tensors (tensor names built)",
                                     limit: walk.limit, inputBytes: pickleBytes)
                }
                result.insert(try view.materialized(name: name, copies: &copies), path: path)
            case .dict(let d):
                for (key, item) in d.items {
                    switch key {
                    case .string(let s): try visit(item, path + [s])
                    case .int(let i): try visit(item, path + ["\(i)"])
                    default: continue
                    }
                }
            case .list(let l):
                for (i, item) in l.items.enumerated() { try visit(item, path + ["\(i)"]) }
            case .tuple(let items):
                for (i, item) in items.enumerated() { try visit(item, path + ["\(i)"]) }
            case .string(let s) where path.count == 1: result.metadata[path[0]] = s
            case .int(let i) where path.count == 1: result.metadata[path[0]] = "\(i)"
            case .float(let f) where path.count == 1: result.metadata[path[0]] = "\(f)"
            case .bool(let b) where path.count == 1: result.metadata[path[0]] = b ? "True" : "False"
            default: break
            }
        }
        try visit(.dict(dict), [])
        return result
    }
}

/// Storages by key, shared by the persistent-load callback and the reader.
private final class StorageTable {
    var byKey: [String: TorchStorage] = [:]
}

/// A PyTorch storage: a flat typed buffer that tensors view. Legacy files fill `bytes` after unpickling.
final class TorchStorage {
    let key: String
    let dtype: WeightDType
    var bytes: Data?
    /// A legacy storage view: (root storage, element offset, element count).
    let viewOf: (root: TorchStorage, offset: Int, count: Int)?

    init(key: String, dtype: WeightDType, bytes: Data? = nil, viewOf: (TorchStorage, Int, Int)? = nil) {
        self.key = key
        self.dtype = dtype
        self.bytes = bytes
        self.viewOf = viewOf
    }

    /// Fills a view's bytes from its root (left nil when out of range: its tensors then report a short storage).
    func resolveView() {
        guard let (root, offset, count) = viewOf, let all = root.bytes else { return }
        let es = dtype.size
        guard offset >= 0, count >= 0, offset <= all.count / es, count <= all.count / es - offset else {
            bytes = Data()
            return
        }
        bytes = all.slice(offset * es, count * es)
    }
}

/// `_rebuild_tensor_v2(storage, offset, size, stride)`: a strided view of a storage, in elements.
struct TorchTensorView {
    var storage: TorchStorage
    var offset: Int
    var shape: [Int]
    var stride: [Int]

    /// The viewed elements as a contiguous tensor; a contiguous view shares the storage's bytes, any other is copied,
    /// spending `copies` by its size in bytes.
    func materialized(name: String, copies: inout WorkBudget) throws(WeightsError) -> WeightTensor {
        guard let bytes = storage.bytes else { throw .missingStorage(key: storage.key) }
        let es = storage.dtype.size
        guard shape.count == stride.count else {
            throw .invalidTensor(tensor: name, reason: "size \(shape) and stride \(stride) differ in rank")
        }
        guard offset >= 0, stride.allSatisfy({ $0 >= 0 }) else {
            throw .invalidTensor(tensor: name, reason: "negative storage offset \(offset) or stride \(stride)")
        }
        guard let count = WeightDType.elementCount(shape), count <= Int.max / es else {
            throw .invalidTensor(tensor: name, reason: "invalid size \(shape)")
        }
        let available = bytes.count / es
        if count == 0 { return WeightTensor(dtype: storage.dtype, shape: shape, bytes: Data()) }
        var last = offset
        for (n, s) in zip(shape, stride) {
            let (step, o1) = (n - 1).multipliedReportingOverflow(by: s)
            let (sum, o2) = last.addingReportingOverflow(step)
            guard !o1, !o2 else { throw .invalidTensor(tensor: name, reason: "stride \(stride) overflows") }
            last = sum
        }
        guard last < available else { throw .storageTooShort(tensor: name, needed: last + 1, available: available) }

        var contiguous = true
        var expected = 1
        for (n, s) in zip(shape, stride).reversed() where n != 1 {
            if s != expected { contiguous = false }
            expected *= n
        }
        if contiguous {
            return WeightTensor(dtype: storage.dtype, shape: shape, bytes: bytes.slice(offset * es, count * es))
        }
        // A view with repeated elements (stride 0) can describe far more elements than its storage holds; copying
        // it must not let a small hostile file allocate gigabytes.
        let expansionLimit = 256 << 20
        guard count <= available || count * es <= expansionLimit else {
            throw .invalidTensor(tensor: name, reason: "a strided view of \(count) elements over a storage of \(available) would need \(count * es) bytes")
        }
        guard copies.spend(count * es) else {
            throw .workLimit(what: "bytes of strided tensor views copied (tensor '\(name)' is one more)",
                             limit: copies.limit, inputBytes: copies.inputBytes)
        }
        var out = Data(count: count * es)
        out.withUnsafeMutableBytes { dst in
            bytes.withUnsafeBytes { src in
                var index = [Int](repeating: 0, count: shape.count)
                var source = offset
                for i in 0..<count {
                    dst.baseAddress!.advanced(by: i * es).copyMemory(from: src.baseAddress!.advanced(by: source * es), byteCount: es)
                    var d = shape.count - 1
                    // Wrapping arithmetic: every source index read lies in the storage (checked above), but stepping
                    // past the last element may add a stride that is never used and would overflow.
                    while d >= 0 {
                        index[d] += 1
                        source &+= stride[d]
                        if index[d] < shape[d] { break }
                        source &-= stride[d] &* shape[d]
                        index[d] = 0
                        d -= 1
                    }
                }
            }
        }
        return WeightTensor(dtype: storage.dtype, shape: shape, bytes: out)
    }
}
