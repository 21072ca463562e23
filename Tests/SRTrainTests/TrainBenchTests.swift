import Foundation
import Testing
import SRCore
import SRModels
@testable import SRTrain

/// Wraps a convolution engine and adds up the wall time of each of its three passes.
final class TimedConvolution: ConvolutionEngine {
    let inner: any ConvolutionEngine
    var forwardSeconds = 0.0, backwardDataSeconds = 0.0, backwardWeightsSeconds = 0.0
    /// Minor page faults inside the convolution calls (fresh memory touched for the first time).
    var faults = 0

    init(_ inner: any ConvolutionEngine) { self.inner = inner }

    var total: Double { forwardSeconds + backwardDataSeconds + backwardWeightsSeconds }

    func reset() { forwardSeconds = 0; backwardDataSeconds = 0; backwardWeightsSeconds = 0; faults = 0 }

    static func minorFaults() -> Int {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return usage.ru_minflt
    }

    func forward(x: Variable, w: Variable, b: Variable?, stride: Int, padding: Int, output: TShape) throws -> [Float] {
        let t = Date(), f = Self.minorFaults()
        defer { forwardSeconds += Date().timeIntervalSince(t); faults += Self.minorFaults() - f }
        return try inner.forward(x: x, w: w, b: b, stride: stride, padding: padding, output: output)
    }

    func backwardData(dy: [Float], w: Variable, input: TShape, output: TShape, stride: Int, padding: Int) throws -> [Float] {
        let t = Date(), f = Self.minorFaults()
        defer { backwardDataSeconds += Date().timeIntervalSince(t); faults += Self.minorFaults() - f }
        return try inner.backwardData(dy: dy, w: w, input: input, output: output, stride: stride, padding: padding)
    }

    func backwardWeights(x: Variable, dy: [Float], weights: TShape, bias: Bool, output: TShape, stride: Int,
                         padding: Int) throws -> (dw: [Float], db: [Float]?) {
        let t = Date(), f = Self.minorFaults()
        defer { backwardWeightsSeconds += Date().timeIntervalSince(t); faults += Self.minorFaults() - f }
        return try inner.backwardWeights(x: x, dy: dy, weights: weights, bias: bias, output: output, stride: stride,
                                         padding: padding)
    }
}

/// Training throughput of MSRResNet-16 x4 (64 features) on 16 LR patches of 24x24 with L1 and Adam, the setting of
/// `bench/train_throughput.py` (which runs it side by side with PyTorch through `enhance train`). Prints ms/step,
/// images/s and where the time goes. Run it in a release build:
///
///     ENHANCE_TRAIN_BENCH=1 OMP_NUM_THREADS=2 swift test -c release --skip-build --filter TrainBench
@Suite("Training throughput (ENHANCE_TRAIN_BENCH=1)",
       .enabled(if: ProcessInfo.processInfo.environment["ENHANCE_TRAIN_BENCH"] == "1"))
struct TrainBench {
    @Test("MSRResNet-16 x4, batch 16 of 24x24: ms per step")
    func msrresnetStep() throws {
        let env = ProcessInfo.processInfo.environment
        let steps = Int(env["ENHANCE_TRAIN_BENCH_STEPS"] ?? "") ?? 10
        let batch = 16, side = 24
        let net = MSRResNetNetwork(config: MSRResNet.Config(features: 64, blocks: 16, scale: 4), seed: 1)
        let conv = TimedConvolution(try DNNLConvolution())
        let tape = Tape(convolution: conv)
        let adam = Adam(learningRate: 2e-4)
        var g = SeededGenerator(seed: 2)
        let x = Variable(TShape(n: batch, c: 3, h: side, w: side),
                         data: (0..<(batch * 3 * side * side)).map { _ in Float.random(in: 0...1, using: &g) })
        let y = Variable(TShape(n: batch, c: 3, h: side * 4, w: side * 4),
                         data: (0..<(batch * 3 * side * side * 16)).map { _ in Float.random(in: 0...1, using: &g) })
        var forward = 0.0, backward = 0.0, optimiser = 0.0
        func step() throws {
            tape.reset()
            net.parameters.zeroGrad()
            let t0 = Date()
            let loss = try tape.apply(.l1Loss, [try net.forward(x, tape: tape), y])
            let t1 = Date()
            try tape.backward(loss)
            let t2 = Date()
            try adam.update(net.parameters.all)
            let t3 = Date()
            forward += t1.timeIntervalSince(t0)
            backward += t2.timeIntervalSince(t1)
            optimiser += t3.timeIntervalSince(t2)
        }
        for _ in 0..<2 { try step() }   // primitive creation, first-touch allocations
        if let threads = env["ENHANCE_TRAIN_BENCH_THREADS"].flatMap(Int.init) { TrainThreads.set(threads) }
        let profile = TapeProfile()
        tape.profile = profile
        conv.reset()
        forward = 0; backward = 0; optimiser = 0
        let faults = TimedConvolution.minorFaults()
        let start = Date()
        for _ in 0..<steps { try step() }
        print("page faults per step: \((TimedConvolution.minorFaults() - faults) / steps), \(conv.faults / steps) in convolutions; "
              + "freed memory kept: \(TrainMemory.configured)")
        let ms = Date().timeIntervalSince(start) * 1000 / Double(steps)
        func per(_ s: Double) -> String { String(format: "%.1f", s * 1000 / Double(steps)) }
        print(String(format: "MSRResNet-16 x4, batch %d, LR %dx%d: %.1f ms/step, %.1f images/s", batch, side, side, ms,
                     Double(batch) * 1000 / ms))
        print("  forward \(per(forward)) ms (conv \(per(conv.forwardSeconds))), backward \(per(backward)) ms "
              + "(conv data \(per(conv.backwardDataSeconds)), conv weights \(per(conv.backwardWeightsSeconds))), "
              + "Adam \(per(optimiser)) ms; everything but convolutions \(per(forward + backward + optimiser - conv.total)) ms")
        print(profile.report(steps: steps))
        #expect(ms > 0)
    }
}
