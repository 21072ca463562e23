import Testing
import SRCore
@testable import SRBackendDNNL

/// Speed devices never change results: the default oneDNN backend (Winograd, on row bands or a few zero rows taller
/// where its tiles split badly) against its direct kernels, on a Real-ESRGAN-compact-like network, at window sizes
/// that hit every case (tiles that split well, prime tile counts above 32 on one or both axes, tiny, odd and prime
/// sides).
@Suite("Window parity: every speed device gives the direct convolution's result")
struct WindowParityTests {
    /// SRVGGNetCompact's shape at a smaller width: conv 3->32, 6 x (conv 32->32 + PReLU), conv 32->48, pixel shuffle 4.
    static let network: Graph = {
        var rng = SeededGenerator(seed: 77)
        /// Weights scaled like a trained network's (He-style, `1/sqrt(fan-in)`), so activations stay near 1 and the
        /// output is in an image's range.
        func randomConv(_ rng: inout SeededGenerator, in ic: Int, out oc: Int, kernel: Int, pad: Int,
                        activation: Activation? = nil) -> Conv2d {
            var c = SRBackendDNNLTests.randomConv(&rng, in: ic, out: oc, kernel: kernel, pad: pad, activation: activation)
            let k = 2 / Float(ic * kernel * kernel).squareRoot()
            c.weight.data = c.weight.data.map { $0 * k }
            c.bias = c.bias?.map { $0 * 0.1 }
            return c
        }
        var g = Graph()
        var x = g.add(.input)
        let input = x
        x = g.add(.conv2d(randomConv(&rng, in: 3, out: 32, kernel: 3, pad: 1, activation: .prelu(slopes: [0.1]))), [x])
        for _ in 0..<6 {
            let slopes = Tensor.random(dims: [32], in: 0...0.3, using: &rng).data
            x = g.add(.conv2d(randomConv(&rng, in: 32, out: 32, kernel: 3, pad: 1, activation: .prelu(slopes: slopes))), [x])
        }
        x = g.add(.conv2d(randomConv(&rng, in: 32, out: 48, kernel: 3, pad: 1)), [x])
        let up = g.add(.pixelShuffle(factor: 4, mode: .channelsFirst), [x])
        let base = g.add(.resize(Resize(mode: .nearest, scaleH: 4, scaleW: 4)), [input])
        g.outputs = [g.add(.binary(.add), [up, base])]
        return g
    }()

    /// Window sides (an image side plus Real-ESRGAN's 2 x 10 px of padding): 36 (16 + 20) to 180 (160 + 20) in steps
    /// of 18, plus the sides with 37 or 41 Winograd tiles (145-148, 161-164) and primes.
    static let sides: [(Int, Int)] = stride(from: 36, through: 180, by: 18).map { ($0, $0 + 3) }
        + [(148, 148), (145, 163), (161, 147), (157, 151), (149, 137), (97, 101)]

    @Test("default backend vs direct kernels, one grey level at most", arguments: WindowParityTests.sides)
    func parity(height: Int, width: Int) throws {
        let shape = Shape(c: 3, h: height, w: width)
        var rng = SeededGenerator(seed: UInt64(height * 1000 + width))
        let x = Tensor(shape: shape, data: Tensor.random(dims: shape.dims, in: 0...1, using: &rng).data)
        let compiled = try #require(try DNNLBackend().compile(Self.network, inputShape: shape) as? DNNLExecutable)
        let fast = try compiled.run(x)
        // Sizes whose tiles split badly do run the row extension (the case this suite is about).
        if height * width >= DNNLBackend.winogradMinimumPixels,
           !DNNLBackend.winogradTilesSplitWell(Shape(c: 32, h: height, w: width)) {
            #expect(compiled.actionNames.contains { $0.hasPrefix("zero(") }, "no row extension at \(height)x\(width)")
        }
        let exact = try DNNLBackend(convolutionAlgorithm: .direct).compile(Self.network, inputShape: shape).run(x)
        #expect(fast.shape == exact.shape)
        var worst: Float = 0, range: Float = 0
        for (a, b) in zip(fast.data, exact.data) { worst = max(worst, abs(a - b)); range = max(range, abs(b)) }
        // Winograd rounds differently: far below one grey level (1/255) of the 8-bit output, whose range this is.
        #expect(range > 0.5 && range < 20, "output range \(range): the test network is not image-like")
        #expect(worst < 1e-3, "max |diff| \(worst) at \(height)x\(width)")
    }

    @Test("the backend accepts every window as it is: the engine never changes the padding for speed")
    func everyWindow() {
        for h in 16...200 { for w in [h, h + 1, h + 7] { #expect(DNNLBackend().prefersWindow(height: h, width: w)) } }
        // Only the measurement knob brings back the old preference (and with it padding that changes outputs).
        #expect(!DNNLBackend(windowSlack: true).prefersWindow(height: 148, width: 148))
    }
}
