import ArgumentParser
import Foundation
import SREngine

struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Show what a model file is: format, architecture, hyper-parameters, scale, size and cost.",
        discussion: """
        Reads PyTorch checkpoints (.pth, .pt; through a restricted unpickler that never runs code from the file), \
        .safetensors files, ncnn .param files (with the .bin beside them) and installed model ids. For weight files \
        the architecture and its hyper-parameters are read from the tensor names and shapes, as `upscale -m FILE` \
        does. MACs are multiply-accumulates per output pixel (per input pixel for discriminators and feature \
        extractors), measured on a 64x64 input.
        """
    )

    @Argument(help: "A .pth, .pt, .safetensors or ncnn .param file, or an installed model id.")
    var file: String

    @Flag(help: "Print JSON instead of text.")
    var json = false

    func run() throws {
        let report = try ModelStore().inspect(file)
        if json {
            let data = try JSONSerialization.data(withJSONObject: report.jsonObject, options: [.prettyPrinted, .sortedKeys])
            print(String(decoding: data, as: UTF8.self))
            return
        }
        for (label, value) in Self.lines(report) {
            print(label.padding(toLength: 14, withPad: " ", startingAt: 0) + value)
        }
    }

    static func lines(_ r: ModelReport) -> [(String, String)] {
        var rows: [(String, String)] = [
            ("File", "\(r.path) (\(megabytes(r.bytes)), \(r.format))"),
            ("Architecture", "\(r.architecture) (\(r.kind))"),
            ("Scale", "x\(r.scale)"),
            ("Channels", "\(r.inChannels) in, \(r.outChannels) out"),
        ]
        if r.alignment > 1 { rows.append(("Input", "sides padded to a multiple of \(r.alignment)")) }
        if let size = r.fixedInputSize { rows.append(("Input", "\(size)x\(size) pixels exactly")) }
        rows.append(("Parameters", grouped(r.parameters)))
        let per = r.kind == "upscaler" ? "output" : "input"
        rows.append(("MACs", "\(grouped(Int(r.macsPerPixel.rounded()))) per \(per) pixel"))
        let types = r.dtypes.keys.sorted().map { "\(r.dtypes[$0]!) \($0)" }.joined(separator: ", ")
        rows.append(("Tensors", "\(r.tensors)" + (types.isEmpty ? "" : " (\(types))")))
        if let json = r.configJSON, let object = try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any] {
            for (i, key) in object.keys.sorted().enumerated() {
                rows.append((i == 0 ? "Config" : "", "\(key): \(compact(object[key]!))"))
            }
        }
        for (i, key) in r.metadata.keys.sorted().filter({ $0 != "config" }).enumerated() {
            rows.append((i == 0 ? "Metadata" : "", "\(key): \(r.metadata[key]!)"))
        }
        return rows
    }

    static func compact(_ value: Any) -> String {
        guard JSONSerialization.isValidJSONObject([value]),
              let data = try? JSONSerialization.data(withJSONObject: [value], options: [.sortedKeys]) else { return "\(value)" }
        return String(String(decoding: data, as: UTF8.self).dropFirst().dropLast())
    }

    static func grouped(_ n: Int) -> String {
        let digits = Array(String(n))
        var out = ""
        for (i, d) in digits.enumerated() {
            if i > 0 && (digits.count - i) % 3 == 0 { out += "," }
            out.append(d)
        }
        return out
    }

    static func megabytes(_ bytes: Int) -> String {
        bytes >= 1_000_000 ? String(format: "%.1f MB", Double(bytes) / 1_000_000) : String(format: "%.1f kB", Double(bytes) / 1000)
    }
}
