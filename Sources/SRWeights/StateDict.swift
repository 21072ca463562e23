/// Named weight tensors in file order: what every weight-format reader returns.
///
/// Each entry keeps the `path` of containers it was found in: a PyTorch checkpoint
/// `{"params_ema": {"conv.weight": t}}` gives the path `["params_ema", "conv.weight"]` and the name
/// `params_ema.conv.weight`; flat formats (safetensors) give one-element paths. `canonicalised()` uses the paths to
/// unwrap training wrappers without confusing them with module names such as ESRGAN's `model.0.weight`.
public struct StateDict: Sendable, Equatable, Sequence {
    public struct Entry: Sendable, Equatable {
        public var path: [String]
        public var tensor: WeightTensor
        /// The path joined with dots: the PyTorch parameter name.
        public var name: String { path.joined(separator: ".") }
    }

    public private(set) var entries: [Entry] = []
    private var index: [String: Int] = [:]
    /// Free-form file metadata: the safetensors `__metadata__`, or top-level scalars of a PyTorch checkpoint.
    public var metadata: [String: String] = [:]

    public init() {}

    /// A flat state dict of `tensors`, in the given order.
    public init(_ tensors: KeyValuePairs<String, WeightTensor>, metadata: [String: String] = [:]) {
        for (name, tensor) in tensors { self[name] = tensor }
        self.metadata = metadata
    }

    public var count: Int { entries.count }
    public var isEmpty: Bool { entries.isEmpty }
    public var names: [String] { entries.map(\.name) }

    /// The tensor called `name`; assigning a new name appends it, assigning nil removes it.
    public subscript(name: String) -> WeightTensor? {
        get { index[name].map { entries[$0].tensor } }
        set {
            if let tensor = newValue { insert(tensor, path: [name]) } else { remove(name) }
        }
    }

    /// Adds `tensor` under `path` (joined with dots), replacing an entry of the same name in place.
    public mutating func insert(_ tensor: WeightTensor, path: [String]) {
        let entry = Entry(path: path, tensor: tensor)
        if let i = index[entry.name] {
            entries[i] = entry
        } else {
            index[entry.name] = entries.count
            entries.append(entry)
        }
    }

    /// Removes the tensor called `name`, if any.
    public mutating func remove(_ name: String) {
        guard let i = index.removeValue(forKey: name) else { return }
        entries.remove(at: i)
        for j in i..<entries.count { index[entries[j].name] = j }
    }

    public func makeIterator() -> some IteratorProtocol<(name: String, tensor: WeightTensor)> {
        entries.lazy.map { (name: $0.name, tensor: $0.tensor) }.makeIterator()
    }

    /// Container keys that wrap the network's state dict, most preferred first: the EMA weights of BasicSR-style
    /// checkpoints win over the raw ones, and the generator over the discriminator.
    public static let wrapperKeys = ["params_ema", "params-ema", "params", "state_dict", "model_state_dict", "model",
                                     "net_g", "netG", "generator", "net", "network"]

    /// The network's own weights under their module names.
    ///
    /// While entries sit inside containers, keeps only the container named by the first matching `wrapperKeys`
    /// entry (or the single container, when there is exactly one and nothing beside it) and drops that level.
    /// Then strips a `module.` prefix (`nn.DataParallel`) when every name has it. Metadata is kept.
    /// - Parameter singleContainer: whether a lone container without a wrapper name is unwrapped too (false for
    ///   names split at their dots, where every module is a container).
    public func canonicalised(singleContainer: Bool = true) -> StateDict {
        var current = entries
        while true {
            let nested = current.filter { $0.path.count > 1 }
            guard !nested.isEmpty else { break }
            var groups: [String] = []
            for e in nested where !groups.contains(e.path[0]) { groups.append(e.path[0]) }
            let chosen: String
            if let w = Self.wrapperKeys.first(where: groups.contains) {
                chosen = w
            } else if singleContainer, groups.count == 1, nested.count == current.count {
                chosen = groups[0]
            } else {
                break
            }
            current = current.filter { $0.path.count > 1 && $0.path[0] == chosen }
                .map { Entry(path: Array($0.path.dropFirst()), tensor: $0.tensor) }
        }
        let prefix = "module."
        while !current.isEmpty, current.allSatisfy({ $0.name.hasPrefix(prefix) }) {
            current = current.map { e in
                var path = e.path
                if path[0] == "module" { path.removeFirst() } else { path[0] = String(path[0].dropFirst(prefix.count)) }
                return Entry(path: path, tensor: e.tensor)
            }
        }
        var result = StateDict()
        for e in current { result.insert(e.tensor, path: e.path) }
        result.metadata = metadata
        return result
    }

    /// The same tensors with every dotted name split into a path (`params_ema.conv_first.weight` becomes
    /// `["params_ema", "conv_first", "weight"]`), so `canonicalised()` can unwrap the training wrappers that a flat
    /// format such as safetensors keeps inside the names. Metadata is kept.
    public func splittingDottedNames() -> StateDict {
        var result = StateDict()
        for e in entries { result.insert(e.tensor, path: e.path.flatMap { $0.split(separator: ".").map(String.init) }) }
        result.metadata = metadata
        return result
    }

    public static func == (a: StateDict, b: StateDict) -> Bool {
        a.entries == b.entries && a.metadata == b.metadata
    }
}
