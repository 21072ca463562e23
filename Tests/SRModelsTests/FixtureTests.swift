import Foundation
import Testing
import SRCore
import SRWeights
import SRBackendReference
import SRBackendDNNL
@testable import SRModels

/// The files written by scripts/make_arch_fixtures.py.
enum ArchFixtures {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

    static func path(_ name: String) -> String { directory.appendingPathComponent(name).path }

    struct Fixture: Sendable, CustomStringConvertible {
        var name: String
        var file: String
        var architecture: String
        /// The expected configuration as JSON (the Swift `Config` fields).
        var config: Data
        var input: [Int]
        var output: [Int]
        var description: String { name }
    }

    static let all: [Fixture] = {
        guard let data = try? Data(contentsOf: directory.appendingPathComponent("fixtures.json")),
              let root = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let list = root["fixtures"] as? [[String: Any]] else { return [] }
        return list.compactMap { f in
            guard let name = f["name"] as? String, let file = f["file"] as? String,
                  let arch = f["architecture"] as? String, let config = f["config"],
                  let configData = try? JSONSerialization.data(withJSONObject: config),
                  let input = f["input"] as? [Int], let output = f["output"] as? [Int] else { return nil }
            return Fixture(name: name, file: file, architecture: arch, config: configData, input: input, output: output)
        }
    }()

    /// Element `i` of the flat NCHW input is `((i * 7919) % 1009) / 1008`, exact in float32.
    static func input(_ dims: [Int]) -> Tensor {
        let n = dims.reduce(1, *)
        return Tensor(dims: dims, data: (0..<n).map { Float((($0 * 7919) % 1009)) / 1008 })
    }

    static func expectedOutput(_ f: Fixture) throws -> Tensor {
        let data = try Data(contentsOf: directory.appendingPathComponent(f.name + ".out.f32"))
        let values = data.withUnsafeBytes { raw in
            (0..<(data.count / 4)).map { Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self))) }
        }
        return Tensor(dims: f.output, data: values)
    }
}

/// PyTorch fp32 vs Enhance fp32: the same arithmetic in a different order.
let goldenTolerance: Float = 1e-4

/// Whether `detected` has the configuration `json` describes, decoded as `A.Config`.
func hasConfig<A: Architecture>(_: A.Type, _ detected: DetectedModel, _ json: Data) throws -> Bool {
    let expected = try JSONDecoder().decode(A.Config.self, from: json)
    return detected.config(as: A.self) == expected
}

func configMatches(_ detected: DetectedModel, _ f: ArchFixtures.Fixture) throws -> Bool {
    switch f.architecture {
    case RRDBNet.name: try hasConfig(RRDBNet.self, detected, f.config)
    case SRVGGNetCompact.name: try hasConfig(SRVGGNetCompact.self, detected, f.config)
    case MSRResNet.name: try hasConfig(MSRResNet.self, detected, f.config)
    case SRResNet.name: try hasConfig(SRResNet.self, detected, f.config)
    case EDSR.name: try hasConfig(EDSR.self, detected, f.config)
    case ESPCN.name: try hasConfig(ESPCN.self, detected, f.config)
    case FSRCNN.name: try hasConfig(FSRCNN.self, detected, f.config)
    case SPAN.name: try hasConfig(SPAN.self, detected, f.config)
    case RealCUGAN.name: try hasConfig(RealCUGAN.self, detected, f.config)
    case VGGStyleDiscriminator.name: try hasConfig(VGGStyleDiscriminator.self, detected, f.config)
    case VGGFeatures.name: try hasConfig(VGGFeatures.self, detected, f.config)
    default: false
    }
}

func maxAbsDiff(_ a: Tensor, _ b: Tensor) -> Float {
    zip(a.data, b.data).reduce(0) { max($0, abs($1.0 - $1.1)) }
}

@Suite("PyTorch goldens")
struct FixtureTests {
    @Test("the generator's fixtures are present")
    func present() {
        #expect(ArchFixtures.all.count >= 17, "run /usr/bin/python3 scripts/make_arch_fixtures.py")
    }

    @Test("each fixture loads, is detected with its configuration and matches PyTorch on both backends",
          arguments: ArchFixtures.all)
    func golden(_ f: ArchFixtures.Fixture) throws {
        let detected = try ArchitectureRegistry.standard.load(path: ArchFixtures.path(f.file))
        #expect(detected.architecture == f.architecture)
        #expect(try configMatches(detected, f), "detected \(detected.configJSON)")
        let graph = try detected.build()
        let x = ArchFixtures.input(f.input)
        let expected = try ArchFixtures.expectedOutput(f)
        for backend in [ReferenceBackend(), DNNLBackend()] as [any Backend] {
            let y = try backend.compile(graph, inputShape: x.shape).run(x)
            #expect(y.dims == expected.dims, "\(backend.name)")
            let diff = maxAbsDiff(y, expected)
            print("golden \(f.name) \(backend.name): max |diff| = \(diff)")
            #expect(diff <= goldenTolerance, "\(f.name) on \(backend.name): max |diff| \(diff)")
        }
    }

    @Test("every .pth fixture, its raw tensors re-saved as safetensors, loads as the same model and matches PyTorch",
          arguments: ArchFixtures.all.filter { $0.file.hasSuffix(".pth") })
    func pthAsSafetensors(_ f: ArchFixtures.Fixture) throws {
        // The checkpoint's own tensors under their own names (wrappers and old naming included): what a user gets
        // from a safetensors export of the same weights, not Enhance's canonical form.
        let raw = try WeightFile.load(path: ArchFixtures.path(f.file))
        let stem = (f.file as NSString).deletingPathExtension
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("enhance-\(UUID().uuidString)-\(stem).safetensors").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try Safetensors.write(raw, to: path)
        let detected = try ArchitectureRegistry.standard.load(path: path)
        #expect(detected.architecture == f.architecture)
        #expect(try configMatches(detected, f), "detected \(detected.configJSON)")
        let x = ArchFixtures.input(f.input)
        let y = try DNNLBackend().compile(try detected.build(), inputShape: x.shape).run(x)
        let diff = maxAbsDiff(y, try ArchFixtures.expectedOutput(f))
        #expect(diff <= goldenTolerance, "\(f.name) as safetensors: max |diff| \(diff)")
    }

    @Test("the old ESRGAN naming gives the BasicSR keys and the same graph")
    func oldNaming() throws {
        let old = try ArchitectureRegistry.standard.load(path: ArchFixtures.path("esrgan_old_x4.pth"))
        let new = try ArchitectureRegistry.standard.load(path: ArchFixtures.path("rrdbnet_x4.pth"))
        #expect(old.weights.names == new.weights.names)
        #expect(old.configJSON == new.configJSON)
    }

    @Test("FSRCNN takes its scale from metadata, else from the file name, else assumes x3")
    func fsrcnnScale() throws {
        var weights = try WeightFile.load(path: ArchFixtures.path("fsrcnn_x2.pth"))
        #expect(try ArchitectureRegistry.standard.detect(weights).facts.scale == FSRCNN.defaultScale)
        weights.metadata["scale"] = "4"
        #expect(try ArchitectureRegistry.standard.detect(weights).facts.scale == 4)
        #expect(ArchitectureRegistry.scaleHint(fileName: "/a/fsrcnn_x2.pth") == 2)
        #expect(ArchitectureRegistry.scaleHint(fileName: "4x-UltraSharp.pth") == 4)
        #expect(ArchitectureRegistry.scaleHint(fileName: "RealESRGAN_x4plus.pth") == 4)
        #expect(ArchitectureRegistry.scaleHint(fileName: "model_x16.pth") == nil)
        #expect(ArchitectureRegistry.scaleHint(fileName: "net_g_latest.pth") == nil)
    }

    @Test("inspect figures: parameters, MACs per output pixel, facts")
    func figures() throws {
        let d = try ArchitectureRegistry.standard.load(path: ArchFixtures.path("rrdbnet_x2.safetensors"))
        #expect(d.facts == ModelFacts(scale: 2, inChannels: 3, outChannels: 3, alignment: 2))
        let spec = RRDBNet.stateDictSpec(d.config(as: RRDBNet.self)!)
        #expect(d.parameterCount == spec.reduce(0) { $0 + $1.shape.reduce(1, *) })
        #expect(try d.macsPerPixel() > 0)
        let disc = try ArchitectureRegistry.standard.load(path: ArchFixtures.path("vgg_discriminator.pth"))
        #expect(disc.facts.kind == .discriminator && disc.facts.fixedInputSize == 128)
        // Batch-norm statistics are buffers, not parameters.
        #expect(disc.parameterCount < disc.weights.reduce(0) { $0 + $1.tensor.count })
        #expect(throws: ModelsError.self) { try disc.imageGraph() }
    }
}
