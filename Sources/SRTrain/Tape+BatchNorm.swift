/// PyTorch's `BatchNorm2d` as a layer of named parameters.
extension Tape {
    /// Batch normalisation by the layer `layer` of `parameters`: `layer.weight`, `layer.bias` (trainable) and the
    /// buffers `layer.running_mean`, `layer.running_var`, `layer.num_batches_tracked`.
    ///
    /// In training mode it normalises with the batch statistics (biased variance) and updates the running
    /// statistics as PyTorch does: `running = (1 - momentum) * running + momentum * batch`, with the unbiased
    /// variance for `running_var`, and counts the batch. In eval mode it normalises with the running statistics.
    /// - Throws: `TrainError.parameter` when the layer's tensors are missing; `TrainError.shapeMismatch` when they
    ///   do not fit `x`.
    public func batchNorm(_ x: Variable, layer: String, in parameters: ParameterSet, training: Bool,
                          momentum: Float = 0.1, epsilon: Float = 1e-5) throws -> Variable {
        let weight = try parameters.value(layer + ".weight"), bias = try parameters.value(layer + ".bias")
        let runningMean = try parameters.buffer(layer + ".running_mean")
        let runningVar = try parameters.buffer(layer + ".running_var")
        guard training else {
            return try apply(.batchNormInference(epsilon: epsilon), [x, weight, bias, runningMean, runningVar])
        }
        let node = try record(.batchNorm(epsilon: epsilon), [x, weight, bias])
        // The forward rule saved x̂, 1/σ, then the batch mean and biased variance per channel.
        let c = x.shape.c, count = node.saved.count
        let mean = node.saved[(count - 2 * c)..<(count - c)], variance = node.saved[(count - c)...]
        let m = Float(x.shape.n * x.shape.h * x.shape.w), unbiased = m / (m - 1)
        for (k, (mu, v)) in zip(mean, variance).enumerated() {
            runningMean.data[k] = (1 - momentum) * runningMean.data[k] + momentum * mu
            runningVar.data[k] = (1 - momentum) * runningVar.data[k] + momentum * v * unbiased
        }
        if let tracked = parameters.buffers[layer + ".num_batches_tracked"] { tracked.data[0] += 1 }
        return node.output
    }
}
