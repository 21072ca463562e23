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
    ///
    /// The body is only gathered here (the chunks as they come, nothing else on Swift's cooperative threads); a
    /// multipart form is parsed afterwards on a thread of its own (`OffLoop`): MultipartKit's parser walks the body a
    /// byte at a time, and two 40 MB forms parsed on the two cooperative threads of a 2-core machine left nothing to
    /// answer `/healthz` for seconds.
    static func read(_ request: Request, limit: Int, allowRaw: Bool) async throws -> Upload {
        if let length = request.headers[.contentLength].flatMap(Int.init), length > limit {
            throw APIError.bodyTooLarge(limit: limit)
        }
        let kind = try kind(of: request.headers[.contentType], allowRaw: allowRaw)
        var chunks: [ByteBuffer] = []
        var total = 0
        for try await buffer in request.body {
            total += buffer.readableBytes
            guard total <= limit else { throw APIError.bodyTooLarge(limit: limit) }
            chunks.append(buffer)
        }
        switch kind {
        case .raw:
            guard total > 0 else { throw APIError.emptyImage }
            var bytes: [UInt8] = []
            bytes.reserveCapacity(total)
            for chunk in chunks { chunk.withUnsafeReadableBytes { bytes.append(contentsOf: $0) } }
            return Upload(image: bytes, filename: nil, fields: [:], bytesRead: total)
        case .multipart(let boundary):
            let body = chunks
            return try await OffLoop.run { () throws(APIError) -> Upload in
                try parseMultipart(body, boundary: boundary, limit: limit)
            }
        }
    }

    /// Parses a whole multipart/form-data body given as `chunks` (as they would arrive), within `limit` bytes:
    /// what `read` does for a multipart request, without the request. Throws the same errors at the same points.
    static func parseMultipart(_ chunks: some Sequence<ByteBuffer>, boundary: String,
                               limit: Int) throws(APIError) -> Upload {
        var parser = MultipartUploadParser(boundary: boundary, limit: limit)
        for buffer in chunks { try parser.feed(buffer) }
        return try parser.finish()
    }

    /// The kind of body a `Content-Type` announces: multipart with its boundary (1–200 bytes, quotes removed), or a
    /// raw image when `allowRaw`.
    /// - Throws: `APIError` 400 `bad_multipart` for a multipart type without a usable boundary, 415
    ///   `unsupported_media_type` for anything else.
    static func kind(of contentType: String?, allowRaw: Bool) throws(APIError) -> Kind {
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

/// A multipart/form-data body parsed chunk by chunk: `feed` each chunk as it arrives, then `finish`. Pure (no I/O),
/// so tests and the `upload` fuzz target drive it directly. The boundary must not be empty (MultipartKit traps on an
/// empty one); `Upload.kind(of:allowRaw:)` never gives one.
struct MultipartUploadParser {
    let boundary: String
    let limit: Int
    /// Body bytes fed so far.
    private(set) var total = 0
    private let parser: MultipartParser
    private let collector = PartCollector()
    private var headerGuard: MultipartHeaderGuard

    init(boundary: String, limit: Int) {
        self.boundary = boundary
        self.limit = limit
        parser = MultipartParser(boundary: boundary)
        headerGuard = MultipartHeaderGuard(boundary: boundary)
        let collector = collector
        parser.onHeader = { name, value in collector.header(name, value) }
        parser.onBody = { buffer in collector.body(&buffer) }
        parser.onPartComplete = { collector.complete() }
    }

    /// Parses the next chunk of the body.
    /// - Throws: `bodyTooLarge` once more than `limit` bytes came; `bad_multipart` or `invalid_option` for a
    ///   malformed body (a non-ASCII header name included) or form (too many fields, a field too long or not UTF-8,
    ///   two images).
    mutating func feed(_ buffer: ByteBuffer) throws(APIError) {
        total += buffer.readableBytes
        guard total <= limit else { throw APIError.bodyTooLarge(limit: limit) }
        if let trap = headerGuard.firstTrap(in: buffer) {
            throw APIError.badMultipart("malformed multipart body: byte \(total - buffer.readableBytes + trap.offset) (0x" +
                                        String(trap.byte, radix: 16, uppercase: true) + ") is not ASCII, in a part's header name; " +
                                        "header names are ASCII words such as Content-Disposition")
        }
        do { try parser.execute(buffer) } catch {
            throw APIError.badMultipart("malformed multipart body: \(error)")
        }
        if let problem = collector.problem { throw problem }
    }

    /// The upload, once the whole body was fed.
    /// - Throws: `bad_multipart` for a body that ends inside a part or has no part with the boundary,
    ///   `missing_image` / `empty_image` for a form without a (non-empty) 'image' field.
    func finish() throws(APIError) -> Upload {
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

/// Refuses what would crash MultipartKit: its parser (4.7.1) looks each byte of a part's header name up in a 128-entry
/// table, so a byte >= 0x80 there is an index out of range, a trap that takes the whole server down. This follows the
/// parser's states byte for byte (the same transitions, without the data) and reports such a byte before the parser
/// sees it; found by the `upload` fuzz target (Fuzz/Regressions/upload/). Remove once MultipartKit checks the range.
struct MultipartHeaderGuard {
    private enum State {
        case preamble(matched: Int)
        case preHeaders(sawCR: Bool)
        case headerName(empty: Bool)
        case headerValue, postHeaderValue, postHeaders, body
        case boundary(matched: Int)
        /// The epilogue, or a syntax error the parser throws on: nothing more reaches a header name.
        case done
    }

    /// What the parser matches: CRLF, `--`, the boundary.
    private let delimiter: [UInt8]
    private var state = State.preamble(matched: 0)

    init(boundary: String) { delimiter = Array("\r\n--\(boundary)".utf8) }

    /// The offset in `buffer` and value of the first byte the parser would trap on, if any; advances the state.
    mutating func firstTrap(in buffer: ByteBuffer) -> (offset: Int, byte: UInt8)? {
        buffer.withUnsafeReadableBytes { bytes in
            let cr: UInt8 = 13, lf: UInt8 = 10, colon: UInt8 = 58
            var i = 0
            while i < bytes.count {
                let byte = bytes[i]
                switch state {
                case .preamble(let m):
                    let next = m == 0 && byte == delimiter[2] ? 3
                        : byte == delimiter[m] ? m + 1 : m > 0 && byte == delimiter[0] ? 1 : 0
                    state = next >= delimiter.count ? .preHeaders(sawCR: false) : .preamble(matched: next)
                case .preHeaders(let sawCR):
                    state = !sawCR && byte == cr ? .preHeaders(sawCR: true)
                        : sawCR && byte == lf ? .headerName(empty: true) : .done
                case .headerName(let empty):
                    if byte >= 0x80 { return (i, byte) }
                    state = byte == colon && !empty ? .headerValue
                        : byte == cr && empty ? .postHeaders
                        : Self.isTokenByte(byte) ? .headerName(empty: false) : .done
                case .headerValue:
                    if byte == cr { state = .postHeaderValue }
                case .postHeaderValue:
                    state = byte == lf ? .headerName(empty: true) : .done
                case .postHeaders:
                    state = byte == lf ? .body : .done
                case .body:   // up to the next CR, which may start the delimiter
                    guard let next = bytes[i...].firstIndex(of: cr) else { return nil }
                    i = next
                    state = .boundary(matched: 1)
                case .boundary(let m):
                    state = m >= delimiter.count ? (byte == cr ? .preHeaders(sawCR: true) : .done)
                        : byte == delimiter[m] ? .boundary(matched: m + 1)
                        : byte == delimiter[0] ? .boundary(matched: 1) : .body
                case .done:
                    return nil
                }
                i += 1
            }
            return nil
        }
    }

    /// RFC 822 field-name characters: printable ASCII except the separators (MultipartKit's table).
    private static func isTokenByte(_ b: UInt8) -> Bool {
        (33...126).contains(b) && !"()<>@,;:\\\"/[]?={}".utf8.contains(b)
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
