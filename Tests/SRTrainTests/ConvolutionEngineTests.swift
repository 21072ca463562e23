import Testing
import SRCore
@testable import SRTrain

@Suite("oneDNN convolution passes vs the reference")
struct ConvolutionEngineTests {
    /// Per-product error of float accumulation in a different order; limits scale with the number of products summed.
    static let tolerance: Float = 1e-5

    struct Case: Sendable, CustomStringConvertible {
        var kernel: Int, stride: Int, padding: Int, inChannels: Int, outChannels: Int, bias: Bool
        var description: String { "\(kernel)x\(kernel)/\(stride) pad \(padding) \(inChannels)->\(outChannels)\(bias ? " +b" : "")" }
    }

    @Test("forward, backward data and backward weights agree with the reference loops", arguments: [
        Case(kernel: 3, stride: 1, padding: 1, inChannels: 16, outChannels: 32, bias: true),    // SRResNet body
        Case(kernel: 3, stride: 2, padding: 1, inChannels: 16, outChannels: 32, bias: true),
        Case(kernel: 3, stride: 1, padding: 0, inChannels: 16, outChannels: 32, bias: false),
        Case(kernel: 4, stride: 2, padding: 1, inChannels: 8, outChannels: 16, bias: false),    // discriminator convk_1
        Case(kernel: 9, stride: 1, padding: 4, inChannels: 3, outChannels: 8, bias: true),      // SRResNet head
        Case(kernel: 1, stride: 1, padding: 0, inChannels: 5, outChannels: 3, bias: true),
        Case(kernel: 3, stride: 1, padding: 1, inChannels: 64, outChannels: 3, bias: true),     // conv_last
    ])
    func passes(_ c: Case) throws {
        let seed = UInt64(50 + c.kernel * 7 + c.stride * 3 + c.padding + c.inChannels)
        var g = SeededGenerator(seed: seed)
        let x = GradientCheck.random(TShape(n: 3, c: c.inChannels, h: 11, w: 13), &g)
        let w = GradientCheck.random(TShape(n: c.outChannels, c: c.inChannels, h: c.kernel, w: c.kernel), &g)
        let b = c.bias ? GradientCheck.random(TShape(n: c.outChannels, c: 1, h: 1, w: 1), &g) : nil
        let o = TShape(n: 3, c: c.outChannels, h: (11 + 2 * c.padding - c.kernel) / c.stride + 1,
                       w: (13 + 2 * c.padding - c.kernel) / c.stride + 1)
        let dy = (0..<o.count).map { _ in Float.random(in: -1...1, using: &g) }
        let ref = ReferenceConvolution(), fast = try DNNLConvolution()
        func worst(_ a: [Float], _ b: [Float]) -> Float { zip(a, b).map { abs($0 - $1) }.max() ?? 0 }
        let window = Float(c.inChannels * c.kernel * c.kernel)
        // Twice, so the cached primitives and their reorders are exercised too.
        for _ in 0..<2 {
            let forward = worst(try fast.forward(x: x, w: w, b: b, stride: c.stride, padding: c.padding, output: o),
                                ref.forward(x: x, w: w, b: b, stride: c.stride, padding: c.padding, output: o))
            #expect(forward <= Self.tolerance * window, "forward \(c): \(forward) (seed \(seed))")
            let data = worst(try fast.backwardData(dy: dy, w: w, input: x.shape, output: o, stride: c.stride, padding: c.padding),
                             ref.backwardData(dy: dy, w: w, input: x.shape, output: o, stride: c.stride, padding: c.padding))
            #expect(data <= Self.tolerance * Float(c.outChannels * c.kernel * c.kernel), "backward data \(c): \(data) (seed \(seed))")
            let f = try fast.backwardWeights(x: x, dy: dy, weights: w.shape, bias: c.bias, output: o, stride: c.stride,
                                             padding: c.padding)
            let r = ref.backwardWeights(x: x, dy: dy, weights: w.shape, bias: c.bias, output: o, stride: c.stride, padding: c.padding)
            let pixels = Float(o.n * o.h * o.w)
            #expect(worst(f.dw, r.dw) <= Self.tolerance * pixels, "backward weights \(c) (seed \(seed))")
            #expect(c.bias == (f.db != nil))
            if let fb = f.db, let rb = r.db { #expect(worst(fb, rb) <= Self.tolerance * pixels, "backward bias \(c) (seed \(seed))") }
        }
        #expect(fast.implementations.count == 3)
    }
}
