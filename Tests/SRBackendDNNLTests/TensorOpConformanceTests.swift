import Testing
import SRCore
import SRBackendReference
@testable import SRBackendDNNL

/// Runs `graph` on the reference and on every fast backend with random inputs of `inputs` (any rank, layout and
/// element type) and compares every output.
func checkConformance(_ graph: Graph, inputs: [Shape], tolerance: Tolerance, seed: UInt64,
                      sourceLocation: SourceLocation = #_sourceLocation) throws {
    var rng = SeededGenerator(seed: seed)
    let xs = inputs.map { Tensor(shape: $0, data: Tensor.random(dims: $0.dims, using: &rng).data) }
    let expected = try ReferenceBackend().compile(graph, inputShapes: inputs).run(inputs: xs)
    for (backend, floor) in Backends.fast {
        let exe = try backend.compile(graph, inputShapes: inputs)
        let actual = try exe.run(inputs: xs)
        let again = try exe.run(inputs: xs)
        #expect(actual.map(\.data) == again.map(\.data), "\(backend.name): second run differs", sourceLocation: sourceLocation)
        for (k, (a, e)) in zip(actual, expected).enumerated() {
            #expect(a.shape == e.shape, "\(backend.name): output \(k) is \(a.shape), expected \(e.shape)",
                    sourceLocation: sourceLocation)
            let scale = e.data.map { abs($0) }.max() ?? 0
            var worst: Float = 0
            for (x, y) in zip(a.data, e.data) { worst = max(worst, abs(x - y)) }
            let limit = max(tolerance.absolute, floor.absolute) + max(tolerance.relative, floor.relative) * scale
            #expect(a.count == e.count && worst <= limit,
                    "\(backend.name): output \(k) max |diff| \(worst) > \(limit) (seed \(seed))", sourceLocation: sourceLocation)
        }
    }
}

/// A single-op graph over `inputs.count` inputs.
func oneOp(_ op: Op, inputs: Int = 1) -> Graph {
    var g = Graph()
    let ins = (0..<inputs).map { _ in g.add(.input) }
    g.outputs = [g.add(op, ins)]
    return g
}

@Suite("Per-op conformance of the rank-N ops (transformer models) on every backend")
struct TensorOpConformanceTests {
    static func plain(_ dims: [Int], _ type: ElementType = .f32) -> Shape { Shape(dims, layout: .plain, elementType: type) }

    @Test("matmul: rank 2, broadcast batch axes, transposed second operand with a scale")
    func matmul() throws {
        try checkConformance(oneOp(.matmul(MatMul()), inputs: 2), inputs: [Self.plain([7, 5]), Self.plain([5, 9])],
                             tolerance: .accumulation, seed: 1)
        try checkConformance(oneOp(.matmul(MatMul()), inputs: 2),
                             inputs: [Self.plain([2, 3, 6, 8]), Self.plain([3, 8, 4])], tolerance: .accumulation, seed: 2)
        try checkConformance(oneOp(.matmul(MatMul(transposeB: true, scale: 0.125)), inputs: 2),
                             inputs: [Self.plain([4, 3, 16, 8]), Self.plain([4, 3, 16, 8])], tolerance: .accumulation, seed: 3)
    }

    @Test("linear on the last axis (tokens), with GELU, and flattened over a token batch")
    func linear() throws {
        var rng = SeededGenerator(seed: 4)
        let l = Linear(weight: Tensor.random(dims: [24, 12], in: -0.5...0.5, using: &rng),
                       bias: Tensor.random(dims: [24], using: &rng).data, activation: .gelu(approximate: false),
                       input: .lastAxis)
        try checkConformance(oneOp(.linear(l)), inputs: [Shape([2, 20, 12])], tolerance: .accumulation, seed: 5)
        let flat = Linear(weight: Tensor.random(dims: [5, 36], in: -0.5...0.5, using: &rng), bias: nil)
        try checkConformance(oneOp(.linear(flat)), inputs: [Shape([2, 3, 12])], tolerance: .accumulation, seed: 6)
    }

    @Test("layer norm and softmax over tokens and attention scores")
    func normalisation() throws {
        var rng = SeededGenerator(seed: 7)
        let ln = LayerNorm(gamma: Tensor.random(dims: [32], using: &rng).data, beta: Tensor.random(dims: [32], using: &rng).data)
        try checkConformance(oneOp(.layerNorm(ln)), inputs: [Shape([1, 50, 32])], tolerance: .transcendental, seed: 8)
        try checkConformance(oneOp(.softmax(axis: -1)), inputs: [Self.plain([4, 3, 16, 16])], tolerance: .transcendental, seed: 9)
        try checkConformance(oneOp(.softmax(axis: 1)), inputs: [Shape(n: 2, c: 5, h: 3, w: 4)], tolerance: .transcendental, seed: 10)
    }

    @Test("GELU (erf and tanh) standalone and after a convolution", arguments: [false, true])
    func gelu(approximate: Bool) throws {
        try checkConformance(oneOp(.activation(.gelu(approximate: approximate))), inputs: [Shape(n: 1, c: 16, h: 9, w: 7)],
                             tolerance: .transcendental, seed: 11)
        var rng = SeededGenerator(seed: 12)
        let conv = randomConv(&rng, in: 16, out: 16, kernel: 3, pad: 1, activation: .gelu(approximate: approximate))
        try checkConformance(oneOp(.conv2d(conv)), inputs: [Shape(n: 1, c: 16, h: 100, w: 100)],
                             tolerance: .accumulation, seed: 13)
    }

    @Test("reshape, permute (to channels-last and rank 6), roll, slice with a step")
    func dataMovement() throws {
        try checkConformance(oneOp(.reshape(Reshape([0, -1, 6]))), inputs: [Shape(n: 2, c: 3, h: 4, w: 6)],
                             tolerance: .exact, seed: 14)
        try checkConformance(oneOp(.permute(.toChannelsLast)), inputs: [Shape(n: 2, c: 5, h: 4, w: 6)], tolerance: .exact, seed: 15)
        try checkConformance(oneOp(.permute(Permute([2, 0, 3, 1, 4]))), inputs: [Self.plain([2, 9, 3, 4, 5])],
                             tolerance: .exact, seed: 16)
        try checkConformance(oneOp(.permute(Permute([5, 4, 3, 2, 1, 0]))), inputs: [Self.plain([2, 1, 3, 2, 4, 3])],
                             tolerance: .exact, seed: 17)
        try checkConformance(oneOp(.roll(Roll(shifts: [-3, 3], axes: [1, 2]))), inputs: [Shape([1, 8, 8, 5], layout: .nhwc)],
                             tolerance: .exact, seed: 18)
        try checkConformance(oneOp(.roll(Roll(shifts: [7], axes: [-1]))), inputs: [Self.plain([3, 5])], tolerance: .exact, seed: 19)
        try checkConformance(oneOp(.slice(Slice(axis: 1, start: 1, end: 9, step: 3))), inputs: [Shape([2, 10, 4])],
                             tolerance: .exact, seed: 20)
        try checkConformance(oneOp(.slice(Slice(axis: 0, start: 2, end: 3))), inputs: [Self.plain([3, 2, 4, 6, 5])],
                             tolerance: .exact, seed: 21)
    }

    @Test("window partition and reverse are inverse on every backend")
    func windows() throws {
        try checkConformance(oneOp(.windowPartition(size: 4)), inputs: [Shape([2, 8, 12, 3], layout: .nhwc)],
                             tolerance: .exact, seed: 22)
        var g = Graph()
        let x = g.add(.input)
        let w = g.add(.windowPartition(size: 2), [x])
        let scaled = g.add(.activation(.linear(scale: 2, shift: 1)), [w])
        g.outputs = [g.add(.windowReverse(size: 2), [scaled, x])]
        try checkConformance(g, inputs: [Shape([1, 6, 4, 7], layout: .nhwc)], tolerance: .arithmetic, seed: 23)
    }

    @Test("bf16 values: conversion, matmul, softmax and layer norm in bf16, back to f32")
    func bf16() throws {
        var rng = SeededGenerator(seed: 24)
        var g = Graph()
        let a = g.add(.input), b = g.add(.input)
        let a16 = g.add(.convert(.bf16), [a]), b16 = g.add(.convert(.bf16), [b])
        let scores = g.add(.matmul(MatMul(transposeB: true, scale: 0.25)), [a16, b16])
        let p = g.add(.softmax(axis: -1), [scores])
        let ln = g.add(.layerNorm(LayerNorm(gamma: Tensor.random(dims: [16], using: &rng).data, beta: [Float](repeating: 0.1, count: 16))), [p])
        g.outputs = [g.add(.convert(.f32), [ln]), ln]
        // bf16 keeps 8 significant bits: results agree to a few bf16 steps.
        try checkConformance(g, inputs: [Self.plain([2, 16, 8]), Self.plain([2, 16, 8])],
                             tolerance: Tolerance(absolute: 2e-2, relative: 2e-2), seed: 25)
        let shapes = try g.inferShapes(inputs: [Self.plain([2, 16, 8]), Self.plain([2, 16, 8])])
        #expect(shapes[g.outputs[1]].elementType == .bf16 && shapes[g.outputs[0]].elementType == .f32)
        // A bf16 output crosses to the host as bf16-exact floats.
        var r2 = SeededGenerator(seed: 26)
        let inputs = [Self.plain([2, 16, 8]), Self.plain([2, 16, 8])].map { Tensor(shape: $0, data: Tensor.random(dims: $0.dims, using: &r2).data) }
        let out = try DNNLBackend().compile(g, inputShapes: inputs.map(\.shape)).run(inputs: inputs)[1]
        #expect(out.elementType == .bf16)
        #expect(out.data.allSatisfy { ElementType.bf16.round($0) == $0 })
    }

    @Test("depthwise and grouped convolutions, 3x3 and 7x7", arguments: [(16, 16, 3), (32, 32, 7), (32, 4, 3)])
    func grouped(channels: Int, groups: Int, kernel: Int) throws {
        var rng = SeededGenerator(seed: UInt64(30 + kernel + groups))
        let conv = randomConv(&rng, in: channels, out: channels, kernel: kernel, groups: groups, pad: kernel / 2)
        try checkConformance(oneOp(.conv2d(conv)), inputs: [Shape(n: 1, c: channels, h: 23, w: 19)], tolerance: .accumulation, seed: 31)
    }

    @Test("channel attention (RCAN): global pool, 1x1 squeeze and excite, sigmoid, channel scale")
    func channelAttention() throws {
        var rng = SeededGenerator(seed: 40)
        var g = Graph()
        let x = g.add(.input)
        let pooled = g.add(.pool(.global(.average)), [x])
        let squeeze = g.add(.conv2d(randomConv(&rng, in: 32, out: 4, kernel: 1, activation: .relu)), [pooled])
        let excite = g.add(.conv2d(randomConv(&rng, in: 4, out: 32, kernel: 1, activation: .sigmoid)), [squeeze])
        g.outputs = [g.add(.binary(.mul), [x, excite])]
        try checkConformance(g, input: Shape(c: 32, h: 17, w: 21), tolerance: .accumulation, seed: 41)
    }

    /// A Swin transformer layer (shifted-window attention + MLP) as SwinIR builds it, on an NCHW feature map.
    static func swinBlock(channels c: Int, heads: Int, window: Int, shift: Int,
                          using rng: inout SeededGenerator) -> Graph {
        func linear(_ i: Int, _ o: Int, _ a: Activation? = nil) -> Op {
            .linear(Linear(weight: Tensor.random(dims: [o, i], in: -0.3...0.3, using: &rng),
                           bias: Tensor.random(dims: [o], in: -0.1...0.1, using: &rng).data, activation: a, input: .lastAxis))
        }
        func norm() -> Op {
            .layerNorm(LayerNorm(gamma: Tensor.random(dims: [c], in: 0.5...1.5, using: &rng).data,
                                 beta: Tensor.random(dims: [c], in: -0.1...0.1, using: &rng).data))
        }
        let d = c / heads, w2 = window * window
        var g = Graph()
        let input = g.add(.input)
        let x = g.add(.permute(.toChannelsLast), [input])                              // [1, h, w, c]
        let shifted = g.add(.roll(Roll(shifts: [-shift, -shift], axes: [1, 2])), [g.add(norm(), [x])])
        let windows = g.add(.windowPartition(size: window), [shifted])                  // [B, w2, c]
        let qkv = g.add(.reshape(Reshape([0, 0, 3, heads, d])), [g.add(linear(c, 3 * c), [windows])])
        let split = g.add(.permute(Permute([2, 0, 3, 1, 4])), [qkv])                  // [3, B, heads, w2, d]
        func part(_ k: Int) -> ValueID {
            g.add(.reshape(Reshape([-1, heads, w2, d])), [g.add(.slice(Slice(axis: 0, start: k, end: k + 1)), [split])])
        }
        let q = part(0), k = part(1), v = part(2)
        let bias = g.add(.constant(Tensor(shape: Shape([heads, w2, w2], layout: .plain),
                                          data: Tensor.random(dims: [heads, w2, w2], using: &rng).data)))
        let scores = g.add(.binary(.add), [g.add(.matmul(MatMul(transposeB: true, scale: 1 / Float(d).squareRoot())), [q, k]), bias])
        let attended = g.add(.matmul(MatMul()), [g.add(.softmax(axis: -1), [scores]), v])    // [B, heads, w2, d]
        let merged = g.add(.reshape(Reshape([0, w2, c], layout: .tokens)), [g.add(.permute(Permute([0, 2, 1, 3])), [attended])])
        let back = g.add(.windowReverse(size: window), [g.add(linear(c, c), [merged]), shifted])
        let unshifted = g.add(.roll(Roll(shifts: [shift, shift], axes: [1, 2])), [back])
        let y = g.add(.binary(.add), [x, unshifted])
        let mlp = g.add(linear(2 * c, c), [g.add(linear(c, 2 * c, .gelu(approximate: false)), [g.add(norm(), [y])])])
        let z = g.add(.binary(.add), [y, mlp])
        g.outputs = [g.add(.permute(.toChannelsFirst), [z])]
        return g
    }

    @Test("a shifted-window attention block (SwinIR's layer) composed of these ops runs alike everywhere")
    func swinLayer() throws {
        var rng = SeededGenerator(seed: 50)
        let g = Self.swinBlock(channels: 16, heads: 2, window: 4, shift: 2, using: &rng)
        try checkConformance(g, input: Shape(c: 16, h: 8, w: 12), tolerance: Tolerance(absolute: 1e-4, relative: 5e-4), seed: 51)
        #expect(try g.multiplyAccumulates(inputs: [Shape(c: 16, h: 8, w: 12)]) > 0)
        // Every op of the layer has a oneDNN primitive: nothing falls back to the reference kernels, in f32 and bf16.
        for backend in [DNNLBackend(), DNNLBackend(precision: .bf16)] {
            let exe = try #require(try backend.compile(g, inputShapes: [Shape(c: 16, h: 8, w: 12)]) as? DNNLExecutable)
            #expect(exe.kernelNames.isEmpty, "\(backend.name) runs \(exe.kernelNames) as Swift loops")
        }
    }
}
