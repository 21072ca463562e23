import Foundation
import Hummingbird
import SREngine
import SRImageIO

/// The validated parameters of one upscale request.
struct UpscaleParameters: Sendable {
    var model: String
    /// The manifest entry of `model` (looked up once, while validating).
    var entry: ModelManifest.Entry
    var outputSize: OutputSize
    var format: ImageIO.Format
    var encode: ImageIO.EncodeOptions
    var tile: Int?
    var tta: Bool
    var alpha: AlphaMode

    static let names: Set<String> = ["model", "scale", "format", "quality", "lossless", "compression", "tile", "tta",
                                      "alpha", "background", "copy_metadata", "to_srgb"]

    /// Parses the options of a request (query parameters merged with form fields by the caller).
    init(_ values: [String: String], catalog: ModelCatalog) throws(APIError) {
        let defaultModel = catalog.defaultID
        if let unknown = values.keys.filter({ !Self.names.contains($0) }).sorted().first {
            throw .invalidOption("unknown option '\(unknown)'; options are \(Self.names.sorted().joined(separator: ", "))")
        }
        func bool(_ name: String) throws(APIError) -> Bool {
            guard let text = values[name] else { return false }
            guard let b = OptionText.bool(text) else { throw .invalidOption("\(name) must be true or false, got '\(text)'") }
            return b
        }
        func int(_ name: String, _ range: ClosedRange<Int>) throws(APIError) -> Int? {
            guard let text = values[name] else { return nil }
            guard let v = Int(text.trimmingCharacters(in: .whitespaces)), range.contains(v) else {
                throw .invalidOption("\(name) must be a whole number in \(range.lowerBound)...\(range.upperBound), got '\(text)'")
            }
            return v
        }
        model = values["model"].map { $0.trimmingCharacters(in: .whitespaces) } ?? defaultModel
        if model.isEmpty { model = defaultModel }
        guard let entry = catalog.entry(model) else {
            throw .invalidOption("unknown model '\(model)'; models: \(catalog.entries.map(\.id).joined(separator: ", ")) (GET /v1/models)")
        }
        self.entry = entry
        if let scale = values["scale"], !scale.trimmingCharacters(in: .whitespaces).isEmpty {
            do { outputSize = try OutputSize(parsing: scale) } catch { throw .invalidOption("scale: \(error.description)") }
        } else {
            outputSize = .native
        }
        let formatName = (values["format"] ?? "png").trimmingCharacters(in: .whitespaces).lowercased()
        guard let format = ImageIO.Format(path: "x." + formatName), !formatName.contains(".") else {
            throw .invalidOption("format must be one of png, jpeg, webp, tiff, avif, heic; got '\(formatName)'")
        }
        guard format.isAvailable else {
            throw .invalidOption("format \(format.name) is not available in this server's libvips")
        }
        self.format = format
        var background: (r: Float, g: Float, b: Float)?
        if let text = values["background"], !text.isEmpty {
            guard let c = OptionText.colour(text) else {
                throw .invalidOption("background must be \(OptionText.colourForms); got '\(text)'")
            }
            background = c
        }
        encode = ImageIO.EncodeOptions(quality: try int("quality", 1...100), lossless: try bool("lossless"),
                                       compression: try int("compression", 0...9), copyMetadata: try bool("copy_metadata"),
                                       convertToSRGB: try bool("to_srgb"), background: background)
        tile = try int("tile", 0...100_000)
        if let t = tile, t != 0 && t < 16 { throw .invalidOption("tile must be 0 (whole image) or at least 16, got \(t)") }
        tta = try bool("tta")
        if let a = values["alpha"], !a.isEmpty {
            guard let mode = AlphaMode(rawValue: a.lowercased()) else {
                throw .invalidOption("alpha must be resample or model, got '\(a)'")
            }
            alpha = mode
        } else {
            alpha = .resample
        }
    }

    var contentType: String {
        switch format {
        case .png: "image/png"
        case .jpeg: "image/jpeg"
        case .webp: "image/webp"
        case .tiff: "image/tiff"
        case .avif: "image/avif"
        case .heic: "image/heic"
        }
    }
}

/// What a finished upscale reports back to the route.
struct UpscaleResult: Sendable {
    var path: String
    var input: (width: Int, height: Int)
    var native: (width: Int, height: Int)
    var output: (width: Int, height: Int)
    var queueWait: Duration
    var inference: Duration
}
