// libFuzzer target `upload`: the server's upload parsing, `Upload.kind(of:allowRaw:)` (the Content-Type grammar)
// and `Upload.parseMultipart` (MultipartKit's parser plus the form rules: one 'image', short UTF-8 fields).
//
// Input layout: byte 0 the chunk size the body arrives in (0: one chunk), byte 1 flags (bit 0: allowRaw), then the
// Content-Type value up to the first '\n', then the body. Beyond "never trap", it checks that an accepted upload
// keeps the form rules and that chunking never changes the outcome (accepted or refused, and what was read).
// Built by scripts/fuzz.sh against an instrumented debug build of SRServer (debug builds are testable).
import Foundation
import NIOCore
@testable import SRServer

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = UnsafeBufferPointer(start: data, count: size)
    guard size >= 2 else { return 0 }
    let chunkSize = Int(bytes[0]), allowRaw = bytes[1] & 1 != 0
    let rest = bytes[2...]
    let newline = rest.firstIndex(of: UInt8(ascii: "\n")) ?? rest.endIndex
    let contentType = String(decoding: rest[..<newline], as: UTF8.self)
    let body = Array(rest[newline...].dropFirst())

    guard case .multipart(let boundary)? = try? Upload.kind(of: contentType, allowRaw: allowRaw) else { return 0 }
    let limit = 1 << 16
    let whole = Result { () throws(APIError) in try Upload.parseMultipart([ByteBuffer(bytes: body)], boundary: boundary, limit: limit) }
    if case .success(let upload) = whole { check(upload, body: body) }
    guard chunkSize > 0 else { return 0 }
    let chunks = stride(from: 0, to: body.count, by: chunkSize).map {
        ByteBuffer(bytes: body[$0..<min($0 + chunkSize, body.count)])
    }
    let chunked = Result { () throws(APIError) in try Upload.parseMultipart(chunks, boundary: boundary, limit: limit) }
    switch (whole, chunked) {
    case (.success(let a), .success(let b)):
        guard a.image == b.image, a.filename == b.filename, a.fields == b.fields else {
            fatalError("chunks of \(chunkSize) bytes read a different upload than one chunk")
        }
    case (.failure, .failure): break
    case (.success, .failure(let e)): fatalError("chunks of \(chunkSize) bytes refused what one chunk accepts: \(e)")
    case (.failure(let e), .success): fatalError("chunks of \(chunkSize) bytes accepted what one chunk refuses: \(e)")
    }
    return 0
}

/// The form rules an accepted upload keeps.
private func check(_ upload: Upload, body: [UInt8]) {
    guard !upload.image.isEmpty else { fatalError("accepted an empty image") }
    guard upload.bytesRead == body.count else { fatalError("bytesRead \(upload.bytesRead) != body \(body.count)") }
    guard upload.fields.count <= Upload.maxFields else { fatalError("\(upload.fields.count) fields accepted") }
    for (name, value) in upload.fields where value.utf8.count > Upload.maxFieldBytes {
        fatalError("field '\(name)' of \(value.utf8.count) bytes accepted")
    }
}
