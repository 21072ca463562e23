import SRCore
#if canImport(Glibc)
import Glibc
#endif

/// Learning-rate schedules as functions of the step (0-based: the rate of the `step`-th update).
public enum Schedule: Sendable, Equatable {
    case constant
    /// Multiply by `gamma` at each milestone step (PyTorch's `MultiStepLR`; BasicSR's SRResNet recipe halves at
    /// 200k, 400k, 600k, 800k).
    case multiStep(milestones: [Int], gamma: Float)
    /// Linear warm-up over `warmup` steps (`base * (step + 1) / warmup`), then cosine annealing (PyTorch's
    /// `CosineAnnealingLR`) from `base` to `minimum` over the remaining `total - warmup` steps; `minimum` after.
    case cosine(total: Int, warmup: Int, minimum: Float)

    /// The rate of update number `step` for a base rate `base`.
    public func rate(base: Float, step: Int) -> Float {
        switch self {
        case .constant:
            return base
        case .multiStep(let milestones, let gamma):
            return base * powf(gamma, Float(milestones.filter { step >= $0 }.count))
        case .cosine(let total, let warmup, let minimum):
            if step < warmup { return base * Float(step + 1) / Float(warmup) }
            let t = Double(min(step, total) - warmup) / Double(max(total - warmup, 1))
            return minimum + (base - minimum) * Float(0.5 * (1 + cos(Double.pi * t)))
        }
    }
}

/// Gradient clipping by global norm (PyTorch's `clip_grad_norm_`).
public enum GradientClipping {
    /// Scales all gradients by `maxNorm / (norm + 1e-6)` when that is below 1, where `norm` is the L2 norm of all
    /// of them together (accumulated in Double); returns `norm` before clipping.
    @discardableResult
    public static func clip(_ parameters: [Parameter], maxNorm: Float) -> Float {
        var sum = 0.0
        for p in parameters {
            guard let g = p.grad else { continue }
            sum += g.withUnsafeBufferPointer { gs in ElementWise.sum(gs.count) { Double(gs[$0]) * Double(gs[$0]) } }
        }
        let norm = Float(sum.squareRoot())
        let coefficient = maxNorm / (norm + 1e-6)
        if coefficient < 1 {
            for p in parameters where p.grad != nil { p.grad = ElementWise.map(p.grad!) { $0 * coefficient } }
        }
        return norm
    }
}
