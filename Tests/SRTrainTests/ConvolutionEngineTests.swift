import Testing
import SRCore
@testable import SRTrain

@Suite("oneDNN convolution passes vs the reference")
struct ConvolutionEngineTests {
    /// Accumulation over up to 9 * 16 products in a different order.
    static let tolerance: Float = 1e-4

    @Test("forward, backward data and backward weights agree", arguments: [(1, 1), (2, 1), (1, 0)])
    func passes(stride: Int, padding: Int) throws {
        var g = SeededGenerator(seed: UInt64(50 + stride + padding))
        let x = GradientCheck.random(TShape(n: 3, c: 16, h: 9, w: 11), &g)
        let w = GradientCheck.random(TShape(n: 32, c: 16, h: 3, w: 3), &g)
        let b = GradientCheck.random(TShape(n: 32, c: 1, h: 1, w: 1), &g)
        let o = TShape(n: 3, c: 32, h: (9 + 2 * padding - 3) / stride + 1, w: (11 + 2 * padding - 3) / stride + 1)
        let dy = (0..<o.count).map { _ in Float.random(in: -1...1, using: &g) }
        let ref = ReferenceConvolution(), fast = try DNNLConvolution()
        func worst(_ a: [Float], _ b: [Float]) -> Float { zip(a, b).map { abs($0 - $1) }.max() ?? 0 }
        let scale: Float = 16 * 9
        #expect(worst(try fast.forward(x: x, w: w, b: b, stride: stride, padding: padding, output: o),
                      ref.forward(x: x, w: w, b: b, stride: stride, padding: padding, output: o)) <= Self.tolerance * scale)
        #expect(worst(try fast.backwardData(dy: dy, w: w, input: x.shape, output: o, stride: stride, padding: padding),
                      ref.backwardData(dy: dy, w: w, input: x.shape, output: o, stride: stride, padding: padding))
                <= Self.tolerance * scale)
        let f = try fast.backwardWeights(x: x, dy: dy, weights: w.shape, bias: true, output: o, stride: stride, padding: padding)
        let r = ref.backwardWeights(x: x, dy: dy, weights: w.shape, bias: true, output: o, stride: stride, padding: padding)
        #expect(worst(f.dw, r.dw) <= Self.tolerance * Float(o.n * o.h * o.w))
        #expect(worst(f.db!, r.db!) <= Self.tolerance * Float(o.n * o.h * o.w))
        #expect(!fast.implementations.isEmpty)
    }
}
