public import SRCore
public import SRWeights
import Foundation

/// The architectures Enhance can load from weight files, tried in order; the first whose signature keys are
/// present decides (signatures do not overlap, so the order only matters for error messages).
public struct ArchitectureRegistry: Sendable {
    public let entries: [Entry]

    /// One architecture, type-erased.
    public struct Entry: Sendable {
        public let name: String
        let detect: @Sendable (StateDict) throws(ModelsError) -> DetectedModel?
        let random: @Sendable (inout SeededGenerator) -> (config: any ArchitectureConfig, spec: [TensorSpec])

        public init<A: Architecture>(_ architecture: A.Type) {
            name = A.name
            detect = { (raw: StateDict) throws(ModelsError) -> DetectedModel? in
                let weights = A.canonicalNames(raw)
                guard var config = try A.detect(weights) else { return nil }
                // A file written by `enhance convert` stores the whole configuration, including what the shapes
                // cannot tell (FSRCNN's scale, EDSR's residual scale, SRResNet's input range, VGG's last layer).
                if let stored = DetectedModel.storedConfig(A.self, weights.metadata),
                   A.stateDictSpec(stored) == A.stateDictSpec(config) {
                    config = stored
                }
                do throws(ModelsError) {
                    try ArchitectureRegistry.validate(weights, against: A.stateDictSpec(config), architecture: A.name)
                } catch {
                    // Most tensors belong elsewhere: a different network that shares a few module names
                    // (SwinIR also has conv_first and conv_after_body), not a variant of this one.
                    if case .unplacedKeys(_, _, let count) = error, 2 * count > weights.count { return nil }
                    throw error
                }
                return DetectedModel(architecture: A.self, config: config, weights: weights)
            }
            random = { g in
                let c = A.randomConfig(using: &g)
                return (c, A.stateDictSpec(c))
            }
        }
    }

    public init(_ entries: [Entry]) { self.entries = entries }

    /// Every architecture, in detection order.
    public static let standard = ArchitectureRegistry([
        Entry(RRDBNet.self), Entry(SRVGGNetCompact.self), Entry(MSRResNet.self), Entry(SRResNet.self),
        Entry(EDSR.self), Entry(ESPCN.self), Entry(FSRCNN.self), Entry(SPAN.self), Entry(RealCUGAN.self),
        Entry(VGGStyleDiscriminator.self), Entry(VGGFeatures.self),
    ])

    public var names: [String] { entries.map(\.name) }

    /// The architecture and configuration of `weights` (canonicalised first: training wrappers such as
    /// `params_ema` and `module.` prefixes are removed).
    /// - Throws: `ModelsError.unknownArchitecture` listing the keys no architecture recognises, or the first
    ///   architecture's error when its signature matched but the tensors do not fit it.
    ///
    /// Flat files (safetensors) keep a wrapper inside the names (`params_ema.conv_first.weight`); when nothing
    /// matches the names as they are, they are split at their dots and unwrapped once more.
    public func detect(_ weights: StateDict) throws(ModelsError) -> DetectedModel {
        let canonical = weights.canonicalised()
        if let found = try detectCanonical(canonical) { return found }
        let split = weights.splittingDottedNames().canonicalised(singleContainer: false)
        if split.names != canonical.names, let found = try? detectCanonical(split) { return found }
        throw .unknownArchitecture(unplaced: KeyGroup.grouping(canonical.names), totalKeys: canonical.count, tried: names)
    }

    private func detectCanonical(_ canonical: StateDict) throws(ModelsError) -> DetectedModel? {
        for entry in entries {
            if let found = try entry.detect(canonical) { return found }
        }
        return nil
    }

    /// Reads the weight file at `path` and detects its architecture (see `detect(_:fileName:)`).
    public func load(path: String) throws(ModelLoadError) -> DetectedModel {
        let weights: StateDict
        do { weights = try WeightFile.load(path: path) } catch { throw .weights(error) }
        do { return try detect(weights, fileName: path) } catch { throw .architecture(error) }
    }

    /// Detects the architecture of the weights read from the file `fileName`. When their metadata has no `scale`
    /// entry and the name states one (`fsrcnn_x3.pth`, `4x-Model.pth`), the name's scale is added to the metadata:
    /// architectures whose weights do not fix the scale (FSRCNN) read it.
    public func detect(_ weights: StateDict, fileName: String) throws(ModelsError) -> DetectedModel {
        var weights = weights
        if weights.metadata["scale"] == nil, let hint = Self.scaleHint(fileName: fileName) {
            weights.metadata["scale"] = String(hint)
        }
        return try detect(weights)
    }

    /// The scale a file name states: a word `x2` .. `x8` or `2x` .. `8x` (letters may follow, as in `x4plus`).
    public static func scaleHint(fileName: String) -> Int? {
        let base = (fileName as NSString).lastPathComponent.lowercased()
        let stem = (base as NSString).deletingPathExtension
        for word in stem.split(whereSeparator: { !$0.isLetter && !$0.isNumber }) {
            let chars = Array(word)
            guard chars.count >= 2 else { continue }
            let followsDigit = chars.count == 2 || !chars[2].isNumber
            if chars[0] == "x", let d = chars[1].wholeNumberValue, (1...8).contains(d), followsDigit { return d }
            if let d = chars[0].wholeNumberValue, chars[1] == "x", (1...8).contains(d) { return d }
        }
        return nil
    }

    /// Checks that `weights` holds exactly the tensors of `spec` (a missing `num_batches_tracked` is accepted).
    static func validate(_ weights: StateDict, against spec: [TensorSpec], architecture: String) throws(ModelsError) {
        var expected = Set<String>()
        for s in spec {
            expected.insert(s.key)
            guard let t = weights[s.key] else {
                if s.key.hasSuffix(".num_batches_tracked") { continue }
                throw .missingTensor(architecture: architecture, key: s.key)
            }
            guard t.shape == s.shape || (s.shape.isEmpty && t.shape == [1]) else {
                throw .shapeMismatch(architecture: architecture, key: s.key, expected: s.shape, actual: t.shape)
            }
        }
        let extra = weights.names.filter { !expected.contains($0) }
        if !extra.isEmpty {
            throw .unplacedKeys(architecture: architecture, unplaced: KeyGroup.grouping(extra), count: extra.count)
        }
    }

    /// A random configuration of `architecture` and a state dict of random weights for it (batch-norm variances are
    /// positive), for round-trip tests.
    public func randomStateDict(_ architecture: String,
                                using g: inout SeededGenerator) -> (config: any ArchitectureConfig, weights: StateDict)? {
        guard let entry = entries.first(where: { $0.name == architecture }) else { return nil }
        let (config, spec) = entry.random(&g)
        var weights = StateDict()
        for s in spec {
            let range: ClosedRange<Float> = s.key.hasSuffix("running_var") ? 0.5...1.5 : -0.5...0.5
            weights[s.key] = WeightTensor(Tensor.random(dims: s.shape, in: range, using: &g))
        }
        return (config, weights)
    }
}

/// Why a weight file could not be turned into a model: the file itself, or its architecture.
public enum ModelLoadError: Error, Equatable, CustomStringConvertible {
    case weights(WeightsError)
    case architecture(ModelsError)

    public var description: String {
        switch self {
        case .weights(let e): e.description
        case .architecture(let e): e.description
        }
    }
}
