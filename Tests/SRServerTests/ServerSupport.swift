import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import SRBackendDNNL
import SREngine
import SRImageIO
import SRServer
import SRTestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The fast model the server tests run (x4, so MAX's "4x the input" holds).
let testModel = "realesr-animevideov3-x4"

func makeServer(_ tweak: (inout ServerConfiguration) -> Void = { _ in }, store: ModelStore = ModelStore()) throws -> EnhanceServer {
    guard (try? store.resolve(testModel)) != nil else { throw ModelsMissing(ids: [testModel], directory: store.directory) }
    var c = ServerConfiguration()
    c.defaultModel = testModel
    c.threadsPerWorker = 1
    c.backends = [DNNLBackend(threads: 1)]
    c.port = 0
    tweak(&c)
    return EnhanceServer(configuration: c, store: store)
}

/// The OpenAPI document every response is checked against.
let openAPI: OpenAPIValidator = {
    let data = try! Data(contentsOf: TestPaths.repository.appendingPathComponent("openapi/openapi.json"))
    return try! OpenAPIValidator(json: data)
}()

extension TestResponse {
    var bodyBytes: [UInt8] { Array(body.readableBytesView) }
    var json: [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(bodyBytes))) as? [String: Any] ?? [:]
    }
    func header(_ name: String) -> String? { headers[HTTPField.Name(name)!] }
}

/// Sends a request and checks the answer against the OpenAPI document.
@discardableResult
func call(_ client: some TestClientProtocol, _ method: HTTPRequest.Method, _ uri: String, headers: HTTPFields = [:],
          body: [UInt8]? = nil, sourceLocation: SourceLocation = #_sourceLocation) async throws -> TestResponse {
    let response = try await client.execute(uri: uri, method: method, headers: headers, body: body.map { ByteBuffer(bytes: $0) })
    var flat: [String: String] = [:]
    for field in response.headers { flat[field.name.canonicalName] = field.value }
    let path = String(uri.split(separator: "?", maxSplits: 1)[0])
    do {
        try openAPI.validate(method: method.rawValue, path: path, status: Int(response.status.code), headers: flat,
                             body: Data(response.bodyBytes))
    } catch {
        Issue.record("\(method) \(uri) → \(response.status.code) does not conform to openapi.json: \(error)", sourceLocation: sourceLocation)
    }
    return response
}

/// A job id from `POST /v1/jobs/reserve`, to send as `X-Enhance-Job-Id` with an upload.
func reserveJob(_ client: some TestClientProtocol) async throws -> String {
    let r = try await call(client, .post, "/v1/jobs/reserve")
    #expect(r.status == .created)
    return try #require(r.json["id"] as? String)
}

/// Polls /readyz until the workers have loaded the default model.
func waitReady(_ client: some TestClientProtocol) async throws {
    for _ in 0..<600 {
        let r = try await client.execute(uri: "/readyz", method: .get)
        if r.status == .ok { return }
        try await Task.sleep(for: .milliseconds(100))
    }
    Issue.record("the server did not become ready within 60 s")
}

/// A multipart/form-data body with the given parts (name, filename or nil, bytes).
func multipart(_ parts: [(String, String?, [UInt8])], boundary: String = "enhance-test-boundary") -> (HTTPFields, [UInt8]) {
    var body: [UInt8] = []
    for (name, filename, bytes) in parts {
        var head = "--\(boundary)\r\nContent-Disposition: form-data; name=\"\(name)\""
        if let filename { head += "; filename=\"\(filename)\"\r\nContent-Type: application/octet-stream" }
        head += "\r\n\r\n"
        body += Array(head.utf8) + bytes + Array("\r\n".utf8)
    }
    body += Array("--\(boundary)--\r\n".utf8)
    return ([.contentType: "multipart/form-data; boundary=\(boundary)"], body)
}

func imageSize(_ bytes: [UInt8]) throws -> (Int, Int) {
    let h = try ImageIO.header(data: bytes)
    return (h.width, h.height)
}

// MARK: Raw sockets (live tests: several connections at once, hang-ups, Expect: 100-continue)

/// One HTTP/1.1 exchange on its own TCP connection, with control over when the body goes and when to hang up.
final class RawConnection: @unchecked Sendable {
    private(set) var fd: Int32

    init(port: Int) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        var timeout = timeval(tv_sec: 120, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let r = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard r == 0 else { Glibc.close(fd); throw POSIXError(.ECONNREFUSED) }
    }

    deinit { close() }

    /// Closes the socket (the peer sees the connection end).
    func close() {
        if fd >= 0 { Glibc.close(fd) }
        fd = -1
    }

    func send(_ bytes: [UInt8]) {
        var off = 0
        while off < bytes.count {
            let n = bytes[off...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { return }
            off += n
        }
    }

    /// Reads until `stop` says enough or the peer closes.
    func receive(until stop: ([UInt8]) -> Bool = { _ in false }) -> [UInt8] {
        var all: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while !stop(all) {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { break }
            all += buffer[0..<n]
        }
        return all
    }

    /// Sends a whole request with `Connection: close` and returns the status of the final response.
    static func request(port: Int, method: String = "POST", path: String, headers: [String: String] = [:],
                        body: [UInt8] = []) throws -> (status: Int, head: String, body: [UInt8]) {
        let c = try RawConnection(port: port)
        var head = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: \(body.count)\r\n"
        for (k, v) in headers { head += "\(k): \(v)\r\n" }
        c.send(Array((head + "\r\n").utf8) + body)
        return parse(c.receive())
    }

    static func parse(_ raw: [UInt8]) -> (status: Int, head: String, body: [UInt8]) {
        let sep = Array("\r\n\r\n".utf8)
        var i = 0
        while i + 4 <= raw.count && Array(raw[i..<i + 4]) != sep { i += 1 }
        let head = String(decoding: raw[0..<min(i, raw.count)], as: UTF8.self)
        let status = head.split(separator: " ").dropFirst().first.flatMap { Int($0) } ?? 0
        return (status, head, i + 4 <= raw.count ? Array(raw[(i + 4)...]) : [])
    }
}
