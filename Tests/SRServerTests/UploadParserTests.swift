import Foundation
import NIOCore
@testable import SRServer
import Testing

/// The upload parsing on its own (no server): `Upload.kind(of:allowRaw:)` and `Upload.parseMultipart`, the pure
/// functions `Upload.read` uses and the `upload` fuzz target drives.
@Suite("upload parser")
struct UploadParserTests {
    static let boundary = "XyZ-boundary"
    static let image: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0xFF, 0x0D, 0x2D]

    /// A multipart body with `parts` (name, filename, data), ended by the closing delimiter unless `close` is false.
    static func body(_ parts: [(String, String?, [UInt8])], close: Bool = true) -> [UInt8] {
        var out: [UInt8] = []
        for (name, filename, data) in parts {
            out += Array("--\(boundary)\r\nContent-Disposition: form-data; name=\"\(name)\"".utf8)
            if let filename { out += Array("; filename=\"\(filename)\"\r\nContent-Type: image/png".utf8) }
            out += Array("\r\n\r\n".utf8) + data + Array("\r\n".utf8)
        }
        if close { out += Array("--\(boundary)--\r\n".utf8) }
        return out
    }

    /// `bytes` in chunks of `size` bytes (0: one chunk), parsed within `limit`.
    static func parse(_ bytes: [UInt8], chunk size: Int = 0, limit: Int = 1 << 20,
                      boundary: String = boundary) throws(APIError) -> Upload {
        let chunks = size == 0 ? [ByteBuffer(bytes: bytes)]
            : stride(from: 0, to: bytes.count, by: size).map { ByteBuffer(bytes: bytes[$0..<min($0 + size, bytes.count)]) }
        return try Upload.parseMultipart(chunks, boundary: boundary, limit: limit)
    }

    /// The `code` of the APIError `body` throws, or nil when it succeeds.
    static func errorCode(_ body: () throws(APIError) -> Upload) -> String? {
        do { _ = try body(); return nil } catch { return error.code }
    }

    @Test("a good form gives the image, its filename and the fields, however the body is chunked", arguments: [0, 1, 7, 64])
    func goodForm(chunk: Int) throws {
        let bytes = Self.body([("scale", nil, Array("2.5".utf8)), ("image", "photo.png", Self.image),
                               ("model", nil, Array("realesr-animevideov3-x4".utf8))])
        let upload = try Self.parse(bytes, chunk: chunk)
        #expect(upload.image == Self.image)
        #expect(upload.filename == "photo.png")
        #expect(upload.fields == ["scale": "2.5", "model": "realesr-animevideov3-x4"])
        #expect(upload.bytesRead == bytes.count)
    }

    @Test("a form without 'image' is missing_image, naming the fields it has")
    func missingImage() {
        let bytes = Self.body([("scale", nil, Array("2".utf8)), ("file", "x.png", Self.image)])
        do {
            _ = try Self.parse(bytes)
            Issue.record("accepted a form without an image")
        } catch {
            #expect(error.code == "missing_image")
            #expect(error.message.contains("'scale', 'file'"))
        }
    }

    @Test("a field over the limit is invalid_option; the image may be larger")
    func fieldTooLong() throws {
        let long = [UInt8](repeating: UInt8(ascii: "9"), count: Upload.maxFieldBytes + 1)
        #expect(Self.errorCode { () throws(APIError) in
            try Self.parse(Self.body([("image", "a.png", Self.image), ("scale", nil, long)]), chunk: 100)
        } == "invalid_option")
        let big = try Self.parse(Self.body([("image", "a.png", long + long)]))
        #expect(big.image.count == 2 * long.count)
    }

    @Test("a truncated body is bad_multipart")
    func truncated() {
        let bytes = Self.body([("image", "a.png", Self.image)], close: false)
        do {
            _ = try Self.parse(Array(bytes.prefix(bytes.count - 4)))
            Issue.record("accepted a truncated body")
        } catch {
            #expect(error.code == "bad_multipart")
            #expect(error.message.contains("truncated"))
        }
    }

    @Test("a body with another boundary than the Content-Type's is bad_multipart")
    func wrongBoundary() {
        let bytes = Self.body([("image", "a.png", Self.image)])
        do {
            _ = try Self.parse(bytes, boundary: "other")
            Issue.record("accepted a body with another boundary")
        } catch {
            #expect(error.code == "bad_multipart")
            #expect(error.message.contains("no multipart part found with boundary 'other'"))
        }
    }

    @Test("a non-ASCII byte in a part's header name is bad_multipart, not a crash (MultipartKit 4.7.1 traps)",
          arguments: [0, 1, 5])
    func nonASCIIHeaderName(chunk: Int) {
        var bytes = Array("--\(Self.boundary)\r\nContent-Disposition: form-data; name=\"image\"\r\nX-\u{E9}: 1\r\n\r\n".utf8)
        bytes += Self.image + Array("\r\n--\(Self.boundary)--\r\n".utf8)
        do {
            _ = try Self.parse(bytes, chunk: chunk)
            Issue.record("accepted a non-ASCII header name")
        } catch {
            #expect(error.code == "bad_multipart")
            #expect(error.message.contains("0xC3"))
        }
        // Non-ASCII bytes in header values, the preamble and the data stay fine.
        let fine = Array("caf\u{E9}\r\n".utf8) + Self.body([("image", "\u{E9}t\u{E9}.png", Self.image + [0xC3, 0xA9])])
        #expect(Self.errorCode { () throws(APIError) in try Self.parse(fine, chunk: chunk) } == nil)
    }

    @Test("more than the limit is body_too_large")
    func tooLarge() {
        let bytes = Self.body([("image", "a.png", Self.image)])
        #expect(Self.errorCode { () throws(APIError) in try Self.parse(bytes, chunk: 16, limit: bytes.count - 1) }
                == "body_too_large")
    }

    @Test("Content-Type: multipart needs a boundary, quotes removed; raw images only where allowed")
    func contentTypes() throws {
        guard case .multipart(let b) = try Upload.kind(of: "Multipart/Form-Data; charset=utf-8; boundary=\"a b\"",
                                                       allowRaw: false) else {
            Issue.record("not multipart")
            return
        }
        #expect(b == "a b")
        for type in ["multipart/form-data", "multipart/form-data; boundary=", "multipart/form-data; boundary=\"\"",
                     "multipart/form-data; boundary=" + String(repeating: "b", count: 201)] {
            #expect(throws: APIError.self) { try Upload.kind(of: type, allowRaw: true) }
        }
        guard case .raw = try Upload.kind(of: "image/png", allowRaw: true) else { Issue.record("not raw"); return }
        do {
            _ = try Upload.kind(of: "image/png", allowRaw: false)
            Issue.record("accepted a raw body where only multipart is allowed")
        } catch {
            #expect(error.status == .unsupportedMediaType)
        }
        #expect(throws: APIError.self) { try Upload.kind(of: nil, allowRaw: true) }
    }
}
