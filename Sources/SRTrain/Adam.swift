import SRCore
public import SRWeights
import Foundation

/// Adam (Kingma & Ba, ICLR 2015) with PyTorch's `torch.optim.Adam` semantics, bias correction included, and AdamW's
/// decoupled weight decay (Loshchilov & Hutter, ICLR 2019; `torch.optim.AdamW`) when `decoupled`.
///
/// Per parameter and step t (gradient g, weight w):
/// ```
/// Adam:  g += wd * w                      AdamW: w *= 1 - lr * wd
/// m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g²
/// w -= (lr / (1 - b1^t)) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
/// ```
/// The default `beta2` is 0.99, BasicSR's choice for super-resolution (PyTorch's default is 0.999).
public final class Adam {
    public var learningRate: Float
    public let beta1: Float, beta2: Float, epsilon: Float
    public let weightDecay: Float
    public let decoupled: Bool
    /// Updates so far (t of the bias correction).
    public private(set) var step = 0
    /// First and second moment estimates, one per parameter in the order `update` receives them (empty before
    /// the first update).
    public private(set) var m: [[Float]] = [], v: [[Float]] = []

    public init(learningRate: Float, beta1: Float = 0.9, beta2: Float = 0.99, epsilon: Float = 1e-8,
                weightDecay: Float = 0, decoupled: Bool = false) {
        self.learningRate = learningRate
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.weightDecay = weightDecay
        self.decoupled = decoupled
    }

    /// AdamW: Adam with decoupled weight decay (PyTorch's default decay 0.01).
    public static func adamW(learningRate: Float, beta1: Float = 0.9, beta2: Float = 0.99, epsilon: Float = 1e-8,
                             weightDecay: Float = 0.01) -> Adam {
        Adam(learningRate: learningRate, beta1: beta1, beta2: beta2, epsilon: epsilon, weightDecay: weightDecay,
             decoupled: true)
    }

    /// Restores moments and the step count (from a checkpoint); empty moments mean "not started".
    public func restore(step: Int, m: [[Float]], v: [[Float]]) {
        self.step = step
        self.m = m
        self.v = v
    }

    /// One update of every parameter that has a gradient (parameters without one keep their weights and moments,
    /// as in PyTorch).
    /// - Throws: `TrainError.invalid` when `parameters` do not match the moments (a different network or order).
    public func update(_ parameters: [Parameter]) throws {
        if m.isEmpty {
            m = parameters.map { [Float](repeating: 0, count: $0.data.count) }
            v = m
        }
        guard m.count == parameters.count, zip(m, parameters).allSatisfy({ $0.count == $1.data.count }) else {
            throw TrainError.invalid("the optimiser holds moments for \(m.count) tensors of other sizes than the \(parameters.count) parameters given; pass the same parameters in the same order every step (or a fresh optimiser)")
        }
        step += 1
        let c1 = 1 - pow(Double(beta1), Double(step)), c2 = 1 - pow(Double(beta2), Double(step))
        let stepSize = Float(Double(learningRate) / c1), c2Root = Float(c2.squareRoot())
        let lr = learningRate, b1 = beta1, b2 = beta2, eps = epsilon, wd = weightDecay, decoupled = decoupled
        for (k, p) in parameters.enumerated() {
            guard let g = p.grad else { continue }
            m[k].withUnsafeMutableBufferPointer { ms in v[k].withUnsafeMutableBufferPointer { vs in
                p.data.withUnsafeMutableBufferPointer { ws in g.withUnsafeBufferPointer { gs in
                    let m = ms.baseAddress!, v = vs.baseAddress!, w = ws.baseAddress!, g = gs.baseAddress!
                    ParallelLoops.forEachChunk(ws.count) { range in
                        for i in range {
                            var gi = g[i]
                            if wd != 0 {
                                if decoupled { w[i] *= 1 - lr * wd } else { gi += wd * w[i] }
                            }
                            m[i] = b1 * m[i] + (1 - b1) * gi
                            v[i] = b2 * v[i] + (1 - b2) * gi * gi
                            w[i] -= stepSize * m[i] / (v[i].squareRoot() / c2Root + eps)
                        }
                    }
                } }
            } }
        }
    }

    /// The state as tensors for a checkpoint, named as PyTorch's optimiser state: `step` (`[1]`, exact up to 2^24
    /// steps), `exp_avg.<name>` and `exp_avg_sq.<name>` for each of `names` (the parameters' names, in `update`
    /// order), each shaped `[count]`.
    public func state(names: [String]) -> StateDict {
        var d = StateDict()
        d.insert(WeightTensor(shape: [1], floats: [Float(step)]), path: ["step"])
        for (k, name) in names.enumerated() where k < m.count {
            let path = name.split(separator: ".").map(String.init)
            d.insert(WeightTensor(shape: [m[k].count], floats: m[k]), path: ["exp_avg"] + path)
            d.insert(WeightTensor(shape: [v[k].count], floats: v[k]), path: ["exp_avg_sq"] + path)
        }
        return d
    }

    /// Restores `state(names:)`'s tensors; `sizes` are the parameters' element counts, in `names` order.
    /// - Throws: `TrainError.parameter` for a missing or mis-sized moment; `TrainError.invalid` without `step`.
    public func load(state: StateDict, names: [String], sizes: [Int]) throws {
        guard let s = state["step"]?.floats().first else {
            throw TrainError.invalid("the optimiser state has no 'step' tensor; it was not written by Adam.state(names:)")
        }
        guard s > 0 else { restore(step: 0, m: [], v: []); return }
        var ms: [[Float]] = [], vs: [[Float]] = []
        for (name, size) in zip(names, sizes) {
            for (prefix, into) in [("exp_avg", 0), ("exp_avg_sq", 1)] {
                guard let t = state["\(prefix).\(name)"], t.count == size else {
                    throw TrainError.parameter(key: "\(prefix).\(name)", detail: "missing from the optimiser state or not \(size) values; was it saved from the same network?")
                }
                if into == 0 { ms.append(t.floats()) } else { vs.append(t.floats()) }
            }
        }
        restore(step: Int(s), m: ms, v: vs)
    }
}
