import Foundation
import SRImageIO
import SRTestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// `enhance serve` in its own process on a free port.
final class ServeProcess: @unchecked Sendable {
    let process = Process()
    let port: Int
    let log: String

    init(_ extra: [String] = []) throws {
        port = Int.random(in: 20000...60000)
        log = FileManager.default.temporaryDirectory.appendingPathComponent("serve-\(port).log").path
        FileManager.default.createFile(atPath: log, contents: nil)
        process.executableURL = TestPaths.enhanceExecutable
        process.arguments = ["serve", "--port", String(port), "-m", testModel, "--threads", "1"] + extra
        process.standardError = FileHandle(forWritingAtPath: log)
        process.standardOutput = FileHandle(forWritingAtPath: log)
        try process.run()
        let start = Date()
        while Date().timeIntervalSince(start) < 60 {
            if let r = try? RawConnection.request(port: port, method: "GET", path: "/readyz"), r.status == 200 { return }
            Thread.sleep(forTimeInterval: 0.1)
        }
        throw ServeFailed(log: (try? String(contentsOfFile: log, encoding: .utf8)) ?? "")
    }

    deinit { if process.isRunning { process.terminate() } }

    struct ServeFailed: Error, CustomStringConvertible {
        let log: String
        var description: String { "enhance serve did not become ready:\n\(log)" }
    }
}

@Suite("enhance serve as a process", .serialized)
struct ServeProcessTests {
    @Test("SIGTERM: readiness fails at once, the request in flight finishes, the process exits 0")
    func gracefulDrain() async throws {
        let server = try ServeProcess(["--drain-delay", "5"])
        let image = try TestImages.png(width: 96, height: 72)
        // The request in flight runs on its own thread and is fully sent before the signal.
        let sent = DispatchSemaphore(value: 0)
        let inflight = Task.detached { () throws -> (status: Int, head: String, body: [UInt8]) in
            try await blocking {
                let c = try RawConnection(port: server.port)
                c.send(Array(("POST /v1/upscale?tta=true HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" +
                              "Content-Type: image/png\r\nContent-Length: \(image.count)\r\n\r\n").utf8) + image)
                sent.signal()
                return RawConnection.parse(c.receive())
            }
        }
        // Signal and probe from one plain thread: Swift Testing's cooperative threads (two on this machine) may be
        // busy with other suites for seconds, longer than the drain delay.
        let pid = server.process.processIdentifier, port = server.port
        let ready = try await blocking { () throws -> (status: Int, head: String, body: [UInt8]) in
            sent.wait()
            Thread.sleep(forTimeInterval: 0.2)
            kill(pid, SIGTERM)
            Thread.sleep(forTimeInterval: 0.3)
            return try RawConnection.request(port: port, method: "GET", path: "/readyz")
        }
        #expect(ready.status == 503 && String(decoding: ready.body, as: UTF8.self).contains("draining"))
        let answer = try await inflight.value
        #expect(answer.status == 200, "\(answer.head)")
        #expect(try ImageIO.header(data: answer.body).width == 384)
        let start = Date()
        while server.process.isRunning && Date().timeIntervalSince(start) < 30 { try await Task.sleep(for: .milliseconds(100)) }
        #expect(!server.process.isRunning)
        #expect(server.process.terminationStatus == 0)
    }

    @Test("enhance upscale --server sends the job, writes the answer atomically, reports refusals")
    func remoteUpscale() throws {
        let server = try ServeProcess()
        let dir = try temporaryDirectory("remote")
        try FileManager.default.createDirectory(atPath: dir + "/batch", withIntermediateDirectories: true)
        try Data(try TestImages.png(width: 20, height: 16)).write(to: URL(fileURLWithPath: dir + "/in.png"))
        let url = "http://127.0.0.1:\(server.port)"

        let r = try enhance(["upscale", dir + "/in.png", "--server", url, "-o", dir + "/out.webp"])
        #expect(r.status == 0, "\(r.stderr)")
        let out = try ImageIO.header(path: dir + "/out.webp")
        #expect((out.width, out.height) == (80, 64) && out.loader.contains("webp"))

        let scaled = try enhance(["upscale", dir + "/in.png", "--server", url, "--width", "50", "-o", dir + "/w50.png"])
        #expect(scaled.status == 0, "\(scaled.stderr)")
        #expect(try ImageIO.header(path: dir + "/w50.png").width == 50)

        try Data("not an image".utf8).write(to: URL(fileURLWithPath: dir + "/text.png"))
        let bad = try enhance(["upscale", dir + "/text.png", "--server", url, "-o", dir + "/bad.png"])
        #expect(bad.status != 0 && bad.stderr.contains("HTTP 400") && bad.stderr.contains("cannot decode"), "\(bad.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/bad.png"))
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.contains(".part") }
        #expect(leftovers.isEmpty)

        let unknown = try enhance(["upscale", dir + "/in.png", "--server", url, "-m", "no-such-model"])
        #expect(unknown.status != 0 && unknown.stderr.contains("no-such-model"))

        try Data(try TestImages.png(width: 12, height: 12)).write(to: URL(fileURLWithPath: dir + "/batch/a.png"))
        try Data(try TestImages.png(width: 10, height: 14)).write(to: URL(fileURLWithPath: dir + "/batch/b.png"))
        try Data("junk".utf8).write(to: URL(fileURLWithPath: dir + "/batch/c.png"))
        let batch = try enhance(["upscale", dir + "/batch", "--server", url, "-o", dir + "/batch-out", "--format", "png"])
        #expect(batch.status != 0, "one file of three is not an image")
        #expect(try ImageIO.header(path: dir + "/batch-out/a.png").width == 48)
        #expect(try ImageIO.header(path: dir + "/batch-out/b.png").height == 56)

        server.process.terminate()
        server.process.waitUntilExit()
        let down = try enhance(["upscale", dir + "/in.png", "--server", url, "-o", dir + "/down.png"])
        #expect(down.status != 0 && down.stderr.contains("cannot reach"), "\(down.stderr)")
        let wrong = try enhance(["upscale", dir + "/in.png", "--server", "ftp://x"])
        #expect(wrong.status != 0 && wrong.stderr.contains("http://"))
    }
}
