import Foundation
import SRCore
import SRWeights
import SRModels

/// What `enhance inspect` reports about a model: a PyTorch / safetensors weight file, an ncnn `.param` or an
/// installed model id.
public struct ModelReport: Sendable {
    public var path: String
    /// `safetensors`, `pytorch`, `pytorch-legacy` or `ncnn`.
    public var format: String
    /// The detected architecture (weight files) or the manifest's (ncnn models; `ncnn graph` for unknown ones).
    public var architecture: String
    /// `upscaler`, `discriminator` or `feature-extractor`.
    public var kind: String
    /// Hyper-parameters as JSON with sorted keys (weight files only).
    public var configJSON: String?
    public var scale: Int
    public var inChannels: Int
    public var outChannels: Int
    /// Input sides are padded to a multiple of this.
    public var alignment: Int
    public var fixedInputSize: Int?
    /// Trainable values (batch-norm statistics excluded).
    public var parameters: Int
    /// Multiply-accumulates per output pixel (upscalers) or per input pixel (other kinds).
    public var macsPerPixel: Double
    /// Tensors stored in the file (ncnn: weight blocks).
    public var tensors: Int
    /// Stored tensors per element type.
    public var dtypes: [String: Int]
    public var metadata: [String: String]
    public var bytes: Int

    /// The report as a JSON object (the configuration as a nested object).
    public var jsonObject: [String: Any] {
        var o: [String: Any] = [
            "path": path, "format": format, "architecture": architecture, "kind": kind, "scale": scale,
            "inChannels": inChannels, "outChannels": outChannels, "alignment": alignment, "parameters": parameters,
            "macsPerPixel": macsPerPixel, "tensors": tensors, "dtypes": dtypes, "metadata": metadata, "bytes": bytes,
        ]
        if let configJSON, let config = try? JSONSerialization.jsonObject(with: Data(configJSON.utf8)) { o["config"] = config }
        if let fixedInputSize { o["fixedInputSize"] = fixedInputSize }
        return o
    }
}

extension ModelStore {
    /// Reads the model named by `idOrPath` (as `-m` accepts it) and reports what it is, without running it.
    public func inspect(_ idOrPath: String) throws(EngineError) -> ModelReport {
        let resolved = try resolve(idOrPath)
        switch resolved.files {
        case .weights(let path): return try Self.inspectWeights(path)
        case .ncnn(let param, let bin): return try inspectNCNN(resolved, param: param, bin: bin)
        }
    }

    static func inspectWeights(_ path: String) throws(EngineError) -> ModelReport {
        let raw: StateDict
        let format: WeightFile.Format
        do {
            raw = try WeightFile.load(path: path)
            let head = FileHandle(forReadingAtPath: path).map { h in defer { try? h.close() }; return h.readData(ofLength: 262) }
            format = try WeightFile.sniff(head ?? Data())
        } catch {
            throw .modelFile(path: path, underlying: .weights(error))
        }
        let detected: DetectedModel
        do { detected = try ArchitectureRegistry.standard.detect(raw, fileName: path) } catch {
            throw .modelFile(path: path, underlying: .architecture(error))
        }
        let macs: Double
        do { macs = try detected.macsPerPixel() } catch { throw .backend("cannot measure \(path): \(error)") }
        var dtypes: [String: Int] = [:]
        for entry in raw.entries { dtypes[entry.tensor.dtype.rawValue, default: 0] += 1 }
        let f = detected.facts
        return ModelReport(path: path, format: format.rawValue, architecture: detected.architecture, kind: f.kind.rawValue,
                           configJSON: detected.configJSON, scale: f.scale, inChannels: f.inChannels,
                           outChannels: f.outChannels, alignment: f.alignment, fixedInputSize: f.fixedInputSize,
                           parameters: detected.parameterCount, macsPerPixel: macs, tensors: raw.count, dtypes: dtypes,
                           metadata: raw.metadata, bytes: Self.fileSize(path))
    }

    private func inspectNCNN(_ resolved: Resolved, param: String, bin: String) throws(EngineError) -> ModelReport {
        let model: NCNNModel
        do { model = try NCNNModel.load(param: param, bin: bin, output: resolved.entry?.blobs.output) } catch {
            throw .modelFile(path: param, underlying: .ncnn(error))
        }
        let side = 64
        let graph = model.graph
        let shapes = try? graph.inferShapes(inputs: [Shape(c: 3, h: side, w: side)])
        let out = shapes.flatMap { s in graph.outputs.first.map { s[$0] } }
        let scale = resolved.entry?.scale ?? out.map { $0.h / side } ?? 1
        let macs = (try? graph.multiplyAccumulates(inputs: [Shape(c: 3, h: side, w: side)])) ?? 0
        var parameters = 0, tensors = 0
        for sizes in graph.nodes.map(\.op.parameterSizes) {
            parameters += sizes.reduce(0, +)
            tensors += sizes.filter { $0 > 0 }.count
        }
        return ModelReport(path: param, format: "ncnn", architecture: resolved.entry?.architecture ?? "ncnn graph",
                           kind: ModelKind.upscaler.rawValue, configJSON: nil, scale: scale, inChannels: 3,
                           outChannels: out?.c ?? 3, alignment: 1, fixedInputSize: nil, parameters: parameters,
                           macsPerPixel: Double(macs) / Double(side * scale * side * scale), tensors: tensors,
                           dtypes: [:], metadata: [:], bytes: Self.fileSize(param) + Self.fileSize(bin))
    }

    static func fileSize(_ path: String) -> Int {
        ModelStore.fileSize(path) ?? 0
    }

    /// Element types `convert` can store floating-point tensors as.
    public enum StorageType: String, Sendable, CaseIterable {
        case f32, f16, bf16

        var dtype: WeightDType {
            switch self {
            case .f32: .f32
            case .f16: .f16
            case .bf16: .bf16
            }
        }
    }

    /// Converts a PyTorch / safetensors weight file, or an ncnn model of a mapped architecture (RRDBNet,
    /// SRVGGNetCompact, SPAN), to a safetensors file Enhance (and the safetensors library) reads: the network's
    /// tensors under their canonical PyTorch names, optionally stored as `storage`, with metadata naming the
    /// architecture, its configuration, the scale, the source file and the converter.
    ///
    /// An ncnn source is mapped by the order and shapes of its weights (see `ArchitectureRegistry.ncnnWeights`) and
    /// the mapping is accepted only when the rebuilt network gives the ncnn graph's output on a test input, run on
    /// the first of `backends` that supports it.
    /// - Throws: `EngineError.invalidOption` when `output` is the input or not `.safetensors`; `.modelFile` when the
    ///   input cannot be read or recognised (an ncnn graph no architecture reproduces names why) or the output
    ///   cannot be written.
    @discardableResult
    public func convert(_ idOrPath: String, to output: String, storage: StorageType? = nil,
                        backends: [any Backend]) throws(EngineError) -> ModelReport {
        let resolved = try resolve(idOrPath)
        guard (output as NSString).pathExtension.lowercased() == "safetensors" else {
            throw .invalidOption("the output must be a .safetensors file, got '\(output)'")
        }
        let canonical = { (p: String) in URL(fileURLWithPath: p).standardizedFileURL.resolvingSymlinksInPath().path }
        let inputs: [String]
        switch resolved.files {
        case .weights(let path): inputs = [path]
        case .ncnn(let param, let bin): inputs = [param, bin]
        }
        for input in inputs where canonical(input) == canonical(output) {
            throw .invalidOption("refusing to overwrite the input '\(input)'; choose another output file")
        }
        let detected: DetectedModel
        switch resolved.files {
        case .weights(let path):
            do { detected = try ArchitectureRegistry.standard.load(path: path) } catch {
                throw .modelFile(path: path, underlying: ModelFileError(error))
            }
        case .ncnn(let param, let bin):
            detected = try Self.mapNCNN(param: param, bin: bin, output: resolved.entry?.blobs.output, backends: backends)
        }
        var metadata = detected.conversionMetadata(source: (resolved.path as NSString).lastPathComponent,
                                                   convertedBy: "enhance convert")
        if let entry = resolved.entry { metadata["licence"] = entry.licence }
        do { try Safetensors.write(detected.weights, metadata: metadata, to: output, dtype: storage?.dtype) } catch {
            throw .modelFile(path: output, underlying: .weights(error))
        }
        return try Self.inspectWeights(output)
    }

    /// Side of the random test image an ncnn mapping is checked on (at least each candidate's minimum input, a
    /// multiple of every candidate's alignment).
    static let ncnnCheckSide = 24
    /// Largest absolute difference (on a 0...1 image scale) between the ncnn graph and the rebuilt network that
    /// counts as the same network: float reassociation stays far below it (1e-5 measured), a wrong mapping far above.
    static let ncnnCheckTolerance: Float = 1e-3

    /// The architecture, configuration and PyTorch-named weights of the ncnn model `param` + `bin`: the first
    /// candidate whose network reproduces the ncnn graph's output on a random image.
    static func mapNCNN(param: String, bin: String, output: String?,
                        backends: [any Backend]) throws(EngineError) -> DetectedModel {
        let model: NCNNModel
        do { model = try NCNNModel.load(param: param, bin: bin, output: output) } catch {
            throw .modelFile(path: param, underlying: .ncnn(error))
        }
        let weights: [NCNNWeight]
        do { weights = try ArchitectureRegistry.ncnnWeights(of: model.graph) } catch {
            throw .modelFile(path: param, underlying: .architecture(error))
        }
        let candidates = ArchitectureRegistry.ncnnCandidates(weights)
        let kernels = weights.filter { $0.tensor.dims.count == 4 }.count
        guard !candidates.isEmpty else {
            throw .modelFile(path: param, underlying: .architecture(.unsupported(
                architecture: "ncnn graph",
                detail: "its \(weights.count) weight tensors (\(kernels) convolutions, first \(weights.first?.tensor.dims ?? []), last \(weights.last?.tensor.dims ?? [])) match no configuration of \(ArchitectureRegistry.ncnnMappable.map { $0.name }.joined(separator: ", "))")))
        }
        var generator = SeededGenerator(seed: 7)
        let alignment = candidates.reduce(1) { lcm($0, $1.facts.alignment) }
        let least = candidates.map(\.facts.minimumInputSide).reduce(ncnnCheckSide, max)
        let side = (least + alignment - 1) / alignment * alignment
        let backend = try Engine.backend(from: backends, for: model.graph, model: param)
        let reference: Tensor
        let input: Tensor
        do {
            input = testImage(side: side, using: &generator)
            reference = try backend.compile(model.graph, inputShape: input.shape).run(input)
        } catch {
            throw .backend("cannot run \(param) on a \(side)x\(side) test image: \(error)")
        }
        var tried: [String] = []
        for candidate in candidates {
            let name = "\(candidate.architecture) \(candidate.configJSON)"
            guard candidate.facts.inChannels == 3, side % candidate.facts.alignment == 0,
                  let graph = try? candidate.imageGraph(),
                  let out = try? backend.compile(graph, inputShape: input.shape).run(input) else {
                tried.append("\(name) (does not run on an RGB image)")
                continue
            }
            guard out.dims == reference.dims else {
                tried.append("\(name) gives a \(out.shape.w)x\(out.shape.h) output where the ncnn graph gives \(reference.shape.w)x\(reference.shape.h) for a \(side)x\(side) input: the graph has layers the architecture lacks (a final resize, as in realesr-animevideov3-x2/x3, which run the x4 network and downscale)")
                continue
            }
            var worst: Float = 0
            for (a, b) in zip(out.data, reference.data) { worst = max(worst, abs(a - b)) }
            if worst <= ncnnCheckTolerance { return candidate }
            tried.append("\(candidate.architecture) \(candidate.configJSON) (differs by up to \(worst))")
        }
        throw .modelFile(path: param, underlying: .architecture(.unsupported(
            architecture: "ncnn graph",
            detail: "its weights fit these configurations by shape, but none reproduces the ncnn output (tolerance \(ncnnCheckTolerance)): \(tried.joined(separator: "; "))")))
    }

    private static func lcm(_ a: Int, _ b: Int) -> Int {
        func gcd(_ a: Int, _ b: Int) -> Int { b == 0 ? a : gcd(b, a % b) }
        return a / gcd(a, b) * b
    }

    /// A photo-like RGB test image: smooth random waves plus mild noise, in 0...1. (Uniform noise is a poor probe:
    /// networks that scale their input by 255, as SPAN does, amplify float rounding on it to ~1e-2.)
    static func testImage(side: Int, using g: inout SeededGenerator) -> Tensor {
        var data = [Float](repeating: 0, count: 3 * side * side)
        for c in 0..<3 {
            let fx = Float.random(in: 0.1...0.5, using: &g), fy = Float.random(in: 0.1...0.5, using: &g)
            let phase = Float.random(in: 0...6, using: &g)
            for y in 0..<side { for x in 0..<side {
                let wave = 0.5 + 0.35 * sin(fx * Float(x) + fy * Float(y) + phase)
                data[(c * side + y) * side + x] = min(1, max(0, wave + Float.random(in: -0.05...0.05, using: &g)))
            } }
        }
        return Tensor(dims: [1, 3, side, side], data: data)
    }
}
