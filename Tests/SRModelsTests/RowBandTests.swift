import Testing
import SRCore
import SRWeights
import SRBackendReference
import SRBackendDNNL
@testable import SRModels

/// Row-banded tails (`RowBandSplit`): where a network is cut, and that banded runs equal whole runs.
@Suite("row-banded tails")
struct RowBandTests {
    /// The graph of `config` with random weights.
    func graph<A: Architecture>(_: A.Type, _ config: A.Config, seed: UInt64) throws -> Graph {
        var g = SeededGenerator(seed: seed)
        var weights = StateDict()
        for s in A.stateDictSpec(config) {
            let range: ClosedRange<Float> = s.key.hasSuffix("running_var") ? 0.5...1.5 : -0.3...0.3
            weights[s.key] = WeightTensor(Tensor.random(dims: s.shape, in: range, using: &g))
        }
        return try A.build(config, weights: weights)
    }

    @Test("RRDBNet is cut before its first upsampling: halo 2 rows, tail at four times the split value's rows")
    func rrdbSplit() throws {
        let net = try graph(RRDBNet.self, RRDBNet.Config(features: 8, blocks: 1, growth: 4), seed: 1)
        let split = try #require(RowBandSplit.find(net))
        // conv_up2, conv_hr, conv_last: 3 rows at 4x = 2 rows at 2x; conv_up1 one more: 3 rows at 2x = 2 rows at 1x.
        #expect(split.halo == 2 && split.rowScale == 4)
        #expect(split.tail.inputs.count == 1 && split.head.outputs.count == 1)
        let convs = split.tail.nodes.filter { if case .conv2d = $0.op { true } else { false } }
        #expect(convs.count == 4, "\(split.tail.nodes.map(\.name))")
        let shapes = try split.head.inferShapes(inputs: [Shape(c: 3, h: 20, w: 12)])
        #expect(shapes[split.head.outputs[0]] == Shape(c: 8, h: 20, w: 12))
    }

    @Test("networks whose tail reads the input, has no convolution or pools are not cut")
    func noSplit() throws {
        // MSRResNet adds a bilinear upsampling of the input at the end; SRVGGNetCompact and SPAN end in a pixel
        // shuffle (nothing convolves after it); Real-CUGAN crops and pools.
        #expect(RowBandSplit.find(try graph(MSRResNet.self, MSRResNet.Config(features: 8, blocks: 1, scale: 4), seed: 2)) == nil)
        #expect(RowBandSplit.find(try graph(SRVGGNetCompact.self, SRVGGNetCompact.Config(features: 8, convolutions: 2), seed: 3)) == nil)
        #expect(RowBandSplit.find(try graph(SPAN.self, SPAN.Config(features: 8), seed: 4)) == nil)
        #expect(RowBandSplit.find(try graph(RealCUGAN.self, RealCUGAN.Config(features: 8, scale: 2), seed: 5)) == nil)
        // A plain convolution stack with no upsampling.
        var g = Graph()
        let x = g.add(.input)
        g.outputs = [g.add(.conv2d(Conv2d(weight: Tensor(zeros: [3, 3, 3, 3]), bias: nil, padding: .uniform(1))), [x])]
        #expect(RowBandSplit.find(g) == nil)
    }

    @Test("bands cover every row once; windows have one height, stay inside and hold the halo or the true border",
          arguments: [(40, 7, 2), (40, 40, 2), (41, 13, 3), (9, 4, 2), (100, 30, 0)])
    func bands(height: Int, rows: Int, halo: Int) throws {
        let split = try #require(RowBandSplit.find(try graph(RRDBNet.self, RRDBNet.Config(features: 4, blocks: 1, growth: 4), seed: 6)))
        let bands = RowBandSplit(head: split.head, tail: split.tail, rowScale: 2, halo: halo).bands(height: height, rows: rows)
        var next = 0
        for b in bands {
            #expect(b.start == next && b.rows > 0)
            next += b.rows
            #expect(b.windowRows == min(height, rows + 2 * halo))
            #expect(b.windowStart >= 0 && b.windowStart + b.windowRows <= height)
            #expect(b.start - b.windowStart >= min(halo, b.start))
            #expect(b.windowStart + b.windowRows - (b.start + b.rows) >= min(halo, height - b.start - b.rows))
        }
        #expect(next == height)
    }

    @Test("head plus banded tail equals the whole network on both backends", arguments: [3, 8, 17])
    func bandedEqualsWhole(rows: Int) throws {
        let net = try graph(RRDBNet.self, RRDBNet.Config(features: 16, blocks: 1, growth: 8), seed: 7)
        let split = try #require(RowBandSplit.find(net))
        var g = SeededGenerator(seed: 8)
        let x = Tensor.random(dims: [1, 3, 19, 23], in: 0...1, using: &g)
        for backend in [ReferenceBackend(), DNNLBackend()] as [any Backend] {
            let whole = try backend.compile(net, inputShape: x.shape).run(x)
            let value = try backend.compile(split.head, inputShape: x.shape).run(x)
            let bands = split.bands(height: value.shape.h, rows: rows)
            #expect(bands.count == (value.shape.h + rows - 1) / rows)
            let tail = try backend.compile(split.tail, inputShape: Shape(c: value.shape.c, h: bands[0].windowRows, w: value.shape.w))
            let banded = try split.run(value: value, bands: bands) { try tail.run($0) }
            #expect(banded.dims == whole.dims)
            #expect(maxAbsDiff(banded, whole) < 1e-5, "\(type(of: backend)), \(rows) rows: \(maxAbsDiff(banded, whole))")
        }
    }
}
