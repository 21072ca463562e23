#if canImport(Glibc)
import Glibc
#endif

/// Reverse-mode automatic differentiation: operations run eagerly and are recorded; `backward` walks the record
/// from the loss back to the parameters, applying each op's gradient rule (`Tape+Rules.swift`).
///
/// A tape records one training step; make a new one (or `reset()`) per step.
public final class Tape {
    struct Node {
        var op: TrainOp
        var inputs: [Variable]
        var output: Variable
        /// What the rule needs from the forward pass (batch-norm normalised input and 1/std, pooling argmax).
        var saved: [Float] = []
        var savedIndices: [Int] = []
    }

    public let convolution: any ConvolutionEngine
    var nodes: [Node] = []

    public init(convolution: any ConvolutionEngine) {
        self.convolution = convolution
    }

    public func reset() { nodes.removeAll(keepingCapacity: true) }

    /// Runs `op` on `inputs` and records it when any input needs a gradient.
    @discardableResult
    public func apply(_ op: TrainOp, _ inputs: [Variable]) throws -> Variable {
        var node = try forward(op, inputs)
        if inputs.contains(where: \.requiresGrad) {
            node.output = Variable(node.output.shape, data: node.output.data, requiresGrad: true)
            nodes.append(node)
        }
        return node.output
    }

    /// Batch normalisation in training mode; also returns the batch mean and biased variance per channel (for the
    /// running statistics).
    public func batchNorm(_ x: Variable, weight: Variable, bias: Variable,
                          epsilon: Float = 1e-5) throws -> (output: Variable, mean: [Float], variance: [Float]) {
        let y = try apply(.batchNorm(epsilon: epsilon), [x, weight, bias])
        let c = x.shape.c
        // The forward rule leaves mean and variance at the end of `saved` on the last node it produced.
        let node = nodes.last(where: { $0.output === y })
        let saved = node?.saved ?? Self.batchStatistics(x, epsilon: epsilon).saved
        let count = saved.count
        return (y, Array(saved[(count - 2 * c)..<(count - c)]), Array(saved[(count - c)...]))
    }

    /// Propagates d(loss)/d(loss) = 1 back through the record, accumulating `grad` on every variable that needs it.
    public func backward(_ loss: Variable) throws {
        precondition(loss.shape.count == 1, "backward starts from a scalar loss")
        loss.grad = [1]
        for node in nodes.reversed() {
            guard let g = node.output.grad else { continue }
            try backward(node, g)
        }
    }
}
