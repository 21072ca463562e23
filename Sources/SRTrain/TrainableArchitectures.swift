public import SRModels
public import SRWeights
import Foundation

/// The architectures `enhance train --arch` trains, by name, and detection of a file's trainable architecture
/// (`--initial`). Each is an SRModels `TrainableArchitecture`: the registry holds no network of its own.
public enum TrainableArchitectures {
    public struct Entry: Sendable {
        public let name: String
        /// Lower-case names `--arch` accepts.
        public let aliases: [String]
        let make: @Sendable (_ scale: Int, _ channels: Int, _ features: Int?, _ depth: Int?, _ seed: UInt64) throws -> TrainingNetwork
        let detect: @Sendable (StateDict) throws -> TrainingNetwork?

        init<A: TrainableArchitecture>(_ a: A.Type, aliases: [String]) {
            name = A.name
            self.aliases = [A.name.lowercased()] + aliases
            make = { scale, channels, features, depth, seed in
                try TrainingNetwork(A.self, config: try A.trainingConfig(scale: scale, channels: channels, features: features,
                                                                          depth: depth), seed: seed)
            }
            detect = { dict in
                let canonical = A.canonicalNames(dict.canonicalised())
                guard var config = try A.detect(canonical) else { return nil }
                // Files written by `enhance train` store the whole configuration, including what the shapes cannot
                // tell (SRResNet's input range).
                if dict.metadata[DetectedModel.MetadataKey.architecture] == A.name,
                   let json = dict.metadata[DetectedModel.MetadataKey.config],
                   let stored = try? JSONDecoder().decode(A.Config.self, from: Data(json.utf8)),
                   A.stateDictSpec(stored) == A.stateDictSpec(config) {
                    config = stored
                }
                return try TrainingNetwork(A.self, config: config, weights: canonical)
            }
        }

        /// A fresh network for `scale` (`features` and `depth` where the architecture has them; nil: its default).
        public func network(scale: Int, channels: Int = 3, features: Int? = nil, depth: Int? = nil, seed: UInt64) throws -> TrainingNetwork {
            try make(scale, channels, features, depth, seed)
        }
    }

    /// Every trainable generator.
    public static let generators: [Entry] = [
        Entry(MSRResNet.self, aliases: []),
        Entry(SRVGGNetCompact.self, aliases: ["compact", "srvggnet"]),
        Entry(SPAN.self, aliases: []),
        Entry(SRResNet.self, aliases: []),
    ]

    /// The generator called `name` (any alias, case-insensitive).
    public static func named(_ name: String) -> Entry? {
        generators.first { $0.aliases.contains(name.lowercased()) }
    }

    /// The generator `dict` holds, with its weights loaded.
    /// - Throws: `TrainError.invalid` when no trainable architecture recognises it.
    public static func load(_ dict: StateDict) throws -> TrainingNetwork {
        for entry in generators { if let net = try entry.detect(dict) { return net } }
        throw TrainError.invalid("the weights are none of the trainable architectures (\(generators.map(\.name).joined(separator: ", ")))")
    }
}
