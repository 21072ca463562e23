import Foundation
import HTTPTypes

/// The `X-Enhance-*` headers of an upscale's answer (also exposed to browsers with CORS).
enum UpscaleHeaders {
    static let exposed: [HTTPField.Name] = [
        .xRequestID, .init("X-Enhance-Model")!, .init("X-Enhance-Input-Size")!, .init("X-Enhance-Output-Size")!,
        .init("X-Enhance-Native-Size")!, .init("X-Enhance-Resized")!, .init("X-Enhance-Queue-Ms")!,
        .init("X-Enhance-Inference-Ms")!, .init("Server-Timing")!, .contentDisposition, .xEnhanceJobID, .xEnhanceWarning,
    ]

    static func make(_ r: UpscaleResult, parameters: UpscaleParameters, upload: Upload) -> HTTPFields {
        let queueMs = Int((r.queueWait.seconds * 1000).rounded()), inferenceMs = Int((r.inference.seconds * 1000).rounded())
        var base = (upload.filename.map { ($0 as NSString).lastPathComponent } ?? "image") as NSString
        base = base.deletingPathExtension as NSString
        let safe = String(String(base).unicodeScalars.map { c -> Character in
            CharacterSet.alphanumerics.contains(c) || "-_.".unicodeScalars.contains(c) ? Character(c) : "_"
        }.prefix(100))
        let tag = r.output == r.native ? "x\(r.native.width / max(1, r.input.width))" : "\(r.output.width)x\(r.output.height)"
        var h = HTTPFields()
        h[.init("X-Enhance-Model")!] = parameters.model
        h[.init("X-Enhance-Input-Size")!] = "\(r.input.width)x\(r.input.height)"
        h[.init("X-Enhance-Output-Size")!] = "\(r.output.width)x\(r.output.height)"
        h[.init("X-Enhance-Native-Size")!] = "\(r.native.width)x\(r.native.height)"
        h[.init("X-Enhance-Resized")!] = r.output == r.native ? "false" : "true"
        h[.init("X-Enhance-Queue-Ms")!] = String(queueMs)
        h[.init("X-Enhance-Inference-Ms")!] = String(inferenceMs)
        h[.init("Server-Timing")!] = "queue;dur=\(queueMs), inference;dur=\(inferenceMs)"
        h[.contentDisposition] = "inline; filename=\"\(safe.isEmpty ? "image" : safe)_\(tag)\(parameters.format.suffix)\""
        return h
    }
}
