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
            let rows = manifest.models.map {
                Row(id: $0.id, name: $0.name, architecture: $0.architecture, licence: $0.licence, kind: $0.kind,
                    scale: $0.scale, bytes: $0.files.values.reduce(0) { $0 + $1.size },
                    installed: store.isInstalled($0.id), isDefault: $0.id == manifest.default)
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
        let widths = (0..<header.count).map { c in rows.map { $0[c].count }.max()! }
        for row in rows {
            print(row.enumerated().map { $0.element.padding(toLength: widths[$0.offset], withPad: " ", startingAt: 0) }
                .joined(separator: "  ").trimmingCharacters(in: .whitespaces))
        }
        print("\nModel directory: \(store.directory)")
        print("Install models with: python3 scripts/fetch_models.py ID... (or --all)")
    }
}
