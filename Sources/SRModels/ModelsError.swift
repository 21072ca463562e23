/// Everything that can go wrong between a state dict and a graph: no architecture recognises the keys, a tensor is
/// missing or has the wrong shape, or keys are left over. Each case names the architecture and the tensor key.
public enum ModelsError: Error, Equatable, CustomStringConvertible {
    /// No architecture's signature keys are present. `unplaced` groups the keys that could not be placed.
    case unknownArchitecture(unplaced: [KeyGroup], totalKeys: Int, tried: [String])
    /// The architecture was recognised but a tensor it needs is absent.
    case missingTensor(architecture: String, key: String)
    /// A tensor has a shape that contradicts the hyper-parameters read from the other tensors.
    case shapeMismatch(architecture: String, key: String, expected: [Int], actual: [Int])
    /// The architecture was recognised, but these keys belong to none of its layers (an unknown variant).
    case unplacedKeys(architecture: String, unplaced: [KeyGroup], count: Int)
    /// The weights say this architecture, with hyper-parameters Enhance cannot build.
    case unsupported(architecture: String, detail: String)
    /// A configuration that does not describe a network (e.g. zero blocks where one is needed).
    case invalidConfig(architecture: String, detail: String)

    public var description: String {
        switch self {
        case .unknownArchitecture(let groups, let total, let tried):
            "no known architecture matches these weights (\(total) tensors); keys no architecture could place: "
                + KeyGroup.summary(groups)
                + ". Enhance reads \(tried.joined(separator: ", ")); check that the file holds a generator's state_dict, "
                + "or open an issue naming the architecture"
        case .missingTensor(let arch, let key):
            "the weights look like \(arch) but tensor '\(key)' is missing; the file is truncated or from another variant"
        case .shapeMismatch(let arch, let key, let expected, let actual):
            "\(arch) tensor '\(key)' has shape \(actual), but the other tensors imply \(expected); "
                + "the file mixes weights of different configurations"
        case .unplacedKeys(let arch, let groups, let count):
            "the weights look like \(arch) but \(count) tensor(s) fit none of its layers: \(KeyGroup.summary(groups)); "
                + "this is a variant Enhance does not know"
        case .unsupported(let arch, let detail):
            "\(arch): \(detail)"
        case .invalidConfig(let arch, let detail):
            "invalid \(arch) configuration: \(detail)"
        }
    }
}

/// Keys that share a pattern once their numeric components are replaced by `#` (`body.#.rdb1.conv1.weight`).
public struct KeyGroup: Sendable, Equatable, Codable {
    public var pattern: String
    public var count: Int
    /// One actual key of the group.
    public var example: String

    /// How many groups error messages list before saying how many more there are.
    public static let listLimit = 12

    /// Groups `keys` by pattern, in order of first appearance.
    public static func grouping(_ keys: [String]) -> [KeyGroup] {
        var groups: [KeyGroup] = []
        var index: [String: Int] = [:]
        for key in keys {
            let pattern = key.split(separator: ".", omittingEmptySubsequences: false)
                .map { $0.allSatisfy(\.isNumber) && !$0.isEmpty ? "#" : String($0) }
                .joined(separator: ".")
            if let i = index[pattern] {
                groups[i].count += 1
            } else {
                index[pattern] = groups.count
                groups.append(KeyGroup(pattern: pattern, count: 1, example: key))
            }
        }
        return groups
    }

    /// `a.#.b (3), c.weight, ... and 4 more groups`, capped at `listLimit` groups.
    public static func summary(_ groups: [KeyGroup]) -> String {
        var parts = groups.prefix(listLimit).map { $0.count == 1 ? $0.example : "\($0.pattern) (\($0.count))" }
        let more = groups.count - listLimit
        if more > 0 { parts.append("and \(more) more group\(more == 1 ? "" : "s")") }
        return parts.isEmpty ? "none" : parts.joined(separator: ", ")
    }
}
