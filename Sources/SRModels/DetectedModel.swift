public import SRCore
public import SRWeights
import Foundation

/// A state dict whose architecture and hyper-parameters are known: ready to build, inspect or convert.
public struct DetectedModel: Sendable {
    public let architecture: String
    public let config: any ArchitectureConfig
    public let facts: ModelFacts
    /// The weights under the architecture's canonical keys (wrappers and `module.` prefixes removed, old namings
    /// renamed), with the file's metadata.
    public let weights: StateDict
    private let builder: @Sendable () throws(ModelsError) -> Graph
    private let spec: [TensorSpec]

    init<A: Architecture>(architecture: A.Type, config: A.Config, weights: StateDict) {
        self.architecture = A.name
        self.config = config
        self.facts = A.facts(config)
        self.weights = weights
        self.spec = A.stateDictSpec(config)
        self.configJSON = Self.json(config)
        self.builder = { () throws(ModelsError) -> Graph in try A.build(config, weights: weights) }
    }

    /// Metadata keys of converted files.
    public enum MetadataKey {
        public static let architecture = "architecture"
        public static let config = "config"
        public static let scale = "scale"
        public static let source = "source"
        public static let convertedBy = "converted_by"
    }

    /// The safetensors metadata `enhance convert` writes; detection reads the configuration back from it.
    public func conversionMetadata(source: String, convertedBy: String) -> [String: String] {
        [MetadataKey.architecture: architecture, MetadataKey.config: configJSON, MetadataKey.scale: String(facts.scale),
         MetadataKey.source: source, MetadataKey.convertedBy: convertedBy]
    }

    /// The configuration stored by `conversionMetadata`, when it names `A` and decodes.
    static func storedConfig<A: Architecture>(_: A.Type, _ metadata: [String: String]) -> A.Config? {
        guard metadata[MetadataKey.architecture] == A.name, let json = metadata[MetadataKey.config] else { return nil }
        return try? JSONDecoder().decode(A.Config.self, from: Data(json.utf8))
    }

    static func json<C: ArchitectureConfig>(_ config: C) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return (try? encoder.encode(config)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
    }

    /// The inference graph (see `Architecture.build`).
    public func build() throws(ModelsError) -> Graph { try builder() }

    /// The configuration as `A.Config`, when this model is an `A`.
    public func config<A: Architecture>(as _: A.Type) -> A.Config? { config as? A.Config }

    /// The configuration as compact JSON with sorted keys.
    public let configJSON: String

    /// Trainable values: every element of the tensors that are not batch-norm statistics or counters.
    public var parameterCount: Int {
        spec.filter { !$0.isBuffer }.reduce(0) { $0 + $1.shape.reduce(1, *) }
    }

    /// Multiply-accumulates per output pixel (upscalers) or per input pixel (other kinds), measured on a
    /// `side` x `side` input (or the fixed input size).
    public func macsPerPixel(side: Int = 64) throws -> Double {
        let wanted = max(side, facts.minimumInputSide)
        let s = facts.fixedInputSize ?? (wanted + facts.alignment - 1) / facts.alignment * facts.alignment
        let graph = try build()
        let input = Shape(c: facts.inChannels, h: s, w: s)
        let macs = try graph.multiplyAccumulates(inputs: [input])
        var pixels = s * s
        if facts.kind == .upscaler {
            // The output the graph really produces (unpadded networks give fewer than s·scale pixels).
            let out = try graph.inferShapes(inputs: [input])[graph.outputs[0]]
            pixels = out.h * out.w
        }
        return Double(macs) / Double(pixels)
    }

    /// The graph the engine runs on RGB images: the network itself for RGB models, wrapped in a YCbCr conversion
    /// for single-channel (luma) models.
    /// - Throws: `ModelsError.unsupported` for networks that do not map an image to an image.
    public func imageGraph() throws(ModelsError) -> Graph {
        guard facts.kind == .upscaler else {
            throw .unsupported(architecture: architecture, detail: "a \(facts.kind.rawValue) does not produce an image; use `enhance inspect` or `enhance convert` with it")
        }
        let graph = try build()
        switch (facts.inChannels, facts.outChannels) {
        case (3, 3): return graph
        case (1, 1): return LumaWrapper.wrap(graph, scale: facts.scale)
        case let (i, o):
            throw .unsupported(architecture: architecture, detail: "\(i) input and \(o) output channels; Enhance upscales RGB (3/3) or luma (1/1) models")
        }
    }
}
