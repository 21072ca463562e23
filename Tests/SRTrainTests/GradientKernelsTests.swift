import Testing
import SRCore
import SRBackendReference
import SRBackendDNNL

@Suite("oneDNN convolution passes vs the reference")
struct GradientKernelsTests {
    /// Per-product error of float accumulation in a different order; limits scale with the number of products summed.
    static let tolerance: Float = 1e-5

    struct Case: Sendable, CustomStringConvertible {
        var kernel: Int, stride: Int, padding: Int, inChannels: Int, outChannels: Int, bias: Bool
        var dilation = 1
        var description: String { "\(kernel)x\(kernel)/\(stride) pad \(padding) dil \(dilation) \(inChannels)->\(outChannels)\(bias ? " +b" : "")" }
    }

    @Test("forward, backward data and backward weights agree with the reference loops", arguments: [
        Case(kernel: 3, stride: 1, padding: 1, inChannels: 16, outChannels: 32, bias: true),    // SRResNet body
        Case(kernel: 3, stride: 2, padding: 1, inChannels: 16, outChannels: 32, bias: true),
        Case(kernel: 3, stride: 1, padding: 0, inChannels: 16, outChannels: 32, bias: false),   // SPAN conv.1
        Case(kernel: 4, stride: 2, padding: 1, inChannels: 8, outChannels: 16, bias: false),    // discriminator convk_1
        Case(kernel: 9, stride: 1, padding: 4, inChannels: 3, outChannels: 8, bias: true),      // SRResNet head
        Case(kernel: 1, stride: 1, padding: 1, inChannels: 5, outChannels: 10, bias: true),     // SPAN conv.0
        Case(kernel: 3, stride: 1, padding: 1, inChannels: 64, outChannels: 3, bias: true),     // conv_last
        Case(kernel: 3, stride: 1, padding: 2, inChannels: 4, outChannels: 6, bias: true, dilation: 2),
    ])
    func passes(_ c: Case) throws {
        let seed = UInt64(50 + c.kernel * 7 + c.stride * 3 + c.padding + c.inChannels)
        var g = SeededGenerator(seed: seed)
        let x = Tensor.random(dims: [3, c.inChannels, 11, 13], using: &g)
        let conv = Conv2d(weight: Tensor.random(dims: [c.outChannels, c.inChannels, c.kernel, c.kernel], using: &g),
                          bias: c.bias ? Tensor.random(dims: [c.outChannels], using: &g).data : nil, stride: (c.stride, c.stride),
                          padding: .uniform(c.padding), dilation: (c.dilation, c.dilation))
        let span = (c.kernel - 1) * c.dilation + 1
        let o = Shape(n: 3, c: c.outChannels, h: (11 + 2 * c.padding - span) / c.stride + 1, w: (13 + 2 * c.padding - span) / c.stride + 1)
        let dy = Tensor.random(dims: o.dims, using: &g)
        let ref = ReferenceGradientKernels(), fast = DNNLGradientKernels()
        func worst(_ a: [Float], _ b: [Float]) -> Float { zip(a, b).map { abs($0 - $1) }.max() ?? 0 }
        let window = Float(c.inChannels * c.kernel * c.kernel)
        // Twice, so the cached primitives and their reorders are exercised too.
        for _ in 0..<2 {
            let forward = worst(try fast.convolutionForward(x, conv, output: o).data, try ref.convolutionForward(x, conv, output: o).data)
            #expect(forward <= Self.tolerance * window, "forward \(c): \(forward) (seed \(seed))")
            let data = worst(try fast.convolutionBackwardData(dy, conv, input: x.shape).data,
                             try ref.convolutionBackwardData(dy, conv, input: x.shape).data)
            #expect(data <= Self.tolerance * Float(c.outChannels * c.kernel * c.kernel), "backward data \(c): \(data) (seed \(seed))")
            let f = try fast.convolutionBackwardWeights(x, dy, conv), r = try ref.convolutionBackwardWeights(x, dy, conv)
            let pixels = Float(o.n * o.h * o.w)
            #expect(worst(f.weight, r.weight) <= Self.tolerance * pixels, "backward weights \(c) (seed \(seed))")
            #expect(c.bias == (f.bias != nil))
            if let fb = f.bias, let rb = r.bias { #expect(worst(fb, rb) <= Self.tolerance * pixels, "backward bias \(c) (seed \(seed))") }
        }
        #expect(fast.implementations.count == 3)
    }
}
