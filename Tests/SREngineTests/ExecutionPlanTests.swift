import Foundation
import Synchronization
import Testing
import SRBackendDNNL
import SRBackendReference
import SRCore
import SRImageIO
import SRModels
import SRTestSupport
@testable import SREngine

/// A backend that runs graphs on another one, declines the op kinds it is told to, prefers the windows it is told
/// to, and records what the engine asks of it.
final class ProbeBackend: Backend {
    let base: any Backend
    let name: String
    let declined: Set<String>
    let preferred: @Sendable (Int, Int) -> Bool
    /// The compile limits of every compile, in order.
    let compiles = Mutex<[CompileLimits]>([])
    let shares = Mutex(0)

    init(_ name: String = "probe", on base: any Backend = ReferenceBackend(), declining: Set<String> = [],
         preferring: @escaping @Sendable (Int, Int) -> Bool = { _, _ in true }) {
        self.name = name
        self.base = base
        self.declined = declining
        self.preferred = preferring
    }

    func supports(_ op: Op) -> Bool { !declined.contains(op.kind) && base.supports(op) }

    func compile(_ graph: Graph, inputShapes: [Shape]) throws -> any Executable {
        try base.compile(graph, inputShapes: inputShapes)
    }

    func compile(_ graph: Graph, inputShapes: [Shape], limits: CompileLimits) throws -> any Executable {
        compiles.withLock { $0.append(limits) }
        return try base.compile(graph, inputShapes: inputShapes, limits: limits)
    }

    func prefersWindow(height: Int, width: Int) -> Bool { preferred(height, width) }

    func sharingWeights() -> any Backend {
        shares.withLock { $0 += 1 }
        return self
    }
}

@Suite("Backends and the execution plan")
struct ExecutionPlanTests {
    static func fixture(_ name: String) -> String { TestPaths.architectureFixtures.appendingPathComponent(name).path }

    func image(width: Int, height: Int) -> Image {
        var px = [Float]()
        for c in 0..<3 { for y in 0..<height { for x in 0..<width { px.append(Float((x * 5 + y * 9 + c * 70) % 256) / 255) } } }
        return Image(width: width, height: height, channels: 3, pixels: px)
    }

    func engine(_ backends: [any Backend], modelMemory: Int? = nil) throws -> Engine {
        Engine(store: ModelStore(directory: try temporaryDirectory()), backends: backends, modelMemory: modelMemory)
    }

    @Test("a model runs on the first backend that supports every op of its graph")
    func firstSupportingBackend() throws {
        // rrdbnet_x2 starts with a pixel unshuffle: a backend that declines it is passed over for the next one.
        let picky = ProbeBackend("picky", declining: ["pixelUnshuffle"])
        let fallback = ProbeBackend("fallback")
        let engine = try engine([picky, fallback])
        let model = try engine.model(Self.fixture("rrdbnet_x2.safetensors"))
        #expect(model.backend.name == "fallback")
        #expect(fallback.shares.withLock { $0 } == 1 && picky.shares.withLock { $0 } == 0)
        let out = try engine.upscale(image(width: 12, height: 10), with: model)
        #expect(out.width == 24 && out.height == 20)
        #expect(picky.compiles.withLock { $0.isEmpty } && !fallback.compiles.withLock { $0.isEmpty })
        // The same model on a list whose first backend runs it all.
        let dnnl = try self.engine([DNNLBackend(), ReferenceBackend()]).model(Self.fixture("rrdbnet_x2.safetensors"))
        #expect(dnnl.backend.name == "onednn")
    }

    @Test("no backend supports a model: the error names each backend, the node and the op")
    func noBackend() throws {
        let engine = try engine([ProbeBackend("first", declining: ["pixelUnshuffle"]),
                                 ProbeBackend("second", declining: ["conv2d"])])
        do {
            _ = try engine.model(Self.fixture("rrdbnet_x2.safetensors"))
            Issue.record("the model loaded without a backend that runs it")
        } catch {
            let text = error.description
            #expect(text.contains("backend 'first' cannot run node '") && text.contains("(pixelUnshuffle)"), "\(text)")
            #expect(text.contains("backend 'second' cannot run node '") && text.contains("(conv2d)"), "\(text)")
        }
    }

    @Test("every memory cap derives from the one budget (the defaults are the old constants at 1 GiB)")
    func budgets() {
        let standard = ExecutionPlan.Budgets(memory: 1 << 30)
        #expect(standard == .standard)
        #expect(standard.bandBytes == 96 << 20 && LoadedModel.bandBytes == 96 << 20)
        #expect(standard.executableCacheBytes == 1 << 30)
        #expect(standard.scratchpadBytes == DNNLBackend.winogradScratchpadLimit)
        let small = ExecutionPlan.Budgets(memory: 512 << 20)
        #expect(small.bandBytes == 96 << 20 && small.executableCacheBytes == 512 << 20 && small.scratchpadBytes == 256 << 20)
        let large = ExecutionPlan.Budgets(memory: 4 << 30)
        #expect(large.bandBytes == 384 << 20 && large.executableCacheBytes == 4 << 30 && large.scratchpadBytes == 2 << 30)
        #expect(small.compileLimits == CompileLimits(scratchpadBytes: 256 << 20))
    }

    @Test("the plan's compile limits reach the backend")
    func limitsReachTheBackend() throws {
        let probe = ProbeBackend()
        let engine = try engine([probe])
        let model = try engine.model(Self.fixture("srvgg_x4.pth"))
        _ = try engine.upscale(image(width: 20, height: 16), with: model, options: UpscaleOptions(maxMemory: 64 << 20))
        #expect(probe.compiles.withLock { $0 }.contains(CompileLimits(scratchpadBytes: 32 << 20)))
        _ = try engine.upscale(image(width: 20, height: 16), with: model)
        #expect(probe.compiles.withLock { $0 }.last == CompileLimits(scratchpadBytes: 512 << 20))
    }

    @Test("architectures declare their host needs; the manifest's families name the same presets")
    func hostNeeds() throws {
        let engine = try engine([ReferenceBackend()])
        #expect(try engine.model(Self.fixture("srvgg_x4.pth")).host == .realESRGAN)
        #expect(try engine.model(Self.fixture("span_x2.pth")).host == .realESRGAN)
        #expect(try engine.model(Self.fixture("rrdbnet_x2.safetensors")).host == .aligned(2))
        #expect(try engine.model(Self.fixture("edsr_x3.safetensors")).host == .aligned(1))
        for scale in 2...4 {
            #expect(RealCUGAN.facts(.init(features: 4, scale: scale)).host == .realCUGAN(scale: scale))
            for family in [ModelManifest.Pipeline.realesrgan, .realcugan, .plain] {
                #expect(ModelManifest.Pipeline(family.hostNeeds(scale: scale), scale: scale) == family)
            }
        }
        #expect(HostNeeds.realCUGAN(scale: 4).nearestResidual && !HostNeeds.realCUGAN(scale: 2).nearestResidual)
    }

    @Test("the padding follows the declared needs and the backend's window preference, whatever the architecture")
    func paddingFromNeeds() throws {
        // A made-up family: 3 px reflected, sides rounded to 8, output at the scaled padding, 12 px of slack.
        let needs = HostNeeds(padding: 3, sizeMultiple: 8, outputOrigin: .scaledPadding, backendSlack: 12)
        let p = Pipelines.plan(needs, scale: 2, height: 21, width: 30)
        #expect([p.top, p.left, p.bottom, p.right, p.originY, p.originX] as [Int] == [3, 3, 6, 5, 6, 6])
        // A backend that wants sides divisible by 4: 43x44 pads to 63x64, one more row makes 64x64.
        let probe = ProbeBackend(preferring: { h, w in h % 4 == 0 && w % 4 == 0 })
        let engine = try engine([probe])
        let model = try engine.model(Self.fixture("srvgg_x4.pth"))
        let plan = try engine.plan(for: model, height: 43, width: 44, options: UpscaleOptions())
        let pad = plan.padding(height: 43, width: 44)
        #expect([pad.top, pad.left, pad.bottom, pad.right] as [Int] == [10, 10, 11, 10])
        #expect(plan.tile == nil && !plan.sharesStatistics)
        let out = try engine.upscale(image(width: 44, height: 43), with: model)
        #expect(out.width == 176 && out.height == 172)
    }

    @Test("before a run, other models leave when they, the model and the run's budget exceed the model memory")
    func roomForTheRun() throws {
        let a = Self.fixture("srvgg_x4.pth"), b = Self.fixture("span_x2.pth")
        let engine = try engine([DNNLBackend(), ReferenceBackend()], modelMemory: 256 << 20)
        _ = try engine.model(a)
        let second = try engine.model(b)
        #expect(engine.loadedModels == [a, b])
        // A run that may use 16 MiB fits beside both small models.
        _ = try engine.upscale(image(width: 20, height: 16), with: second, options: UpscaleOptions(maxMemory: 16 << 20))
        #expect(engine.loadedModels == [a, b])
        // One that may use the whole budget does not: the other model leaves, the one running stays.
        _ = try engine.upscale(image(width: 20, height: 16), with: second, options: UpscaleOptions(maxMemory: 256 << 20))
        #expect(engine.loadedModels == [b])
        // Without a model memory nothing leaves.
        let unlimited = try self.engine([DNNLBackend(), ReferenceBackend()])
        _ = try unlimited.model(a)
        _ = try unlimited.upscale(image(width: 20, height: 16), with: try unlimited.model(b))
        #expect(unlimited.loadedModels == [a, b])
    }

    @Test("tiles share statistics only where the host needs declare them and tiling happens",
          arguments: [("realcugan-se-x2-conservative", true), ("realesr-animevideov3-x4", false)])
    func sharedStatistics(id: String, shares: Bool) throws {
        let engine = Engine()
        guard engine.store.isInstalled(id) else { throw ModelsMissing(ids: [id], directory: engine.store.directory) }
        let model = try engine.model(id)
        #expect(try engine.plan(for: model, height: 200, width: 200, options: UpscaleOptions(tileSize: 64)).sharesStatistics == shares)
        #expect(try !engine.plan(for: model, height: 200, width: 200, options: UpscaleOptions()).sharesStatistics)
        var unshared = UpscaleOptions(tileSize: 64)
        unshared.shareStatistics = false
        #expect(try !engine.plan(for: model, height: 200, width: 200, options: unshared).sharesStatistics)
    }
}
