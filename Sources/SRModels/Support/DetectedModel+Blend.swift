public import SRWeights

extension DetectedModel {
    /// The model whose state dict is `(1 - t) * self + t * other`, tensor by tensor (batch-norm statistics, PReLU
    /// slopes and SPAN's Conv3XC branches included), detected again: it blends the networks' parameters, where
    /// interpolating built graphs would blend folded batch norms and re-parameterised kernels, which are not linear
    /// in them.
    /// - Throws: `ModelsError.unsupported` when the architectures or configurations differ; `.shapeMismatch` /
    ///   `.missingTensor` for a tensor the other model lacks or shapes differently.
    public func blended(with other: DetectedModel, t: Float) throws(ModelsError) -> DetectedModel {
        guard architecture == other.architecture, configJSON == other.configJSON else {
            throw .unsupported(architecture: architecture,
                               detail: "cannot blend with \(other.architecture) \(other.configJSON): blending needs one architecture and configuration")
        }
        var mixed = StateDict()
        mixed.metadata = weights.metadata
        for (name, a) in weights {
            guard let b = other.weights[name] else { throw .missingTensor(architecture: other.architecture, key: name) }
            guard b.shape == a.shape else {
                throw .shapeMismatch(architecture: other.architecture, key: name, expected: a.shape, actual: b.shape)
            }
            let values = zip(a.floats(), b.floats()).map { (1 - t) * $0 + t * $1 }
            mixed.insert(WeightTensor(shape: a.shape, floats: values), path: name.split(separator: ".").map(String.init))
        }
        guard mixed.count == other.weights.count else {
            throw .unsupported(architecture: architecture, detail: "the models hold \(weights.count) and \(other.weights.count) tensors")
        }
        return try ArchitectureRegistry.standard.detect(mixed)
    }
}
