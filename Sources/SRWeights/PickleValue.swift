/// A value built by the restricted unpickler: plain Python data, tensors and the few allowed globals.
///
/// Lists, dicts and sets are classes because pickles memoize a container before filling it; a later `BINGET`
/// must see the filled one.
enum PickleValue {
    case none
    case bool(Bool)
    case int(Int)
    /// An integer wider than 64 bits, as little-endian two's-complement bytes.
    case bigInt([UInt8])
    case float(Double)
    case string(String)
    case bytes([UInt8])
    case tuple(PickleTuple)
    case list(PickleList)
    case set(PickleList)
    case dict(PickleDict)
    case global(PickleGlobal)
    case storage(TorchStorage)
    case tensor(TorchTensorView)

    /// What the value is, for error messages.
    var kind: String {
        switch self {
        case .none: "None"
        case .bool: "a bool"
        case .int, .bigInt: "an int"
        case .float: "a float"
        case .string: "a string"
        case .bytes: "bytes"
        case .tuple: "a tuple"
        case .list: "a list"
        case .set: "a set"
        case .dict: "a dict"
        case .global(let g): "the global \(g)"
        case .storage: "a storage"
        case .tensor: "a tensor"
        }
    }

    /// The key under which a dict entry is indexed, for strings and ints (other keys are kept but not indexed).
    var dictKey: String? {
        switch self {
        case .string(let s): "s" + s
        case .int(let i): "i\(i)"
        case .bool(let b): "i\(b ? 1 : 0)"
        default: nil
        }
    }
}

/// The items of a tuple and how deep tuples nest in it (1 + the deepest tuple among its items), so that a new tuple's
/// depth comes from its direct items even when they share children through the memo.
struct PickleTuple: RandomAccessCollection {
    let items: [PickleValue]
    let depth: Int

    /// A tuple of `items`, whose depth is computed from the items' own depths.
    init(_ items: [PickleValue]) {
        self.items = items
        depth = 1 + items.reduce(0) { deepest, item in
            if case .tuple(let inner) = item { Swift.max(deepest, inner.depth) } else { deepest }
        }
    }

    var startIndex: Int { 0 }
    var endIndex: Int { items.count }
    subscript(position: Int) -> PickleValue { items[position] }
}

/// A mutable container that `Unpickler.dismantle()` empties.
protocol PickleContainer: AnyObject {
    func removeAll()
}

final class PickleList: PickleContainer {
    var items: [PickleValue]
    init(_ items: [PickleValue] = []) { self.items = items }
    func removeAll() { items = [] }
}

/// An insertion-ordered dict; setting an existing string or int key replaces its value in place.
final class PickleDict: PickleContainer {
    private(set) var items: [(key: PickleValue, value: PickleValue)] = []
    private var index: [String: Int] = [:]

    func removeAll() { (items, index) = ([], [:]) }

    func set(_ key: PickleValue, _ value: PickleValue) {
        if let k = key.dictKey {
            if let i = index[k] { items[i].value = value; return }
            index[k] = items.count
        }
        items.append((key, value))
    }
}

/// The only globals a pickle may name: containers, tensor rebuild functions and storage types.
/// Calling any of them builds data; none runs code.
enum PickleGlobal: Equatable, CustomStringConvertible {
    case orderedDict
    case rebuildTensorV2
    case rebuildTensor
    case rebuildParameter
    case rebuildParameterWithState
    case torchSize
    case storageType(WeightDType)

    static let allowList: [String: PickleGlobal] = {
        var table: [String: PickleGlobal] = [
            "collections.OrderedDict": .orderedDict,
            "torch._utils._rebuild_tensor_v2": .rebuildTensorV2,
            "torch._utils._rebuild_tensor": .rebuildTensor,
            "torch._utils._rebuild_parameter": .rebuildParameter,
            "torch._utils._rebuild_parameter_with_state": .rebuildParameterWithState,
            "torch.Size": .torchSize,
        ]
        for dtype in WeightDType.allCases { table["torch." + dtype.torchStorageName] = .storageType(dtype) }
        return table
    }()

    var description: String {
        switch self {
        case .orderedDict: "collections.OrderedDict"
        case .rebuildTensorV2: "torch._utils._rebuild_tensor_v2"
        case .rebuildTensor: "torch._utils._rebuild_tensor"
        case .rebuildParameter: "torch._utils._rebuild_parameter"
        case .rebuildParameterWithState: "torch._utils._rebuild_parameter_with_state"
        case .torchSize: "torch.Size"
        case .storageType(let dtype): "torch." + dtype.torchStorageName
        }
    }
}
