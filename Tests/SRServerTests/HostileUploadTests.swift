import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import SREngine
import SRServer
import SRTestSupport
import Synchronization
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// HTTP statuses gathered from several threads.
final class Statuses: Sendable {
    private let values = Mutex<[Int]>([])
    func append(_ status: Int) { values.withLock { $0.append(status) } }
    var all: [Int] { values.withLock { $0 } }
}

/// What a hostile client sends: formats no upscaler needs, bodies that are not HTTP, uploads that stop half way.
@Suite("hostile uploads")
struct HostileUploadTests {
    static let svg = Array(#"<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64"><rect width="1" height="1"/></svg>"#.utf8)
    static let pdf = Array(("%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n" +
        "3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 14400 14400]>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n").utf8)

    @Test("SVG, PDF and BMP uploads are 415 format_not_accepted, by name, never parsed")
    func blockedFormats() async throws {
        let server = try makeServer()
        try await server.application().test(.router) { client in
            try await waitReady(client)
            let bmp: [UInt8] = Array("BM".utf8) + [UInt8](repeating: 0, count: 60)
            for (bytes, name) in [(Self.svg, "SVG"), (Self.pdf, "PDF"), (bmp, "BMP")] {
                let r = try await call(client, .post, "/v1/upscale", headers: [.contentType: "image/png"], body: bytes)
                #expect(r.status == .unsupportedMediaType && r.json["error"] as? String == "format_not_accepted", "\(r.json)")
                #expect((r.json["message"] as? String)?.hasPrefix("\(name) uploads are not accepted") == true, "\(r.json)")
                let (headers, body) = multipart([("image", "x", bytes)])
                let max = try await call(client, .post, "/model/predict", headers: headers, body: body)
                #expect(max.status == .unsupportedMediaType)
            }
        }
    }

    @Test("/healthz keeps answering (median under 100 ms) while four 40 MB SVG uploads arrive at once (they froze it for 10-18 s)")
    func healthUnderSVGLoad() async throws {
        let server = try ServeProcess(["--max-body", "64M"])
        let port = server.port
        // 40 MB of <rect> elements: librsvg used to build a tree of all of them just to read the header.
        var document = Array(#"<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64">"#.utf8)
        let rect = Array(#"<rect x="1" y="2" width="3" height="4"/>"#.utf8)
        document.reserveCapacity(40 << 20)
        while document.count < 40 << 20 { document.append(contentsOf: rect) }
        document += Array("</svg>".utf8)
        let body = document
        let statuses = Statuses()
        for _ in 0..<4 {
            DispatchQueue.global().async {
                let r = try? RawConnection.request(port: port, path: "/v1/upscale",
                                                   headers: ["Content-Type": "image/svg+xml"], body: body)
                statuses.append(r?.status ?? 0)
            }
        }
        let latencies = try await blocking { () throws -> [Duration] in
            var seen: [Duration] = []
            // Probe while the uploads are in flight, and at least 20 times.
            while statuses.all.count < 4 || seen.count < 20 {
                let start = ContinuousClock.now
                let h = try RawConnection.request(port: port, method: "GET", path: "/healthz")
                #expect(h.status == 200)
                seen.append(ContinuousClock.now - start)
                usleep(20_000)
            }
            return seen
        }
        #expect(statuses.all.allSatisfy { $0 == 415 || $0 == 429 }, "\(statuses.all)")
        #expect(latencies.count >= 20)
        // Other suites run models beside this one on the same cores: the median is held to 100 ms and any freeze
        // (the old one lasted 10-18 s) to a second; the load test (scripts/load_test.py) holds every answer to 100 ms.
        let sorted = latencies.sorted()
        #expect(sorted[sorted.count / 2] < .milliseconds(100) && sorted.last! < .seconds(1), "/healthz latencies: \(sorted)")
        // The server did not grow by the documents' parse trees.
        let status = (try? String(contentsOfFile: "/proc/\(server.process.processIdentifier)/status", encoding: .utf8)) ?? ""
        let peak = status.split(separator: "\n").first { $0.hasPrefix("VmHWM:") }
            .flatMap { Int($0.split(separator: " ").dropFirst().first ?? "") } ?? 0
        #expect(peak > 0 && peak < 1_500_000, "peak RSS \(peak) kB")
    }

    @Test("a malformed chunked body is 400 and a client hanging up mid-upload is not counted as a server error")
    func clientFaults() async throws {
        let server = try makeServer()
        try await server.application().test(.live) { client in
            try await waitReady(client)
            let port = try #require(client.port)
            let chunked = try await blocking { () throws -> (status: Int, head: String, body: [UInt8]) in
                let c = try RawConnection(port: port)
                c.send(Array(("POST /v1/upscale HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\nConnection: close\r\n" +
                              "Transfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n").utf8))
                return RawConnection.parse(c.receive())
            }
            #expect(chunked.status == 400 || chunked.status == 0, "\(chunked.head)")
            // Half an upload, then the connection closes.
            let image = try TestImages.png(width: 200, height: 150)
            let (formHeaders, form) = multipart([("image", "photo.png", image)])
            for (type, body) in [("image/png", image), (formHeaders[.contentType]!, form)] {
                try await blocking {
                    let c = try RawConnection(port: port)
                    c.send(Array(("POST /v1/upscale HTTP/1.1\r\nHost: x\r\nContent-Type: \(type)\r\n" +
                                  "Content-Length: \(body.count)\r\n\r\n").utf8) + Array(body.prefix(body.count / 2)))
                    usleep(200_000)
                    c.close()
                }
            }
            var exposition = ""
            for _ in 0..<50 {
                exposition = String(buffer: try await client.execute(uri: "/metrics", method: .get).body)
                if exposition.contains(#"enhance_http_requests_total{route="/v1/upscale",method="POST",status="499"} 2"#) { break }
                try await Task.sleep(for: .milliseconds(100))
            }
            let counts = exposition.split(separator: "\n").filter { $0.contains("status=") }
            #expect(!exposition.contains(#"status="500""#), "\(counts)")
            #expect(exposition.contains(#"enhance_http_requests_total{route="/v1/upscale",method="POST",status="499"} 2"#), "\(counts)")
            #expect(try await client.execute(uri: "/healthz", method: .get).status == .ok)
        }
    }

    @Test("a stalled or dripping upload is cut off after --upload-timeout and its admission slot comes back")
    func slowUploads() async throws {
        let server = try makeServer { $0.uploadTimeout = .seconds(1) }
        try await server.application().test(.live) { client in
            try await waitReady(client)
            let port = try #require(client.port)
            let image = try TestImages.png()
            let started = ContinuousClock.now
            let closed = try await blocking { () -> Bool in
                let c = try RawConnection(port: port)
                c.send(Array(("POST /v1/upscale HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\n" +
                              "Content-Length: \(image.count)\r\n\r\n").utf8) + Array(image.prefix(10)))
                // Drip a byte every 100 ms until the server closes the connection (or 10 s pass).
                for i in 10..<image.count {
                    if ContinuousClock.now - started > .seconds(10) { return false }
                    var byte = image[i]
                    if Glibc.send(c.fd, &byte, 1, Int32(MSG_NOSIGNAL)) <= 0 { return true }
                    usleep(100_000)
                }
                return false
            }
            #expect(closed, "the server never closed the dripping upload")
            #expect(ContinuousClock.now - started < .seconds(5))
            let next = try await call(client, .post, "/v1/upscale", headers: [.contentType: "image/png"], body: image)
            #expect(next.status == .ok)
            let exposition = String(buffer: try await client.execute(uri: "/metrics", method: .get).body)
            #expect(exposition.contains(#"status="408""#))
        }
    }

    @Test("every model a client names does not stay loaded: beyond --max-memory the least recently used leaves")
    func modelsLeaveUnderBudget() async throws {
        let other = "span-x2"
        guard ModelStore().isInstalled(other) else { throw ModelsMissing(ids: [other], directory: ModelStore().directory) }
        // A budget below what two models hold (these two small ones hold a few MB each).
        let server = try makeServer { $0.maxMemory = 1 << 20 }
        try await server.application().test(.router) { client in
            try await waitReady(client)
            func loaded(_ id: String) async throws -> Bool? {
                try await call(client, .get, "/v1/models/\(id)").json["loaded"] as? Bool
            }
            #expect(try await loaded(testModel) == true)
            #expect(try await loaded(other) == false)
            let r = try await call(client, .post, "/v1/upscale?model=\(other)", headers: [.contentType: "image/png"], body: try TestImages.png())
            #expect(r.status == .ok)
            #expect(try await loaded(other) == true)
            #expect(try await loaded(testModel) == false)
        }
    }

    @Test("a server's scratch folder: leftovers of servers of this host that are gone are removed at start")
    func scratchCleanup() throws {
        let parent = FileManager.default.temporaryDirectory.appendingPathComponent("enhance-scratch-\(UUID().uuidString)").path
        let child = Process()
        child.executableURL = URL(fileURLWithPath: "/bin/true")
        try child.run()
        child.waitUntilExit()
        let host = ProcessInfo.processInfo.hostName.unicodeScalars
            .filter { CharacterSet.alphanumerics.contains($0) || $0 == "-" }.map(String.init).joined().prefix(40)
        let gone = "\(parent)/enhance-serve-\(host)-\(child.processIdentifier)"
        let alive = "\(parent)/enhance-serve-\(host)-1"      // init: always alive
        for dir in [gone, alive] {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            FileManager.default.createFile(atPath: dir + "/enhance-left.png", contents: Data([1, 2, 3]))
        }
        let server = try makeServer { $0.temporaryDirectory = parent }
        #expect(!FileManager.default.fileExists(atPath: gone))
        #expect(FileManager.default.fileExists(atPath: alive + "/enhance-left.png"))
        #expect(FileManager.default.fileExists(atPath: "\(parent)/enhance-serve-\(host)-\(getpid())"))
        _ = server
    }
}
