public import SRCore
#if canImport(Glibc)
import Glibc
#endif

/// Losses of the trainers: each gives its value (a mean, accumulated in Double) and its gradient with respect to
/// the network output, scaled by `weight` (the loss's weight in a sum of losses). Losses are not graph ops: the
/// trainer hands the gradient to `GraphTape.backward`.
public enum PixelLoss: Sendable, Equatable {
    /// Mean |y - t|.
    case l1
    /// Mean (y - t)².
    case mse
    /// Mean sqrt((y - t)² + eps²).
    case charbonnier(epsilon: Float)

    /// The loss of `y` against `target` (same shape) and `weight` times its gradient with respect to `y` (the
    /// target's gradient is its negation).
    /// - Throws: `TrainError.shapeMismatch` when the shapes differ.
    public func evaluate(_ y: Tensor, _ target: Tensor, weight: Float = 1) throws -> (loss: Float, gradient: Tensor) {
        guard y.dims == target.dims else {
            throw TrainError.shapeMismatch(op: "\(self) loss", detail: "output \(y.dims) vs target \(target.dims)")
        }
        let count = y.count
        let total = y.data.withUnsafeBufferPointer { xs in target.data.withUnsafeBufferPointer { ts in
            switch self {
            case .l1: ElementWise.sum(xs.count) { Double(abs(xs[$0] - ts[$0])) }
            case .mse: ElementWise.sum(xs.count) { let d = Double(xs[$0] - ts[$0]); return d * d }
            case .charbonnier(let e):
                ElementWise.sum(xs.count) { i in
                    let d = Double(xs[i] - ts[i]), e = Double(e)
                    return (d * d + e * e).squareRoot()
                }
            }
        } }
        let scale = weight / Float(count), loss = self
        let gradient = ElementWise.map(y.data, target.data) { a, b in
            let e = a - b
            switch loss {
            case .l1: return e > 0 ? scale : (e < 0 ? -scale : 0)
            case .mse: return 2 * e * scale
            case .charbonnier(let eps): return e / (e * e + eps * eps).squareRoot() * scale
            }
        }
        return (Float(total / Double(count)), Tensor(dims: y.dims, data: gradient))
    }
}

/// The adversarial loss: mean binary cross-entropy of logits against a constant target.
public enum AdversarialLoss {
    /// The mean of `max(z, 0) - z t + log(1 + exp(-|z|))` over the logits `z` for target `t` in 0...1, and `weight`
    /// times its gradient `(sigmoid(z) - t) / count`.
    public static func bceWithLogits(_ z: Tensor, target: Float, weight: Float = 1) -> (loss: Float, gradient: Tensor) {
        let t = Double(target)
        let total = z.data.withUnsafeBufferPointer { xs in
            ElementWise.sum(xs.count) { i in
                let v = Double(xs[i])
                return max(v, 0) - v * t + log1p(exp(-abs(v)))
            }
        }
        let scale = weight / Float(z.count)
        return (Float(total / Double(z.count)), Tensor(dims: z.dims, data: ElementWise.map(z.data) { (1 / (1 + expf(-$0)) - target) * scale }))
    }
}
