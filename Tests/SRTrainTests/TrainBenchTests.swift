import Foundation
import Testing
import SRCore
import SRModels
import SRBackendDNNL
@testable import SRTrain

/// Wraps gradient kernels and adds up the wall time of each of the three convolution passes.
final class TimedKernels: GradientKernels {
    let inner: any GradientKernels
    var forwardSeconds = 0.0, backwardDataSeconds = 0.0, backwardWeightsSeconds = 0.0
    /// Minor page faults inside the convolution calls (fresh memory touched for the first time).
    var faults = 0

    init(_ inner: any GradientKernels) { self.inner = inner }

    var total: Double { forwardSeconds + backwardDataSeconds + backwardWeightsSeconds }

    func reset() { forwardSeconds = 0; backwardDataSeconds = 0; backwardWeightsSeconds = 0; faults = 0 }

    static func minorFaults() -> Int {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return usage.ru_minflt
    }

    func convolutionForward(_ x: Tensor, _ conv: Conv2d, output: Shape) throws -> Tensor {
        let t = Date(), f = Self.minorFaults()
        defer { forwardSeconds += Date().timeIntervalSince(t); faults += Self.minorFaults() - f }
        return try inner.convolutionForward(x, conv, output: output)
    }

    func convolutionBackwardData(_ dy: Tensor, _ conv: Conv2d, input: Shape) throws -> Tensor {
        let t = Date(), f = Self.minorFaults()
        defer { backwardDataSeconds += Date().timeIntervalSince(t); faults += Self.minorFaults() - f }
        return try inner.convolutionBackwardData(dy, conv, input: input)
    }

    func convolutionBackwardWeights(_ x: Tensor, _ dy: Tensor, _ conv: Conv2d) throws -> (weight: [Float], bias: [Float]?) {
        let t = Date(), f = Self.minorFaults()
        defer { backwardWeightsSeconds += Date().timeIntervalSince(t); faults += Self.minorFaults() - f }
        return try inner.convolutionBackwardWeights(x, dy, conv)
    }
}

/// Training throughput of MSRResNet-16 x4 (64 features) on 16 LR patches of 24x24 with L1 and Adam, the setting of
/// `bench/train_throughput.py` (which runs it through `enhance train`). Prints ms/step, images/s and where the time
/// goes. Run it in a release build:
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
        let net = try TrainingNetwork(MSRResNet.self, config: MSRResNet.Config(features: 64, blocks: 16, scale: 4), seed: 1)
        let kernels = TimedKernels(DNNLGradientKernels())
        let tape = GraphTape(kernels: kernels)
        TrainMemory.configure()
        let adam = Adam(learningRate: 2e-4)
        var g = SeededGenerator(seed: 2)
        let x = Tensor(dims: [batch, 3, side, side], data: (0..<(batch * 3 * side * side)).map { _ in Float.random(in: 0...1, using: &g) })
        let y = Tensor(dims: [batch, 3, side * 4, side * 4],
                       data: (0..<(batch * 3 * side * side * 16)).map { _ in Float.random(in: 0...1, using: &g) })
        var forward = 0.0, backward = 0.0, optimiser = 0.0
        func step() throws {
            tape.reset()
            net.parameters.zeroGrad()
            let t0 = Date()
            let (_, dy) = try PixelLoss.l1.evaluate(try net.forward(x, tape: tape), y)
            let t1 = Date()
            net.accumulate(try tape.backward([dy]).parameters)
            let t2 = Date()
            try adam.update(net.parameters.all)
            let t3 = Date()
            forward += t1.timeIntervalSince(t0)
            backward += t2.timeIntervalSince(t1)
            optimiser += t3.timeIntervalSince(t2)
        }
        for _ in 0..<2 { try step() }   // primitive creation, first-touch allocations
        if let threads = env["ENHANCE_TRAIN_BENCH_THREADS"].flatMap(Int.init) {
            DNNLBackend.setThreads(threads)
            ParallelLoops.threads = threads
        }
        let profile = TapeProfile()
        tape.profile = profile
        kernels.reset()
        forward = 0; backward = 0; optimiser = 0
        let faults = TimedKernels.minorFaults()
        let start = Date()
        for _ in 0..<steps { try step() }
        print("page faults per step: \((TimedKernels.minorFaults() - faults) / steps), \(kernels.faults / steps) in convolutions; "
              + "freed memory kept: \(TrainMemory.configured)")
        let ms = Date().timeIntervalSince(start) * 1000 / Double(steps)
        func per(_ s: Double) -> String { String(format: "%.1f", s * 1000 / Double(steps)) }
        print(String(format: "MSRResNet-16 x4, batch %d, LR %dx%d: %.1f ms/step, %.1f images/s", batch, side, side, ms,
                     Double(batch) * 1000 / ms))
        print("  forward \(per(forward)) ms (conv \(per(kernels.forwardSeconds))), backward \(per(backward)) ms "
              + "(conv data \(per(kernels.backwardDataSeconds)), conv weights \(per(kernels.backwardWeightsSeconds))), "
              + "Adam \(per(optimiser)) ms; everything but convolutions \(per(forward + backward + optimiser - kernels.total)) ms")
        print(profile.report(steps: steps))
        #expect(ms > 0)
    }
}
