import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import SRServer
import SRTestSupport
import Synchronization
import Testing

/// Runs blocking socket work off Swift's cooperative pool.
func blocking<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        DispatchQueue.global().async { continuation.resume(with: Result { try body() }) }
    }
}

/// The server on a real loopback socket: what only a connection shows.
@Suite("HTTP on loopback")
struct LiveTests {
    @Test("Expect: 100-continue is answered before the body is sent; an oversized one gets 413 without it")
    func expectContinue() async throws {
        let server = try makeServer { $0.maxBodyBytes = 100_000 }
        try await server.application().test(.live) { client in
            try await waitReady(client)
            let port = try #require(client.port)
            let image = try TestImages.png(width: 32, height: 24)
            let (status, interim) = try await blocking {
                let c = try RawConnection(port: port)
                c.send(Array(("POST /v1/upscale HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: image/png\r\n" +
                              "Content-Length: \(image.count)\r\nExpect: 100-continue\r\n\r\n").utf8))
                let first = String(decoding: c.receive { String(decoding: $0, as: UTF8.self).contains("\r\n\r\n") }, as: UTF8.self)
                c.send(image)
                let rest = c.receive()
                let final = RawConnection.parse(Array(rest.isEmpty ? [] : rest))
                return (final.status, first)
            }
            #expect(interim.hasPrefix("HTTP/1.1 100 Continue"), "\(interim)")
            #expect(status == 200)

            let refused = try await blocking {
                let c = try RawConnection(port: port)
                c.send(Array(("POST /v1/upscale HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: image/png\r\n" +
                              "Content-Length: 5000000\r\nExpect: 100-continue\r\n\r\n").utf8))
                return RawConnection.parse(c.receive { String(decoding: $0, as: UTF8.self).contains("}") })
            }
            #expect(refused.status == 413 && !refused.head.contains("100 Continue"))
        }
    }

    @Test("a client that hangs up cancels its job and frees the worker")
    func hangUpCancels() async throws {
        let server = try makeServer()
        try await server.application().test(.live) { client in
            try await waitReady(client)
            let port = try #require(client.port)
            let image = try TestImages.png(width: 400, height: 300)
            let id = try await reserveJob(client)
            let connection = try await blocking { () throws -> RawConnection in
                let c = try RawConnection(port: port)
                c.send(Array(("POST /v1/upscale?tta=true&tile=32 HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\n" +
                              "X-Enhance-Job-Id: \(id)\r\nContent-Length: \(image.count)\r\n\r\n").utf8) + image)
                return c
            }
            // Hang up once the job runs (on a loaded machine that can take a while).
            for _ in 0..<300 {
                let s = try await client.execute(uri: "/v1/jobs/\(id)", method: .get).json["state"] as? String
                if s == "running" { break }
                try await Task.sleep(for: .milliseconds(100))
            }
            connection.close()
            var state = ""
            let start = ContinuousClock.now
            while ContinuousClock.now - start < .seconds(30) {
                state = try await client.execute(uri: "/v1/jobs/\(id)", method: .get).json["state"] as? String ?? ""
                if state == "cancelled" || state == "done" { break }
                try await Task.sleep(for: .milliseconds(100))
            }
            #expect(state == "cancelled")
            let next = try await client.execute(uri: "/v1/upscale", method: .post, headers: [.contentType: "image/png"],
                                                body: .init(bytes: try TestImages.png()))
            #expect(next.status == .ok)
        }
    }

    @Test("many clients at once: only 200 or 429, never 5xx; latencies reported")
    func concurrentClients() async throws {
        let server = try makeServer { $0.queueLimit = 4 }
        try await server.application().test(.live) { client in
            try await waitReady(client)
            let port = try #require(client.port)
            let image = try TestImages.png(width: 32, height: 32)
            let results = Mutex<[(Int, Double)]>([])
            try await blocking {
                DispatchQueue.concurrentPerform(iterations: 12) { worker in
                    for _ in 0..<4 {
                        let start = Date()
                        let status = (try? RawConnection.request(port: port, path: "/v1/upscale",
                                                                 headers: ["Content-Type": "image/png"], body: image).status) ?? -1
                        results.withLock { $0.append((status, Date().timeIntervalSince(start))) }
                    }
                }
            }
            let all = results.withLock { $0 }
            let statuses = Dictionary(grouping: all, by: \.0).mapValues(\.count)
            let latencies = all.map(\.1).sorted()
            print("48 requests, 12 at once: statuses \(statuses); p50 \(Int(latencies[latencies.count / 2] * 1000)) ms, " +
                  "p99 \(Int(latencies[latencies.count * 99 / 100] * 1000)) ms")
            #expect(all.count == 48)
            #expect(Set(statuses.keys).isSubset(of: [200, 429]), "\(statuses)")
            #expect((statuses[200] ?? 0) >= 4)
            let health = try await client.execute(uri: "/healthz", method: .get)
            #expect(health.status == .ok)
        }
    }
}
