import Testing
import SRCore
import SRBackendReference
import SRBackendDNNL

/// Per-op tolerances: `|fast - reference| <= absolute + relative * max|reference|`.
struct Tolerance {
    var absolute: Float
    var relative: Float
    static let exact = Tolerance(absolute: 0, relative: 0)
    static let arithmetic = Tolerance(absolute: 1e-5, relative: 1e-5)
    static let accumulation = Tolerance(absolute: 1e-4, relative: 2e-4)
    static let transcendental = Tolerance(absolute: 1e-5, relative: 1e-4)
}

enum Backends {
    /// Winograd F(4x4, 3x3) in fp32 rounds through its input and output transforms (entries up to 10 in magnitude),
    /// a few hundred times float epsilon relative to the output's range.
    static let winogradFloor = Tolerance(absolute: 1e-4, relative: 1e-4)

    /// Each fast backend with the least tolerance it is held to: bf16 rounds convolution inputs, weights and
    /// outputs to 8 significant bits (relative error 2^-9 each), so its outputs are compared to about 1%.
    static let fast: [(backend: any Backend, floor: Tolerance)] = [
        (DNNLBackend(), Backends.winogradFloor),
        (DNNLBackend(convolutionAlgorithm: .direct), .exact),
        (DNNLBackend(convolutionAlgorithm: .auto), .exact),
        (DNNLBackend(precision: .bf16), Tolerance(absolute: 1e-2, relative: 1.5e-2)),
    ]
}

/// Runs `graph` on the reference and on every fast backend with a random input and compares outputs.
func checkConformance(_ graph: Graph, input: Shape, tolerance: Tolerance, seed: UInt64,
                      sourceLocation: SourceLocation = #_sourceLocation) throws {
    var rng = SeededGenerator(seed: seed)
    let x = Tensor.random(dims: input.dims, using: &rng)
    let expected = try ReferenceBackend().compile(graph, inputShape: input).run(x)
    let scale = expected.data.map { abs($0) }.max() ?? 0
    for (backend, floor) in Backends.fast {
        let exe = try backend.compile(graph, inputShape: input)
        #expect(exe.outputShape == expected.shape, "\(backend.name): output shape", sourceLocation: sourceLocation)
        let actual = try exe.run(x)
        // A second run on the same executable must give the same answer (buffers are reused between runs).
        let again = try exe.run(x)
        #expect(actual.data == again.data, "\(backend.name): second run differs (seed \(seed))", sourceLocation: sourceLocation)
        var worst: Float = 0
        for (a, b) in zip(actual.data, expected.data) { worst = max(worst, abs(a - b)) }
        let limit = max(tolerance.absolute, floor.absolute) + max(tolerance.relative, floor.relative) * scale
        #expect(actual.count == expected.count && worst <= limit,
                "\(backend.name): max |diff| \(worst) > \(limit) (seed \(seed), input \(input))",
                sourceLocation: sourceLocation)
    }
}

/// Random weights for a convolution.
func randomConv(_ rng: inout SeededGenerator, in ic: Int, out oc: Int, kernel k: Int, groups: Int = 1,
                stride: Int = 1, pad: Int = 0, dilation: Int = 1, bias: Bool = true,
                activation: Activation? = nil) -> Conv2d {
    let w = Tensor.random(dims: [oc, ic / groups, k, k], in: -0.5...0.5, using: &rng)
    let b = bias ? Tensor.random(dims: [oc], using: &rng).data : nil
    return Conv2d(weight: w, bias: b, stride: (stride, stride), padding: .uniform(pad),
                  dilation: (dilation, dilation), groups: groups, activation: activation)
}
