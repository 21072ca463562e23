import Foundation
import Hummingbird
import MultipartKit
import NIOCore

/// What a client sent to an upscale route: the image bytes and the option fields, read from a multipart form
/// or a raw image body, within the server's byte limit.
struct Upload: Sendable {
    var image: [UInt8]
    var filename: String?
    /// Option fields of a multipart form (the image excluded).
    var fields: [String: String]
    var bytesRead: Int

    /// Option fields longer than this are refused (they are short words and sizes).
    static let maxFieldBytes = 1024
    static let maxFields = 64

    enum Kind { case multipart(boundary: String), raw }

    /// Reads the body of `request`, refusing more than `limit` bytes before (Content-Length) and while reading.
    /// `allowRaw`: a non-multipart image body is accepted (v1); MAX's route takes multipart only.
    static func read(_ request: Request, limit: Int, allowRaw: Bool) async throws -> Upload {
        if let length = request.headers[.contentLength].flatMap(Int.init), length > limit {
            throw APIError.bodyTooLarge(limit: limit)
        }
        let kind = try kind(of: request.headers[.contentType], allowRaw: allowRaw)
        switch kind {
        case .raw:
            var bytes: [UInt8] = []
            for try await buffer in request.body {
                guard bytes.count + buffer.readableBytes <= limit else { throw APIError.bodyTooLarge(limit: limit) }
                bytes.append(contentsOf: buffer.readableBytesView)
            }
            guard !bytes.isEmpty else { throw APIError.emptyImage }
            return Upload(image: bytes, filename: nil, fields: [:], bytesRead: bytes.count)
        case .multipart(let boundary):
            let collector = PartCollector()
            let parser = MultipartParser(boundary: boundary)
            parser.onHeader = { name, value in collector.header(name, value) }
            parser.onBody = { buffer in collector.body(&buffer) }
            parser.onPartComplete = { collector.complete() }
            var total = 0
            for try await buffer in request.body {
                total += buffer.readableBytes
                guard total <= limit else { throw APIError.bodyTooLarge(limit: limit) }
                do { try parser.execute(buffer) } catch {
                    throw APIError.badMultipart("malformed multipart body: \(error)")
                }
                if let problem = collector.problem { throw problem }
            }
            if let problem = collector.problem { throw problem }
            guard collector.current == nil else {
                throw APIError.badMultipart("the multipart body ended inside a part (truncated upload?)")
            }
            guard let image = collector.image else {
                if collector.partCount == 0 && total > 0 {
                    throw APIError.badMultipart("no multipart part found with boundary '\(boundary)'")
                }
                throw APIError.missingImage(collector.names)
            }
            guard !image.isEmpty else { throw APIError.emptyImage }
            return Upload(image: image, filename: collector.filename, fields: collector.fields, bytesRead: total)
        }
    }

    static func kind(of contentType: String?, allowRaw: Bool) throws -> Kind {
        let parts = (contentType ?? "").split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
        let type = parts.first?.lowercased() ?? ""
        if type == "multipart/form-data" {
            for p in parts.dropFirst() {
                let kv = p.split(separator: "=", maxSplits: 1).map(String.init)
                if kv.count == 2, kv[0].lowercased() == "boundary" {
                    let b = kv[1].trimmingCharacters(in: CharacterSet(charactersIn: "\""))
                    if !b.isEmpty && b.utf8.count <= 200 { return .multipart(boundary: b) }
                }
            }
            throw APIError.badMultipart("Content-Type multipart/form-data needs a boundary parameter")
        }
        let how = "send the image as the multipart field 'image' (curl -F image=@photo.png URL)"
        guard allowRaw else {
            throw APIError(.unsupportedMediaType, "unsupported_media_type",
                           "expected multipart/form-data, got '\(contentType ?? "no Content-Type")'; \(how)")
        }
        if type.hasPrefix("image/") || type == "application/octet-stream" { return .raw }
        throw APIError(.unsupportedMediaType, "unsupported_media_type",
                       "expected multipart/form-data, image/* or application/octet-stream, got '\(contentType ?? "no Content-Type")'; " +
                       "\(how), or as the raw body with its type (curl --data-binary @photo.png -H 'Content-Type: image/png' URL)")
    }
}

/// Gathers the parts MultipartParser reports (it calls back synchronously from `execute`).
private final class PartCollector {
    struct Part {
        var headers: [(String, String)] = []
        var data: [UInt8] = []
        var name: String?
        var filename: String?
        var isImage = false
    }

    var current: Part?
    var image: [UInt8]?
    var filename: String?
    var fields: [String: String] = [:]
    var names: [String] = []
    var partCount = 0
    var problem: APIError?

    func header(_ name: String, _ value: String) {
        if current == nil { current = Part() }
        current!.headers.append((name, value))
        if name.lowercased() == "content-disposition" {
            current!.name = Self.parameter("name", in: value)
            current!.filename = Self.parameter("filename", in: value)
            current!.isImage = current!.name == "image"
        }
    }

    func body(_ buffer: inout ByteBuffer) {
        if current == nil { current = Part() }
        guard problem == nil else { return }
        if !current!.isImage && current!.filename != nil { return }   // a file under another name: reported as missing 'image'
        if !current!.isImage && current!.data.count + buffer.readableBytes > Upload.maxFieldBytes {
            problem = .invalidOption("the form field '\(current!.name ?? "?")' is longer than \(Upload.maxFieldBytes) bytes; only 'image' may be large")
            return
        }
        current!.data.append(contentsOf: buffer.readableBytesView)
    }

    func complete() {
        guard let part = current else { return }
        current = nil
        partCount += 1
        let name = part.name ?? ""
        names.append(name)
        if partCount > Upload.maxFields { problem = .badMultipart("more than \(Upload.maxFields) form fields") }
        if part.isImage {
            if image != nil { problem = .badMultipart("the form has more than one 'image' field") }
            image = part.data
            filename = part.filename
        } else if !name.isEmpty && part.filename == nil {
            guard let text = String(bytes: part.data, encoding: .utf8) else {
                problem = .invalidOption("the form field '\(name)' is not UTF-8 text")
                return
            }
            fields[name] = text
        }
    }

    /// `name="value"` (or unquoted) in a Content-Disposition header.
    static func parameter(_ key: String, in header: String) -> String? {
        for piece in header.split(separator: ";").dropFirst() {
            let kv = piece.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard kv.count == 2, kv[0].lowercased() == key else { continue }
            var v = kv[1]
            if v.hasPrefix("\""), v.hasSuffix("\""), v.count >= 2 { v = String(v.dropFirst().dropLast()) }
            return v
        }
        return nil
    }
}
