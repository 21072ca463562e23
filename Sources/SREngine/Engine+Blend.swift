import Foundation
import SRCore
import SRModels

extension Engine {
    /// A model whose weights are `(1 - weight) * a + weight * b`; both must share one architecture and scale.
    public func blendedModel(_ a: String, _ b: String, weight: Double) throws(EngineError) -> LoadedModel {
        guard (0...1).contains(weight) else {
            throw .invalidOption("the blend weight must be between 0 and 1, got \(weight)")
        }
        let first = try model(a), second = try model(b)
        if weight == 0 { return first }
        if weight == 1 { return second }
        guard first.scale == second.scale, first.host == second.host else {
            throw .invalidOption("cannot blend \(first.id) (x\(first.scale)) with \(second.id) (x\(second.scale)): " +
                                 "they need the same scale and architecture")
        }
        let graph: Graph
        if case .weights(let pathA) = try store.resolve(a).files, case .weights(let pathB) = try store.resolve(b).files {
            // Weight files blend their state dicts (folded batch norms and re-parameterised kernels are not linear in
            // the parameters); ncnn models blend their graphs' weights.
            do {
                let mixed = try ArchitectureRegistry.standard.load(path: pathA)
                    .blended(with: try ArchitectureRegistry.standard.load(path: pathB), t: Float(weight))
                graph = LoadedModel.hostGraph(try mixed.imageGraph(), mixed.facts.host)
            } catch {
                throw .invalidOption("cannot blend \(first.id) with \(second.id): \(error)")
            }
        } else {
            do { graph = try first.graph.interpolated(with: second.graph, t: Float(weight)) } catch {
                throw .invalidOption("cannot blend \(first.id) with \(second.id): \(error)")
            }
        }
        let id = "\(first.id)+\(second.id)@\(weight)"
        return LoadedModel(id: id, scale: first.scale, host: first.host, entry: first.entry, graph: graph,
                           backend: try backend(for: graph, model: id), loadSeconds: 0,
                           architecture: first.architecture, rowBands: rowBands)
    }

    /// The Real-CUGAN denoise levels installed for a scale, by strength: `no-denoise` 0, `denoise1x` 1, `denoise2x` 2,
    /// `denoise3x` 3.
    public static func denoiseLevels(scale: Int, manifest: ModelManifest = .embedded) -> [(level: Double, id: String)] {
        [(0.0, "no-denoise"), (1, "denoise1x"), (2, "denoise2x"), (3, "denoise3x")]
            .map { ($0.0, "realcugan-se-x\(scale)-\($0.1)") }
            .filter { manifest.entry($0.1) != nil }
    }

    /// A Real-CUGAN model of `scale` with a continuous denoise strength, blending the two nearest levels
    /// (e.g. 1.5 is halfway between `denoise1x` and `denoise2x`).
    public func denoiseModel(scale: Int, level: Double) throws(EngineError) -> LoadedModel {
        let levels = Self.denoiseLevels(scale: scale, manifest: store.manifest)
        guard let lowest = levels.first, let highest = levels.last else {
            throw .invalidOption("--denoise needs Real-CUGAN models for x\(scale); there are none")
        }
        guard level >= lowest.level, level <= highest.level else {
            throw .invalidOption("the denoise level for x\(scale) must be between \(lowest.level) and \(highest.level), got \(level)")
        }
        if let exact = levels.first(where: { $0.level == level }) { return try model(exact.id) }
        let upper = levels.first { $0.level > level }!
        let lower = levels.last { $0.level < level }!
        return try blendedModel(lower.id, upper.id, weight: (level - lower.level) / (upper.level - lower.level))
    }
}
