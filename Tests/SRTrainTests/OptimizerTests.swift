import Testing
import SRCore
import SRWeights
@testable import SRTrain

@Suite("Optimisers, schedules, clipping, EMA")
struct OptimizerTests {
    /// Float32 updates against values PyTorch computed in float64.
    static let tolerance: Float = 2e-6

    /// Three steps of `optimizer` on weights [1, -2, 0.5] with fixed gradients (the same as the PyTorch run below).
    func run(_ optimizer: Adam) throws -> [[Float]] {
        let p = Parameter(key: "p", shape: [3], data: [1, -2, 0.5], requiresGrad: true)
        var out: [[Float]] = []
        for g: [Float] in [[0.5, -1, 0], [-0.25, 0.3, 2], [0.1, 0.1, -0.7]] {
            p.grad = g
            try optimizer.update([p])
            out.append(p.data)
        }
        return out
    }

    func expectClose(_ a: [[Float]], _ b: [[Float]], _ what: String) {
        for (x, y) in zip(a.joined(), b.joined()) {
            #expect(abs(x - y) <= Self.tolerance, "\(what): \(a) vs \(b)")
        }
    }

    @Test("Adam, Adam with L2 decay and AdamW over three steps equal torch.optim (lr 0.1, betas 0.9/0.99, decay 0.1)")
    func adamMatchesPyTorch() throws {
        // torch 1.13, float64: torch.optim.Adam([p], lr=0.1, betas=(0.9, 0.99), eps=1e-8[, weight_decay=0.1]) and
        // torch.optim.AdamW(..., weight_decay=0.1), p.grad set to each row in turn before opt.step().
        expectClose(try run(Adam(learningRate: 0.1)),
                    [[0.900000002, -1.900000001, 0.5], [0.87333006, -1.857134066, 0.425754022],
                     [0.841699044, -1.830199006, 0.392592922]], "Adam")
        expectClose(try run(Adam(learningRate: 0.1, weightDecay: 0.1)),
                    [[0.900000002, -1.900000001, 0.40000002], [0.854351677, -1.839936515, 0.324138818],
                     [0.802131481, -1.78905033, 0.28816856]], "Adam + L2")
        expectClose(try run(Adam.adamW(learningRate: 0.1, weightDecay: 0.1)),
                    [[0.890000002, -1.880000001, 0.495], [0.85443006, -1.818334066, 0.415804022],
                     [0.814254743, -1.773215665, 0.378484882]], "AdamW")
    }

    @Test("Adam by hand: the first step moves every weight by lr against its gradient's sign")
    func adamFirstStep() throws {
        // m = 0.1 g, v = 0.01 g²; bias-corrected m / sqrt(v) = sign(g).
        let p = Parameter(key: "p", shape: [2], data: [1, -2], requiresGrad: true)
        p.grad = [0.5, -1]
        try Adam(learningRate: 0.1).update([p])
        #expect(abs(p.data[0] - 0.9) < Self.tolerance && abs(p.data[1] + 1.9) < Self.tolerance)
        let q = Parameter(key: "p", shape: [1], data: [2], requiresGrad: true)
        q.grad = [0]
        try Adam.adamW(learningRate: 0.1, weightDecay: 0.5).update([q])
        #expect(abs(q.data[0] - (2 - 0.1 * 0.5 * 2)) < Self.tolerance)   // zero gradient: only the decay acts
    }

    @Test("optimiser and EMA state export as tensors and import into fresh ones; the next step is identical")
    func stateRoundTrip() throws {
        let names = ["body.0.weight", "body.0.bias"]
        func parameters() -> [Parameter] {
            [Parameter(key: "p", shape: [4], data: [1, 2, 3, 4], requiresGrad: true),
             Parameter(key: "p", shape: [2], data: [-1, 1], requiresGrad: true)]
        }
        let a = parameters(), adam = Adam.adamW(learningRate: 0.01), ema = WeightAverage(a)
        for k in 0..<3 {
            a[0].grad = [0.1, -0.2, 0.3, Float(k)]
            a[1].grad = [0.5, -0.5]
            try adam.update(a)
            ema.update(a)
        }
        let state = adam.state(names: names), emaState = ema.state(names: names)
        #expect(state["exp_avg.body.0.weight"]?.shape == [4] && state["step"]?.floats() == [3])
        let b = parameters()
        for (x, y) in zip(a, b) { y.data = x.data }
        let adam2 = Adam.adamW(learningRate: 0.01), ema2 = WeightAverage(b)
        try adam2.load(state: state, names: names, sizes: [4, 2])
        try ema2.load(state: emaState, names: names)
        #expect(adam2.step == 3 && adam2.m == adam.m && adam2.v == adam.v)
        #expect(ema2.values == ema.values && ema2.updates == 3)
        for p in [a, b] { p[0].grad = [1, 1, 1, 1]; p[1].grad = [1, 1] }
        try adam.update(a)
        try adam2.update(b)
        #expect(a.map(\.data) == b.map(\.data))
        #expect(throws: TrainError.self) { try adam2.load(state: state, names: names, sizes: [4, 3]) }
        #expect(throws: TrainError.self) { try adam2.update([a[0]]) }
    }

    @Test("schedules: cosine equals torch's CosineAnnealingLR (then stays at its minimum), warm-up, multi-step")
    func schedules() {
        // torch.optim.lr_scheduler.CosineAnnealingLR(SGD(lr=1), T_max=10, eta_min=0.1), steps 0...10.
        let torch: [Float] = [1.0, 0.977975432, 0.914057647, 0.814503364, 0.689057647, 0.55, 0.410942353, 0.285496636,
                              0.185942353, 0.122024568, 0.1]
        let cosine = Schedule.cosine(total: 10, warmup: 0, minimum: 0.1)
        for (step, expected) in torch.enumerated() {
            #expect(abs(cosine.rate(base: 1, step: step) - expected) < 1e-6, "step \(step)")
        }
        #expect(abs(cosine.rate(base: 1, step: 25) - 0.1) < 1e-6)
        let warm = Schedule.cosine(total: 100, warmup: 10, minimum: 0)
        #expect(abs(warm.rate(base: 1, step: 0) - 0.1) < 1e-6 && abs(warm.rate(base: 1, step: 4) - 0.5) < 1e-6)
        #expect(abs(warm.rate(base: 1, step: 10) - 1) < 1e-6 && abs(warm.rate(base: 1, step: 55) - 0.5) < 1e-6)
        #expect(warm.rate(base: 1, step: 100) < 1e-6)
        let multi = Schedule.multiStep(milestones: [5, 8], gamma: 0.5)
        #expect(multi.rate(base: 1, step: 4) == 1 && multi.rate(base: 1, step: 5) == 0.5 && multi.rate(base: 1, step: 8) == 0.25)
        #expect(Schedule.constant.rate(base: 0.3, step: 1000) == 0.3)
    }

    @Test("gradient clipping by global norm equals torch.nn.utils.clip_grad_norm_; below the limit nothing changes")
    func clipping() {
        let p = Parameter(key: "p", shape: [2], data: [0, 0], requiresGrad: true)
        let q = Parameter(key: "p", shape: [1], data: [0], requiresGrad: true)
        p.grad = [3, 4]
        q.grad = [12]
        // torch: clip_grad_norm_([p, q], 6.5) returns 13 and leaves [1.49999988, 1.99999985], [5.99999954].
        #expect(GradientClipping.clip([p, q], maxNorm: 6.5) == 13)
        #expect(abs(p.grad![0] - 1.49999988) < 1e-6 && abs(p.grad![1] - 1.99999985) < 1e-6 && abs(q.grad![0] - 5.99999954) < 1e-6)
        #expect(GradientClipping.clip([p, q], maxNorm: 100) > 6.49)
        #expect(abs(q.grad![0] - 5.99999954) < 1e-6)
    }

    @Test("EMA: decay warms up as (1+n)/(10+n), then holds at its setting")
    func ema() {
        let e = Parameter(key: "p", shape: [1], data: [0], requiresGrad: true)
        let average = WeightAverage([e], decay: 0.9)
        e.data = [1]
        average.update([e])                       // d = min(0.9, 1/10) = 0.1: 0.1 * 0 + 0.9 * 1
        #expect(abs(average.values[0][0] - 0.9) < 1e-6)
        for _ in 0..<200 { average.update([e]) }
        #expect(average.currentDecay == 0.9)      // (1 + n) / (10 + n) passes 0.9 at n = 80
        e.data = [0]
        average.update([e])
        #expect(abs(average.values[0][0] - 0.9) < 1e-4)
        #expect(WeightAverage([e]).decay == 0.999)
    }
}
