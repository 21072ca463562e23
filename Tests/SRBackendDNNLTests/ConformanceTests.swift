import Testing
import SRCore
import SRBackendReference
@testable import SRBackendDNNL

@Suite("Per-op conformance: every backend vs the reference")
struct ConformanceTests {
    static let activations: [Activation?] = [
        nil, .relu, .leakyRelu(slope: 0.2), .sigmoid, .swish, .clip(min: -0.3, max: 0.4),
        .linear(scale: 0.2, shift: -0.1),
    ]

    @Test("conv2d over kernel, stride, padding, groups, dilation", arguments: 0..<12)
    func conv2d(seed: UInt64) throws {
        var rng = SeededGenerator(seed: 100 + seed)
        let k = [1, 2, 3, 3, 5][Int(seed) % 5]
        let groups = seed % 4 == 3 ? 2 : 1
        let ic = [3, 4, 16, 32][Int(seed) % 4] * groups
        let oc = [8, 16, 3, 32][Int(seed / 2) % 4] * groups
        let stride = seed % 3 == 1 ? 2 : 1
        let pad = Int(seed) % (k / 2 + 1)
        let dilation = seed == 5 ? 2 : 1
        let act = Self.activations[Int(seed) % Self.activations.count]
        var g = Graph()
        let x = g.add(.input)
        let conv = randomConv(&rng, in: ic, out: oc, kernel: k, groups: groups, stride: stride, pad: pad,
                              dilation: dilation, bias: seed % 2 == 0, activation: act)
        g.outputs = [g.add(.conv2d(conv), [x])]
        try checkConformance(g, input: Shape(c: ic, h: 11 + Int(seed), w: 9 + 2 * Int(seed)),
                             tolerance: .accumulation, seed: seed)
    }

    @Test("conv2d with per-channel PReLU fused and unfused")
    func prelu() throws {
        var rng = SeededGenerator(seed: 7)
        let slopes = Tensor.random(dims: [16], in: 0...0.5, using: &rng).data
        var g = Graph()
        let x = g.add(.input)
        let c = g.add(.conv2d(randomConv(&rng, in: 3, out: 16, kernel: 3, pad: 1)), [x])
        let p = g.add(.activation(.prelu(slopes: slopes)), [c])
        g.outputs = [p]
        try checkConformance(g, input: Shape(c: 3, h: 13, w: 10), tolerance: .accumulation, seed: 7)
        var h = Graph()
        let y = h.add(.input)
        h.outputs = [h.add(.activation(.prelu(slopes: slopes)), [y])]
        try checkConformance(h, input: Shape(c: 16, h: 5, w: 6), tolerance: .arithmetic, seed: 8)
    }

    @Test("conv2d fused with residual tails: RRDB weighted sum, add, broadcast mul")
    func fusedChains() throws {
        var rng = SeededGenerator(seed: 11)
        var g = Graph()
        let x = g.add(.input)
        let a = g.add(.conv2d(randomConv(&rng, in: 16, out: 16, kernel: 3, pad: 1, activation: .leakyRelu(slope: 0.2))), [x])
        let b = g.add(.conv2d(randomConv(&rng, in: 16, out: 16, kernel: 3, pad: 1)), [a])
        let s1 = g.add(.weightedSum([0.2, 1]), [b, a])
        let s2 = g.add(.weightedSum([0.2, 1]), [s1, x])                       // chained second residual
        let c = g.add(.conv2d(randomConv(&rng, in: 16, out: 16, kernel: 3, pad: 1)), [s2])
        let gap = g.add(.pool(.global(.average)), [s2])
        let gate = g.add(.linear(Linear(weight: Tensor.random(dims: [16, 16], using: &rng),
                                        bias: Tensor.random(dims: [16], using: &rng).data, activation: .sigmoid)), [gap])
        let m = g.add(.binary(.mul), [c, gate])                              // broadcast [1, C, 1, 1] operand
        let d = g.add(.conv2d(randomConv(&rng, in: 16, out: 16, kernel: 1)), [m])
        let e = g.add(.binary(.add), [s2, d])                                // chain value second
        let f = g.add(.conv2d(randomConv(&rng, in: 16, out: 16, kernel: 3, pad: 1)), [e])
        let h = g.add(.weightedSum([0.5, 2]), [x, f])                        // neither coefficient is 1
        for o in [a, b, s1, s2, c, m, d, e, f, h] {                          // every value of the chains
            g.outputs = [o]
            try checkConformance(g, input: Shape(c: 16, h: 12, w: 17), tolerance: .accumulation, seed: 11)
        }
    }

    @Test("deconv2d: Real-CUGAN shapes", arguments: [(2, 2, 0), (4, 2, 3), (5, 3, 2), (3, 1, 1)])
    func deconv2d(kernel: Int, stride: Int, pad: Int) throws {
        var rng = SeededGenerator(seed: UInt64(kernel * 10 + stride))
        let w = Tensor.random(dims: [5, 8, kernel, kernel], in: -0.5...0.5, using: &rng)
        let p = Deconv2d(weight: w, bias: Tensor.random(dims: [5], using: &rng).data, stride: (stride, stride),
                         padding: .uniform(pad), activation: kernel == 2 ? .leakyRelu(slope: 0.1) : nil)
        var g = Graph()
        let x = g.add(.input)
        g.outputs = [g.add(.deconv2d(p), [x])]
        try checkConformance(g, input: Shape(c: 8, h: 7, w: 10), tolerance: .accumulation, seed: UInt64(kernel))
    }

    @Test("activations standalone on plain and blocked layouts", arguments: 1..<7)
    func activation(index: Int) throws {
        let act = Self.activations[index]!
        var rng = SeededGenerator(seed: UInt64(index))
        var g = Graph()
        let x = g.add(.input)
        let plain = g.add(.activation(act), [x])
        let conv = g.add(.conv2d(randomConv(&rng, in: 16, out: 16, kernel: 3, pad: 1)), [plain])
        let split = g.add(.activation(.relu), [conv])                       // conv has two readers: no fusion
        let blocked = g.add(.activation(act), [conv])
        g.outputs = [g.add(.binary(.add), [split, blocked])]
        try checkConformance(g, input: Shape(c: 16, h: 6, w: 9), tolerance: .accumulation, seed: UInt64(index))
    }

    @Test("binary ops with equal and broadcast shapes", arguments: BinaryOperator.allCases)
    func binary(op: BinaryOperator) throws {
        var rng = SeededGenerator(seed: 21)
        var g = Graph()
        let x = g.add(.input)
        let c = g.add(.constant(Tensor.random(dims: [1, 4, 1, 1], in: 0.5...1.5, using: &rng)))
        let sq = g.add(.activation(.linear(scale: 0.5, shift: 2)), [x])
        let same = g.add(.binary(op), [x, sq])
        let bcast = g.add(.binary(op), [same, c])
        let bfirst = g.add(.binary(op), [c, bcast])                        // broadcast operand first
        g.outputs = [bfirst]
        try checkConformance(g, input: Shape(c: 4, h: 5, w: 7), tolerance: .arithmetic, seed: 21)
    }

    @Test("weighted sum and concat, including channel counts that are not block multiples")
    func sumAndConcat() throws {
        var rng = SeededGenerator(seed: 31)
        var g = Graph()
        let x = g.add(.input)
        let a = g.add(.conv2d(randomConv(&rng, in: 3, out: 64, kernel: 3, pad: 1)), [x])
        let b = g.add(.conv2d(randomConv(&rng, in: 64, out: 32, kernel: 3, pad: 1)), [a])
        let c = g.add(.concat, [a, b])
        let d = g.add(.conv2d(randomConv(&rng, in: 96, out: 32, kernel: 3, pad: 1)), [c])
        let e = g.add(.concat, [a, b, d, x])                               // 64 + 32 + 32 + 3 channels
        let f = g.add(.conv2d(randomConv(&rng, in: 131, out: 5, kernel: 1)), [e])
        let s = g.add(.weightedSum([0.25, -1, 2]), [f, f, f])           // one value read three times
        let t = g.add(.weightedSum([0.5, 1.5]), [s, f])
        for out in [c, d, e, f, s, t] {
            g.outputs = [out]
            try checkConformance(g, input: Shape(c: 3, h: 10, w: 8), tolerance: .accumulation, seed: 31)
        }
    }

    @Test("Winograd-sized dense block: concatenations, fused ReLU, separate leaky ReLU, residual tail",
          arguments: [100, 148])
    func winogradDenseBlock(side: Int) throws {
        // 100x100 has 25 x 25 Winograd tiles (one Winograd primitive); 148x148 has 37 x 37 (Winograd on row bands).
        #expect(DNNLBackend.winogradTilesSplitWell(Shape(c: 16, h: 100, w: 100)))
        #expect(!DNNLBackend.winogradTilesSplitWell(Shape(c: 16, h: 148, w: 148)))
        var rng = SeededGenerator(seed: 41)
        var g = Graph()
        let x = g.add(.input)
        let a = g.add(.conv2d(randomConv(&rng, in: 16, out: 16, kernel: 3, pad: 1, activation: .leakyRelu(slope: 0.2))), [x])
        let c1 = g.add(.concat, [x, a])
        let b = g.add(.conv2d(randomConv(&rng, in: 32, out: 16, kernel: 3, pad: 1, activation: .relu)), [c1])
        let c2 = g.add(.concat, [x, a, b])
        let c = g.add(.conv2d(randomConv(&rng, in: 48, out: 16, kernel: 3, pad: 1)), [c2])
        let r = g.add(.weightedSum([0.2, 1]), [c, x])
        let l = g.add(.activation(.leakyRelu(slope: 0.1)), [r])
        let slopes = Tensor.random(dims: [16], in: 0...0.5, using: &rng).data
        let p = g.add(.conv2d(randomConv(&rng, in: 16, out: 16, kernel: 3, pad: 1, activation: .prelu(slopes: slopes))), [l])
        g.outputs = [p]
        try checkConformance(g, input: Shape(c: 16, h: side, w: side), tolerance: .accumulation, seed: 41)
    }

    @Test("outputs whose Winograd tiles split badly run Winograd on two row bands, with the results of one primitive",
          arguments: [(148, 148), (146, 147), (163, 147)])
    func winogradBands(height: Int, width: Int) throws {
        let out = Shape(c: 16, h: height, w: width)
        #expect(!DNNLBackend.winogradTilesSplitWell(out))
        let bands = try #require(DNNLCompiler.winogradBands(out))
        #expect(bands.count == 2 && bands[0].lowerBound == 0 && bands[1].upperBound == height
                && bands[0].upperBound == bands[1].lowerBound && bands[0].count % 4 == 0)
        for band in bands { #expect(DNNLBackend.winogradTilesSplitWell(Shape(c: 16, h: band.count, w: width))) }
        var rng = SeededGenerator(seed: 42)
        for activation in [Activation.relu, .leakyRelu(slope: 0.2)] {
            // A global pool (squeeze-excitation) reads every row, so these graphs cannot run on taller windows.
            var g = Graph()
            let x = g.add(.input)
            let a = g.add(.conv2d(randomConv(&rng, in: 16, out: 32, kernel: 3, pad: 1, activation: activation)), [x])
            let b = g.add(.conv2d(randomConv(&rng, in: 32, out: 16, kernel: 3, pad: 1)), [a])
            g.outputs = [g.add(.binary(.mul), [b, g.add(.pool(.global(.average)), [b])])]
            let exe = try #require(try DNNLBackend().compile(g, inputShape: Shape(c: 16, h: height, w: width)) as? DNNLExecutable)
            #expect(exe.actionNames.filter { $0.hasSuffix(".band0") || $0.hasSuffix(".band1") }.count == 4,
                    "\(exe.actionNames)")
            try checkConformance(g, input: Shape(c: 16, h: height, w: width), tolerance: .accumulation, seed: 43)
        }
    }

    @Test("row-local networks whose Winograd tiles split badly run a few zero rows taller, with the same results",
          arguments: [(148, 148), (146, 147), (163, 147)])
    func rowExtension(height: Int, width: Int) throws {
        var rng = SeededGenerator(seed: 44)
        // An RRDB-like stack: convolutions, a concatenation, a residual sum, an upsampling and a pixel shuffle.
        var g = Graph()
        let x = g.add(.input)
        let a = g.add(.conv2d(randomConv(&rng, in: 16, out: 16, kernel: 3, pad: 1, activation: .leakyRelu(slope: 0.2))), [x])
        let c = g.add(.concat, [x, a])
        let b = g.add(.conv2d(randomConv(&rng, in: 32, out: 16, kernel: 3, pad: 1)), [c])
        let r = g.add(.weightedSum([0.2, 1]), [b, x])
        let s = g.add(.activation(.sigmoid), [r])    // sigmoid(0) = 0.5: the extra rows must be zeroed again
        let u = g.add(.resize(Resize(mode: .nearest, scaleH: 2, scaleW: 2)), [s])
        let d = g.add(.conv2d(randomConv(&rng, in: 16, out: 16, kernel: 3, pad: 1, activation: .relu)), [u])
        g.outputs = [g.add(.pixelShuffle(factor: 2, mode: .channelsFirst), [d])]
        let input = Shape(c: 16, h: height, w: width)
        let shapes = try g.inferShapes(inputs: [input])
        let ext = try #require(DNNLCompiler.rowExtension(g, inputShapes: [input], shapes: shapes))
        #expect(ext.rows >= 1 && ext.rows <= 12)
        for id in g.nodes.indices { if case .conv2d = g.nodes[id].op { #expect(DNNLBackend.winogradTilesSplitWell(ext.shapes[id])) } }
        let exe = try #require(try DNNLBackend().compile(g, inputShape: input) as? DNNLExecutable)
        #expect(exe.inputShape == input && exe.outputShape == shapes[g.outputs[0]])
        #expect(exe.actionNames.contains { $0.hasPrefix("zero(") } && !exe.actionNames.contains { $0.hasSuffix(".band0") })
        try checkConformance(g, input: input, tolerance: .accumulation, seed: 45)
        // Not for networks with an op that mixes rows (a global pool), nor when the tiles already split well.
        var h = g
        h.outputs = [h.add(.pool(.global(.average)), [g.outputs[0]])]
        #expect(DNNLCompiler.rowExtension(h, inputShapes: [input], shapes: try h.inferShapes(inputs: [input])) == nil)
        let fine = Shape(c: 16, h: 100, w: 100)
        #expect(DNNLCompiler.rowExtension(g, inputShapes: [fine], shapes: try g.inferShapes(inputs: [fine])) == nil)
    }

    @Test("RRDB-like dense blocks write into their concatenation buffers: no copies, same results")
    func concatenationWithoutCopies() throws {
        var rng = SeededGenerator(seed: 43)
        var g = Graph()
        let input = g.add(.input)
        let first = g.add(.conv2d(randomConv(&rng, in: 16, out: 16, kernel: 3, pad: 1)), [input], name: "first")
        var x = first
        for block in 0..<2 {
            // x, a and b are each written once, into their slice of the block's buffer; cat1 is a prefix of cat2.
            let a = g.add(.conv2d(randomConv(&rng, in: 16, out: 16, kernel: 3, pad: 1, activation: .leakyRelu(slope: 0.2))), [x])
            let c1 = g.add(.concat, [x, a], name: "cat1_\(block)")
            let b = g.add(.conv2d(randomConv(&rng, in: 32, out: 32, kernel: 3, pad: 1, activation: .leakyRelu(slope: 0.2))), [c1])
            let c2 = g.add(.concat, [x, a, b], name: "cat2_\(block)")
            let c = g.add(.conv2d(randomConv(&rng, in: 64, out: 16, kernel: 3, pad: 1)), [c2])
            x = g.add(.weightedSum([0.2, 1]), [c, x])   // the next block's first input
        }
        // A residual over both blocks keeps the first block's input alive to the end, as RRDBNet's trunk does.
        let out = g.add(.weightedSum([0.2, 1]), [x, first])
        g.outputs = [g.add(.conv2d(randomConv(&rng, in: 16, out: 3, kernel: 3, pad: 1)), [out])]
        let shape = Shape(c: 16, h: 100, w: 100)
        try checkConformance(g, input: shape, tolerance: .accumulation, seed: 43)
        let executable = try #require(try DNNLBackend().compile(g, inputShape: shape) as? DNNLExecutable)
        let copies = executable.actionNames.filter { $0.hasPrefix("cat") }
        #expect(copies.isEmpty, "concatenation copies: \(copies)")
    }

    @Test("crop on plain and blocked layouts")
    func crop() throws {
        var rng = SeededGenerator(seed: 41)
        var g = Graph()
        let x = g.add(.input)
        let a = g.add(.conv2d(randomConv(&rng, in: 3, out: 16, kernel: 3, pad: 1)), [x])
        let c1 = g.add(.crop(Crop(start: [0, 4, 4], end: [0, -4, -4])), [a])
        let c2 = g.add(.crop(Crop(start: [0, 2, 1], end: [0, -2, 0])), [x])
        let c3 = g.add(.crop(Crop(start: [3, 0, 0], end: [11, 0, 0])), [a]) // channels off block boundaries
        g.outputs = [c1]
        try checkConformance(g, input: Shape(c: 3, h: 14, w: 13), tolerance: .accumulation, seed: 41)
        g.outputs = [c2]
        try checkConformance(g, input: Shape(c: 3, h: 14, w: 13), tolerance: .exact, seed: 42)
        g.outputs = [c3]
        try checkConformance(g, input: Shape(c: 3, h: 14, w: 13), tolerance: .accumulation, seed: 43)
    }

    @Test("pixel shuffle (both channel orders) and unshuffle", arguments: [2, 3, 4])
    func shuffle(r: Int) throws {
        for mode in [PixelShuffleMode.channelsFirst, .depthFirst] {
            var g = Graph()
            let x = g.add(.input)
            g.outputs = [g.add(.pixelShuffle(factor: r, mode: mode), [x])]
            try checkConformance(g, input: Shape(c: 3 * r * r, h: 5, w: 7), tolerance: .exact, seed: UInt64(r))
        }
        var g = Graph()
        let x = g.add(.input)
        g.outputs = [g.add(.pixelUnshuffle(factor: r), [x])]
        try checkConformance(g, input: Shape(c: 2, h: 3 * r, w: 4 * r), tolerance: .exact, seed: UInt64(r))
    }

    @Test("pixel shuffle then unshuffle is the identity")
    func shuffleRoundTrip() throws {
        var rng = SeededGenerator(seed: 5)
        let x = Tensor.random(dims: [1, 12, 4, 6], using: &rng)
        var g = Graph()
        let i = g.add(.input)
        let s = g.add(.pixelShuffle(factor: 2, mode: .channelsFirst), [i])
        g.outputs = [g.add(.pixelUnshuffle(factor: 2), [s])]
        for backend in [ReferenceBackend()] as [any Backend] + Backends.fast.map(\.backend) {
            #expect(try backend.compile(g, inputShape: x.shape).run(x) == x, "\(backend.name)")
        }
    }

    @Test("resize: nearest, bilinear and bicubic up and down",
          arguments: [(ResizeMode.nearest, Float(2)), (.nearest, 4), (.nearest, 0.5), (.bilinear, 2),
                      (.bicubic, 0.5), (.bicubic, 0.75), (.bicubic, 2)])
    func resize(mode: ResizeMode, scale: Float) throws {
        var g = Graph()
        let x = g.add(.input)
        g.outputs = [g.add(.resize(Resize(mode: mode, scaleH: scale, scaleW: scale)), [x])]
        try checkConformance(g, input: Shape(c: 3, h: 12, w: 16), tolerance: .arithmetic, seed: 51)
    }

    @Test("pooling: global average/max and windows")
    func pool() throws {
        for p in [Pool.global(.average), .global(.max), Pool(kind: .max, kernelH: 2, kernelW: 2, strideH: 2, strideW: 2),
                  Pool(kind: .average, kernelH: 3, kernelW: 3, strideH: 1, strideW: 1, padding: .uniform(1))] {
            var g = Graph()
            let x = g.add(.input)
            g.outputs = [g.add(.pool(p), [x])]
            try checkConformance(g, input: Shape(c: 16, h: 8, w: 10), tolerance: .arithmetic, seed: 61)
        }
    }

    @Test("linear layer with activation on a spatial input")
    func linear() throws {
        var rng = SeededGenerator(seed: 71)
        var g = Graph()
        let x = g.add(.input)
        let l = Linear(weight: Tensor.random(dims: [10, 4 * 3 * 2], using: &rng),
                       bias: Tensor.random(dims: [10], using: &rng).data, activation: .relu)
        g.outputs = [g.add(.linear(l), [x])]
        try checkConformance(g, input: Shape(c: 4, h: 3, w: 2), tolerance: .accumulation, seed: 71)
    }
}

@Suite("Multi-input, multi-output graphs and graph surgery")
struct GraphSurgeryTests {
    @Test("a pool replaced by an input, pruned, runs the same on every backend with several outputs")
    func replacedPool() throws {
        var rng = SeededGenerator(seed: 81)
        var g = Graph()
        let x = g.add(.input)
        let a = g.add(.conv2d(randomConv(&rng, in: 3, out: 16, kernel: 3, pad: 1, activation: .relu)), [x])
        let gap = g.add(.pool(.global(.average)), [a])
        let fc = g.add(.linear(Linear(weight: Tensor.random(dims: [16, 16], using: &rng), bias: nil, activation: .sigmoid)), [gap])
        let m = g.add(.binary(.mul), [a, fc])
        _ = g.add(.conv2d(randomConv(&rng, in: 16, out: 4, kernel: 1)), [a])   // dead branch, pruned away
        g.outputs = [m]

        // The stage graph: the pooled vector becomes an input; outputs are the product and the conv.
        var h = g.replacingWithInputs([gap])
        h.outputs = [m, a]
        h = h.pruned()
        #expect(h.inputs.count == 2)
        #expect(h.nodes.count == 5)   // input, conv, pooled input, linear, mul: the dead branch is gone
        let shapes = [Shape(c: 3, h: 9, w: 11), Shape(c: 16, h: 1, w: 1)]
        let inputs = [Tensor.random(dims: shapes[0].dims, using: &rng), Tensor.random(dims: shapes[1].dims, in: 0...1, using: &rng)]
        let expected = try ReferenceBackend().compile(h, inputShapes: shapes).run(inputs: inputs)
        #expect(expected.count == 2)
        for (backend, floor) in Backends.fast {
            let exe = try backend.compile(h, inputShapes: shapes)
            #expect(exe.outputShapes == [Shape(c: 16, h: 9, w: 11), Shape(c: 16, h: 9, w: 11)])
            let actual = try exe.run(inputs: inputs)
            for (e, a) in zip(expected, actual) {
                let worst = zip(e.data, a.data).map { abs($0 - $1) }.max()!
                #expect(worst < max(1e-4, floor.absolute + floor.relative * e.data.map { abs($0) }.max()!), "\(backend.name): \(worst)")
            }
            #expect(throws: BackendError.self) { _ = try exe.run(inputs: [inputs[0]]) }
        }
        // Feeding the true pooled value back reproduces the original graph.
        let pooled = try ReferenceBackend().compile({ var s = g; s.outputs = [gap]; return s.pruned() }(), inputShape: shapes[0]).run(inputs[0])
        let full = try ReferenceBackend().compile(g, inputShape: shapes[0]).run(inputs[0])
        let viaStage = try ReferenceBackend().compile(h, inputShapes: shapes).run(inputs: [inputs[0], pooled])[0]
        #expect(full.data == viaStage.data)
    }
}

/// One model's executables share the weights they lay out (`WeightCache`).
@Suite("Shared weights")
struct WeightCacheTests {
    @Test("executables of two input sizes share laid-out weights and compute what unshared ones do",
          arguments: [DNNLBackend.ConvolutionAlgorithm.direct, .winograd])
    func sharedAcrossSizes(algorithm: DNNLBackend.ConvolutionAlgorithm) throws {
        var rng = SeededGenerator(seed: 47)
        var g = Graph()
        let x = g.add(.input)
        let a = g.add(.conv2d(randomConv(&rng, in: 16, out: 32, kernel: 3, pad: 1, activation: .relu)), [x])
        g.outputs = [g.add(.conv2d(randomConv(&rng, in: 32, out: 16, kernel: 3, pad: 1)), [a])]
        let cached = DNNLBackend(convolutionAlgorithm: algorithm).withWeightCache()
        let cache = try #require(cached.weightCache)
        let plain = DNNLBackend(convolutionAlgorithm: algorithm)
        var sizes: [Int] = []
        for side in [100, 112] {   // both Winograd-sized (25 and 28 tiles per side)
            let input = Tensor.random(dims: [1, 16, side, side], in: -1...1, using: &rng)
            let shared = try cached.compile(g, inputShape: input.shape).run(input)
            let own = try plain.compile(g, inputShape: input.shape).run(input)
            #expect(shared.data == own.data, "side \(side)")
            sizes.append(cache.bytes)
        }
        // Both convolutions' weights were laid out once, for the first size; the second size found them.
        #expect(sizes[0] >= (16 * 32 + 32 * 16) * 9 * 4 && sizes[1] == sizes[0], "cache bytes after each size: \(sizes)")
    }
}

/// Channel widening (`GraphRewrites.padChannels`): SPAN's 52-channel activations run as 64 channels.
@Suite("Channel widening")
struct ChannelWideningTests {
    /// A SPAN-like block on 24 channels: convolutions, SiLU, sigmoid - 0.5 attention, residual add, a concatenation
    /// of two widened values, a 12-channel convolution and a pixel shuffle.
    func spanLike(_ rng: inout SeededGenerator) -> (Graph, ValueID) {
        var g = Graph()
        let x = g.add(.input)
        // A grouped convolution (SPAN's per-channel normalisation) before anything is widened.
        let n = g.add(.conv2d(randomConv(&rng, in: 3, out: 3, kernel: 1, groups: 3)), [x], name: "normalise")
        let a = g.add(.conv2d(randomConv(&rng, in: 3, out: 24, kernel: 3, pad: 1)), [n], name: "first")
        let b = g.add(.conv2d(randomConv(&rng, in: 24, out: 24, kernel: 3, pad: 1, activation: .swish)), [a])
        let c = g.add(.conv2d(randomConv(&rng, in: 24, out: 24, kernel: 3, pad: 1)), [b])
        let s = g.add(.activation(.sigmoid), [c])
        let att = g.add(.activation(.linear(scale: 1, shift: -0.5)), [s])
        let sum = g.add(.binary(.add), [c, a])
        let m = g.add(.binary(.mul), [sum, att])
        let slopes = Tensor.random(dims: [24], in: 0...0.5, using: &rng).data
        let p = g.add(.activation(.prelu(slopes: slopes)), [m])
        let cat = g.add(.concat, [a, p])
        let d = g.add(.conv2d(randomConv(&rng, in: 48, out: 12, kernel: 3, pad: 1)), [cat])
        g.outputs = [g.add(.pixelShuffle(factor: 2, mode: .channelsFirst), [d])]
        return (g, a)
    }

    @Test("24-channel values are widened to 32 and the result is the reference's")
    func widened() throws {
        var rng = SeededGenerator(seed: 53)
        let (g, _) = spanLike(&rng)
        let input = Shape(c: 3, h: 100, w: 100)
        let wide = GraphRewrites.padChannels(g, shapes: try g.inferShapes(inputs: [input]))
        let shapes = try wide.inferShapes(inputs: [input])
        let convChannels = wide.nodes.indices.compactMap { id -> Int? in
            if case .conv2d = wide.nodes[id].op { shapes[id].c } else { nil }
        }
        #expect(convChannels == [3, 32, 32, 32, 12], "\(convChannels)")
        #expect(shapes[wide.outputs[0]] == Shape(c: 3, h: 200, w: 200))
        try checkConformance(g, input: input, tolerance: .accumulation, seed: 53)
    }

    @Test("a value a graph output or a pixel shuffle reads is left as it is, with what widens it")
    func notWidened() throws {
        var rng = SeededGenerator(seed: 59)
        var (g, a) = spanLike(&rng)
        g.outputs.append(a)   // the first convolution's 24 channels are now a result
        let input = Shape(c: 3, h: 20, w: 20)
        let wide = GraphRewrites.padChannels(g, shapes: try g.inferShapes(inputs: [input]))
        let shapes = try wide.inferShapes(inputs: [input])
        #expect(shapes[a].c == 24)
        // The concatenation reads `a`, so the widening stops where the maps would mix.
        try checkConformance(g, input: input, tolerance: .accumulation, seed: 59)
    }
}
