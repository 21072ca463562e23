import Foundation

/// Reverse-mode automatic differentiation: operations run eagerly and are recorded; `backward` walks the record
/// from the loss back to the parameters, applying each op's gradient rule (`Tape+Gradients.swift`).
///
/// A tape records one training step; `reset()` it (or make a new one) per step. Only ops with at least one input
/// that `requiresGrad` are recorded, so a forward pass of a frozen network on constant data costs no memory.
///
/// ```swift
/// let tape = Tape(convolution: try DNNLConvolution())
/// let loss = try tape.apply(.l1Loss, [try network.forward(lr, tape: tape), hr])
/// try tape.backward(loss)          // parameters' `grad` now hold d(loss)/d(parameter)
/// ```
public final class Tape {
    struct Node {
        var op: TrainOp
        var inputs: [Variable]
        var output: Variable
        /// What the gradient rule needs from the forward pass (batch-norm normalised input and statistics).
        var saved: [Float] = []
        /// Pooling argmax.
        var savedIndices: [Int] = []
    }

    /// The convolution passes (oneDNN, or the reference loops in tests).
    public let convolution: any ConvolutionEngine
    /// When set, accumulates the time of every op's forward and gradient rule.
    public var profile: TapeProfile?
    var nodes: [Node] = []

    /// A tape whose convolutions run on `convolution`. Also applies `TrainMemory.configure()` (once per process).
    public init(convolution: any ConvolutionEngine) {
        self.convolution = convolution
        TrainMemory.configure()
    }

    /// Forgets the record (and with it every saved intermediate).
    public func reset() { nodes.removeAll(keepingCapacity: true) }

    /// The number of recorded ops.
    public var count: Int { nodes.count }

    /// Runs `op` on `inputs` and records it when any input needs a gradient.
    /// - Throws: `TrainError.shapeMismatch` when the inputs do not fit the op; `TrainError.library` when oneDNN fails.
    @discardableResult
    public func apply(_ op: TrainOp, _ inputs: [Variable]) throws -> Variable {
        try record(op, inputs).output
    }

    /// `apply`, returning the whole node (with what the forward rule saved).
    func record(_ op: TrainOp, _ inputs: [Variable]) throws -> Node {
        guard op.arity.contains(inputs.count) else {
            throw TrainError.shapeMismatch(op: op.name, detail: "takes \(op.arity) inputs, got \(inputs.count)")
        }
        let start = profile == nil ? nil : Date()
        let node = try forward(op, inputs)
        if let start { profile?.add(op.name, forward: Date().timeIntervalSince(start)) }
        if inputs.contains(where: \.requiresGrad) {
            node.output.requiresGrad = true
            nodes.append(node)
        }
        return node
    }

    /// Propagates d(loss)/d(loss) = 1 back through the record, accumulating `grad` on every variable that needs it.
    /// Gradients of intermediate values are released as soon as their op's rule has consumed them; parameters and
    /// other leaves keep theirs (zero them between steps with `ParameterSet.zeroGrad()`).
    /// - Throws: `TrainError.shapeMismatch` when `loss` is not a scalar.
    public func backward(_ loss: Variable) throws {
        guard loss.shape.count == 1 else {
            throw TrainError.shapeMismatch(op: "backward", detail: "starts from a scalar loss, got \(loss.shape); reduce it with .mean or .sum first")
        }
        loss.grad = [1]
        for node in nodes.reversed() {
            guard let g = node.output.grad else { continue }
            let start = profile == nil ? nil : Date()
            try backward(node, g)
            if let start { profile?.add(node.op.name, backward: Date().timeIntervalSince(start)) }
            node.output.grad = nil
        }
    }
}

/// Wall time per op name, forward and backward, summed over the steps a tape ran while it was attached.
public final class TapeProfile {
    public struct Entry: Sendable {
        public var forward = 0.0, backward = 0.0, calls = 0
    }

    public private(set) var entries: [String: Entry] = [:]

    public init() {}

    func add(_ name: String, forward: Double = 0, backward: Double = 0) {
        entries[name, default: Entry()].forward += forward
        entries[name, default: Entry()].backward += backward
        if backward == 0 { entries[name, default: Entry()].calls += 1 }
    }

    /// Total seconds of all ops, forward and backward.
    public var total: Double { entries.values.reduce(0) { $0 + $1.forward + $1.backward } }

    /// One line per op, most expensive first: name, calls, forward and backward milliseconds per `steps`.
    public func report(steps: Int) -> String {
        let k = 1000 / Double(max(steps, 1))
        return entries.sorted { $0.value.forward + $0.value.backward > $1.value.forward + $1.value.backward }
            .map { name, e in
                name.padding(toLength: 18, withPad: " ", startingAt: 0)
                    + String(format: " %5d calls  forward %8.1f ms  backward %8.1f ms", e.calls / max(steps, 1),
                             e.forward * k, e.backward * k)
            }
            .joined(separator: "\n")
    }
}
