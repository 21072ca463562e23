import Foundation
public import SRModels

/// The committed list of models Enhance knows (`models/manifest.json`, embedded in the binary).
public struct ModelManifest: Codable, Sendable {
    public var schema: Int
    public var `default`: String
    public var sources: [String: Source]
    public var models: [Entry]

    public struct Source: Codable, Sendable {
        public var package: String
        public var version: String
        public var wheel: String
        public var sha256: String
        public var licence: String
        public var url: String
    }

    public struct File: Codable, Sendable {
        public var path: String
        public var sha256: String
        public var size: Int
    }

    public struct Entry: Codable, Sendable {
        public var id: String
        public var name: String
        public var architecture: String
        public var pipeline: Pipeline
        public var scale: Int
        public var channels: Int
        public var kind: String
        public var description: String
        public var licence: String
        public var upstream: String
        public var paper: String
        public var source: String
        public var files: [String: File]
        public var blobs: Blobs

        public init(id: String, name: String, architecture: String, pipeline: Pipeline, scale: Int, channels: Int,
                    kind: String, description: String, licence: String, upstream: String, paper: String,
                    source: String, files: [String: File], blobs: Blobs) {
            (self.id, self.name, self.architecture, self.pipeline) = (id, name, architecture, pipeline)
            (self.scale, self.channels, self.kind, self.description) = (scale, channels, kind, description)
            (self.licence, self.upstream, self.paper, self.source) = (licence, upstream, paper, source)
            (self.files, self.blobs) = (files, blobs)
        }
    }

    public struct Blobs: Codable, Sendable {
        public var input: String
        public var output: String

        public init(input: String, output: String) {
            self.input = input
            self.output = output
        }
    }

    /// Host-side pre/post-processing family of a model.
    public enum Pipeline: String, Codable, Sendable {
        /// Reflect-pad 10 px, crop the scaled padding off the output (Real-ESRGAN, SRVGGNetCompact, SPAN).
        case realesrgan
        /// Reflect-pad 18/14/19 px plus alignment, output starts at the image origin; x4 adds a nearest residual.
        case realcugan
        /// No padding beyond rounding the size up to the network's alignment (reflected at the bottom and right):
        /// networks loaded from PyTorch / safetensors files, as their reference inference code runs them.
        case plain

        /// The host needs this family names: the manifest's vocabulary for the presets its architectures declare
        /// (`HostNeeds.realESRGAN`, `.realCUGAN(scale:)`; `.plain`: nothing beyond the network's own alignment).
        public func hostNeeds(scale: Int) -> HostNeeds {
            switch self {
            case .realesrgan: .realESRGAN
            case .realcugan: .realCUGAN(scale: scale)
            case .plain: .aligned(1)
            }
        }

        /// The family whose host needs are `host` (`.plain` for any other).
        public init(_ host: HostNeeds, scale: Int) {
            self = [Self.realesrgan, .realcugan].first { $0.hostNeeds(scale: scale) == host } ?? .plain
        }
    }

    /// The manifest compiled into this binary.
    public static let embedded: ModelManifest = {
        do {
            return try JSONDecoder().decode(ModelManifest.self, from: Data(embeddedManifestJSON.utf8))
        } catch {
            fatalError("the embedded model manifest is invalid: \(error)")
        }
    }()

    public func entry(_ id: String) -> Entry? { models.first { $0.id == id } }
}
