import Foundation

/// Reverse-mode differentiation of a `Graph`, the same graph type inference runs.
///
/// `forward` runs the graph on a batch (`[n, c, h, w]` per input) node by node, keeping every value and what each
/// gradient rule needs (`GraphTape+Rules.swift`, one switch over `Op`); `backward` walks the nodes in reverse from
/// the gradients of the graph's outputs, accumulating d(loss)/d(parameter) under the state-dict key each node's
/// `bindings` name, and d(loss)/d(input) for the graph inputs. Losses are not graph ops: the trainer computes the
/// loss and its gradient with respect to the outputs and hands that to `backward`.
///
/// A tape holds one forward pass; `forward` starts a new one. Convolutions run on `kernels` (oneDNN or the
/// reference loops).
///
/// ```swift
/// let graph = try MSRResNet.trainingGraph(config, weights: dict)
/// let tape = GraphTape(kernels: ReferenceGradientKernels())
/// let y = try tape.forward(graph, inputs: [lr])[0]
/// let grads = try tape.backward([dLossDy])      // grads.parameters["conv_first.weight"], ...
/// ```
public final class GraphTape {
    /// Batch norm's behaviour: batch statistics and running-statistics updates (training), or the running
    /// statistics (evaluation, as inference builds fold them).
    public enum Mode: Sendable { case training, evaluation }

    /// The gradients of one `backward`.
    public struct Gradients {
        /// d(loss)/d(input) per graph input, when asked for (nil otherwise).
        public var inputs: [Tensor?]
        /// d(loss)/d(parameter) by state-dict key (weights, biases, PReLU slopes, batch-norm scales and shifts).
        public var parameters: [String: [Float]]
    }

    /// What a forward rule keeps for its gradient rule.
    struct Saved {
        var values: [Float] = []
        var indices: [Int] = []
    }

    public let kernels: any GradientKernels
    /// When set, accumulates the time of every op's forward and gradient rule.
    public var profile: TapeProfile?
    /// Running statistics after this tape's training-mode batch norms, by the state-dict key of each
    /// `running_mean` / `running_var` binding (successive forwards compound, as in PyTorch).
    public private(set) var runningStatistics: [String: [Float]] = [:]
    /// How many batches each batch norm normalised, by the key of its `running_mean` binding.
    public private(set) var normalisedBatches: [String: Int] = [:]

    var graph = Graph()
    var mode = Mode.training
    var shapes: [Shape] = []
    var values: [Tensor?] = []
    var saved: [Saved?] = []
    var recorded = false

    public init(kernels: any GradientKernels) {
        self.kernels = kernels
    }

    /// Forgets the last pass (its values and saved intermediates) and the running-statistics updates.
    public func reset() {
        values = []
        saved = []
        recorded = false
        runningStatistics = [:]
        normalisedBatches = [:]
    }

    /// Runs `graph` on one batch per graph input and returns its outputs. With `recording`, every value is kept for
    /// `backward`; without, values are released once read (evaluation, frozen networks on constant data).
    /// - Throws: `GraphError` when the shapes do not fit; `GradientError.noRule` for an op without a rule (or
    ///   attributes its rule does not cover); `BackendError` from the kernels.
    public func forward(_ graph: Graph, inputs: [Tensor], mode: Mode = .training, recording: Bool = true) throws -> [Tensor] {
        self.graph = graph
        self.mode = mode
        shapes = try graph.inferShapes(inputs: inputs.map(\.shape))
        values = [Tensor?](repeating: nil, count: graph.nodes.count)
        saved = [Saved?](repeating: nil, count: graph.nodes.count)
        var remaining = graph.useCounts()
        var nextInput = 0
        for (id, node) in graph.nodes.enumerated() {
            if case .input = node.op {
                values[id] = inputs[nextInput]
                nextInput += 1
                continue
            }
            let ins = node.inputs.map { values[$0]! }
            let start = profile == nil ? nil : Date()
            let (out, keep) = try forwardRule(id, node, ins)
            if let start { profile?.add(node.op.kind, forward: Date().timeIntervalSince(start)) }
            values[id] = out
            if recording {
                saved[id] = keep
            } else {
                for i in node.inputs {
                    remaining[i] -= 1
                    if remaining[i] == 0 { values[i] = nil }
                }
            }
        }
        recorded = recording
        return graph.outputs.map { values[$0]! }
    }

    /// Propagates `outputGradients` (d(loss)/d(output), one per graph output; nil for an output the loss does not
    /// read) back through the last recorded pass.
    /// - Parameters:
    ///   - parameters: whether to compute parameter gradients (false for a frozen network the gradient only
    ///     passes through, e.g. the discriminator during a generator step).
    ///   - inputs: whether to compute the gradients of the graph inputs.
    /// - Throws: `GradientError` when nothing was recorded or a gradient has the wrong size.
    public func backward(_ outputGradients: [Tensor?], parameters: Bool = true, inputs wantInputs: Bool = false) throws -> Gradients {
        guard recorded else { throw GradientError.notRecorded }
        guard outputGradients.count == graph.outputs.count else {
            throw GradientError.gradientShape(node: "<outputs>", detail: "\(outputGradients.count) gradients for \(graph.outputs.count) outputs")
        }
        let nodes = graph.nodes
        // Which values a gradient must reach: inputs (when asked), nodes with trainable parameters, and every node
        // downstream of one of them.
        var needs = [Bool](repeating: false, count: nodes.count)
        for (id, node) in nodes.enumerated() {
            if case .input = node.op { needs[id] = wantInputs; continue }
            needs[id] = node.inputs.contains { needs[$0] }
                || (parameters && node.bindings.contains { $0.role.isTrainable })
        }
        var grads = [[Float]?](repeating: nil, count: nodes.count)
        for (g, o) in zip(outputGradients, graph.outputs) {
            guard let g else { continue }
            guard g.count == shapes[o].count else {
                throw GradientError.gradientShape(node: nodes[o].name, detail: "gradient of \(g.dims) for output \(shapes[o])")
            }
            if grads[o] == nil { grads[o] = g.data } else { ElementWise.add(g.data, into: &grads[o]!) }
        }
        var parameterGradients: [String: [Float]] = [:]
        for id in nodes.indices.reversed() {
            guard needs[id], let g = grads[id] else { continue }
            let node = nodes[id]
            if case .input = node.op { continue }
            let start = profile == nil ? nil : Date()
            let wanted = node.inputs.map { needs[$0] }
            let result = try gradientRule(id, node, g, wantInputs: wanted, wantParameters: parameters)
            if let start { profile?.add(node.op.kind, backward: Date().timeIntervalSince(start)) }
            for (k, dx) in result.inputs.enumerated() {
                guard let dx, wanted[k] else { continue }
                let i = node.inputs[k]
                if grads[i] == nil { grads[i] = dx } else { ElementWise.add(dx, into: &grads[i]!) }
            }
            for (role, dp) in result.parameters {
                guard let key = node.bindings.first(where: { $0.role == role })?.key else { continue }
                if parameterGradients[key] == nil { parameterGradients[key] = dp } else { ElementWise.add(dp, into: &parameterGradients[key]!) }
            }
            grads[id] = nil
        }
        let inputGradients: [Tensor?] = graph.inputs.map { id in
            guard wantInputs, let g = grads[id] else { return nil }
            return Tensor(dims: shapes[id].dims, data: g)
        }
        return Gradients(inputs: inputGradients, parameters: parameterGradients)
    }

    /// Records a batch norm's running-statistics update (its current values are the tape's earlier update or the
    /// node's attributes).
    func updateRunningStatistics(_ node: Node, _ b: BatchNorm, mean: [Float], variance: [Float], count: Int) {
        guard let meanKey = node.bindings.first(where: { $0.role == .runningMean })?.key,
              let varKey = node.bindings.first(where: { $0.role == .runningVar })?.key else { return }
        var runningMean = runningStatistics[meanKey] ?? b.runningMean, runningVar = runningStatistics[varKey] ?? b.runningVar
        let m = Float(count), unbiased = m / max(m - 1, 1), momentum = b.momentum
        for k in runningMean.indices {
            runningMean[k] = (1 - momentum) * runningMean[k] + momentum * mean[k]
            runningVar[k] = (1 - momentum) * runningVar[k] + momentum * variance[k] * unbiased
        }
        runningStatistics[meanKey] = runningMean
        runningStatistics[varKey] = runningVar
        normalisedBatches[meanKey, default: 0] += 1
    }
}

/// Errors of differentiation: each names the op or node and what to do.
public enum GradientError: Error, Equatable, CustomStringConvertible {
    /// The op (or these attributes of it) has no gradient rule.
    case noRule(op: String, node: String, detail: String)
    /// `backward` was called without a recorded `forward`.
    case notRecorded
    /// A gradient handed to `backward` does not fit its value.
    case gradientShape(node: String, detail: String)

    public var description: String {
        switch self {
        case .noRule(let op, let node, let detail):
            "no gradient rule for \(op) (node '\(node)')\(detail.isEmpty ? "" : ": \(detail)"); train an architecture whose ops have rules (see docs/training.md)"
        case .notRecorded: "backward needs a recorded forward pass first (forward(..., recording: true))"
        case .gradientShape(let node, let detail): "node '\(node)': \(detail)"
        }
    }
}

/// Wall time per op kind, forward and backward, summed over the passes a tape ran while it was attached.
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
                name.padding(toLength: 22, withPad: " ", startingAt: 0)
                    + String(format: " %5d calls  forward %8.1f ms  backward %8.1f ms", e.calls / max(steps, 1),
                             e.forward * k, e.backward * k)
            }
            .joined(separator: "\n")
    }
}
