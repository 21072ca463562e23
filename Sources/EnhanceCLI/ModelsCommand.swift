import ArgumentParser
import Foundation
import SREngine

struct ModelsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "models",
        abstract: "List the models Enhance knows, installed or not."
    )

    @Flag(help: "Print JSON instead of a table.")
    var json = false

    func run() throws {
        let store = ModelStore()
        let manifest = store.manifest
        if json {
            struct Row: Encodable {
                var id, name, architecture, licence, kind: String
                var scale, bytes: Int
                var installed, isDefault: Bool
            }
            var rows = manifest.models.map {
                Row(id: $0.id, name: $0.name, architecture: $0.architecture, licence: $0.licence, kind: $0.kind,
                    scale: $0.scale, bytes: $0.files.values.reduce(0) { $0 + $1.size },
                    installed: store.isInstalled($0.id), isDefault: $0.id == manifest.default)
            }
            for local in store.localWeightModels() {
                guard let report = try? store.inspect(local.path) else { continue }
                rows.append(Row(id: local.id, name: local.id, architecture: report.architecture,
                                licence: report.metadata["licence"] ?? "", kind: "local", scale: report.scale,
                                bytes: report.bytes, installed: true, isDefault: false))
            }
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try encoder.encode(rows), as: UTF8.self))
            return
        }
        let header = ["MODEL", "SCALE", "ARCHITECTURE", "SIZE", "LICENCE", "INSTALLED"]
        var rows = [header]
        for m in manifest.models {
            let bytes = m.files.values.reduce(0) { $0 + $1.size }
            rows.append([m.id + (m.id == manifest.default ? " (default)" : ""), "x\(m.scale)", m.architecture,
                         String(format: "%.1f MB", Double(bytes) / 1_000_000), m.licence,
                         store.isInstalled(m.id) ? "yes" : "no"])
        }
        for local in store.localWeightModels() {
            // A file that cannot be read still shows, with the reason, so a broken install is visible.
            switch Result(catching: { () throws(EngineError) in try store.inspect(local.path) }) {
            case .success(let report):
                rows.append([local.id, "x\(report.scale)", report.architecture,
                             String(format: "%.1f MB", Double(report.bytes) / 1_000_000),
                             report.metadata["licence"] ?? "-", "yes (local file)"])
            case .failure(let error):
                rows.append([local.id, "?", "unreadable: \(error)", "-", "-", "no"])
            }
        }
        let widths = (0..<header.count).map { c in rows.map { $0[c].count }.max()! }
        for row in rows {
            print(row.enumerated().map { $0.element.padding(toLength: widths[$0.offset], withPad: " ", startingAt: 0) }
                .joined(separator: "  ").trimmingCharacters(in: .whitespaces))
        }
        print("\nModel directory: \(store.directory)")
        print("Install models with: python3 scripts/fetch_models.py ID... (or --all)")
    }
}
