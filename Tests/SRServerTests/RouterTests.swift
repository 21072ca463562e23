import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import SREngine
import SRImageIO
import SRServer
import SRTestSupport
import Testing

/// Every route and every error status, in process (no sockets); each answer is checked against openapi.json.
@Suite("HTTP routes")
struct RouterTests {
    @Test("docs, health, readiness, metadata, models and metrics answer as documented")
    func informationRoutes() async throws {
        let server = try makeServer()
        try await server.application().test(.router) { client in
            try await waitReady(client)
            let health = try await call(client, .get, "/healthz")
            #expect(health.status == .ok && health.json["status"] as? String == "ok")
            let ready = try await call(client, .get, "/readyz")
            #expect(ready.json["models"] as? [String] == [testModel])

            for path in ["/openapi.json", "/swagger.json"] {
                let doc = try await call(client, .get, path)
                #expect(doc.status == .ok)
                #expect(doc.json["openapi"] as? String == "3.1.0")
                #expect((doc.json["info"] as? [String: Any])?["title"] as? String != nil)
            }
            let metadata = try await call(client, .get, "/model/metadata")
            for key in ["id", "name", "description", "type", "source", "license"] {
                #expect(metadata.json[key] is String, "metadata lacks \(key)")
            }
            #expect(metadata.json["id"] as? String == testModel)

            let models = try await call(client, .get, "/v1/models")
            #expect(models.json["default"] as? String == testModel)
            let list = models.json["models"] as? [[String: Any]] ?? []
            // The manifest's models, then weight files installed in the models directory (setup installs ours).
            #expect(list.count == ModelManifest.embedded.models.count + server.store.localWeightModels().count)
            #expect(Array(list.prefix(ModelManifest.embedded.models.count)).compactMap { $0["id"] as? String }
                    == ModelManifest.embedded.models.map(\.id))
            let one = try await call(client, .get, "/v1/models/\(testModel)")
            #expect(one.json["scale"] as? Int == 4 && one.json["installed"] as? Bool == true)
            #expect(one.json["loaded"] as? Bool == true)
            #expect(try await call(client, .get, "/v1/models/no-such-model").status == .notFound)

            let ui = try await call(client, .get, "/ui")
            #expect(ui.status == .ok && ui.header("Content-Type")?.hasPrefix("text/html") == true)
            #expect(String(decoding: ui.bodyBytes, as: UTF8.self).contains("/v1/upscale"))

            _ = try await call(client, .get, "/healthz")
            let head = try await client.execute(uri: "/ui", method: .head)
            #expect(head.status == .ok && head.body.readableBytes == 0)
            #expect(head.headers[.contentLength] == String(ui.bodyBytes.count))
            let metrics = try await call(client, .get, "/metrics")
            let text = String(decoding: metrics.bodyBytes, as: UTF8.self)
            #expect(metrics.header("Content-Type")?.hasPrefix("text/plain") == true)
            #expect(text.contains(#"enhance_http_requests_total{route="/healthz",method="GET",status="200"}"#))
            for name in ["enhance_queue_depth", "enhance_jobs_running", "enhance_http_requests_in_flight",
                         "enhance_http_request_duration_seconds_bucket", "enhance_http_response_bytes_total"] {
                #expect(text.contains(name), "metrics lack \(name)")
            }
        }
    }

    @Test("Swagger UI: the index page and its assets, or a 404 that says how to install them")
    func swaggerUI() async throws {
        let dir = try temporaryDirectory("swagger")
        try Data("window.SwaggerUIBundle = 1;".utf8).write(to: URL(fileURLWithPath: dir + "/swagger-ui-bundle.js"))
        let server = try makeServer { $0.swaggerUIDirectory = dir }
        try await server.application().test(.router) { client in
            let index = try await call(client, .get, "/")
            #expect(index.status == .ok)
            #expect(String(decoding: index.bodyBytes, as: UTF8.self).contains("/openapi.json"))
            let js = try await call(client, .get, "/swagger-ui/swagger-ui-bundle.js")
            #expect(js.status == .ok && js.header("Content-Type")?.hasPrefix("application/javascript") == true)
            #expect(try await call(client, .get, "/swagger-ui/missing.css").status == .notFound)
            #expect(try await call(client, .get, "/swagger-ui/..%2F..%2Fetc%2Fpasswd").status == .notFound)
        }
        let bare = try makeServer { $0.swaggerUIDirectory = dir + "/nowhere" }
        try await bare.application().test(.router) { client in
            let index = try await call(client, .get, "/")
            #expect(index.status == .notFound)
            #expect((index.json["message"] as? String)?.contains("fetch_web_assets") == true)
        }
    }

    @Test("MAX contract: multipart 'image' in, a 4x PNG out, with the size headers")
    func maxPredict() async throws {
        let server = try makeServer()
        try await server.application().test(.router) { client in
            try await waitReady(client)
            let (headers, body) = multipart([("image", "photo.jpg", try TestImages.png(width: 24, height: 18))])
            let r = try await call(client, .post, "/model/predict", headers: headers, body: body)
            #expect(r.status == .ok)
            #expect(r.header("Content-Type") == "image/png")
            #expect(try imageSize(r.bodyBytes) == (96, 72))
            #expect(r.header("X-Enhance-Input-Size") == "24x18" && r.header("X-Enhance-Output-Size") == "96x72")
            #expect(r.header("X-Enhance-Resized") == "false")
            #expect(r.header("Content-Disposition") == #"inline; filename="photo_x4.png""#)
            // Unlike MAX, alpha survives.
            let (h2, b2) = multipart([("image", "a.png", try TestImages.png(width: 20, height: 20, channels: 4))])
            let a = try await call(client, .post, "/model/predict", headers: h2, body: b2)
            #expect(try ImageIO.header(data: a.bodyBytes).bands == 4)
        }
    }

    @Test("v1 upscale: raw or multipart bodies, options from the query or the form, resizing reported")
    func v1Upscale() async throws {
        let server = try makeServer()
        try await server.application().test(.router) { client in
            try await waitReady(client)
            let image = try TestImages.png(width: 30, height: 20)
            let raw = try await call(client, .post, "/v1/upscale?scale=100:0&format=jpeg&quality=80",
                                     headers: [.contentType: "image/png"], body: image)
            #expect(raw.status == .ok && raw.header("Content-Type") == "image/jpeg")
            #expect(try imageSize(raw.bodyBytes) == (100, 67))
            #expect(raw.header("X-Enhance-Native-Size") == "120x80" && raw.header("X-Enhance-Resized") == "true")
            #expect(raw.header("X-Enhance-Model") == testModel)
            #expect(raw.header("Server-Timing")?.contains("inference;dur=") == true)

            let (headers, body) = multipart([("scale", nil, Array("2".utf8)), ("format", nil, Array("webp".utf8)),
                                             ("lossless", nil, Array("true".utf8)), ("image", "x.png", image),
                                             ("tta", nil, Array("true".utf8))])
            let form = try await call(client, .post, "/v1/upscale?scale=3", headers: headers, body: body)
            #expect(form.status == .ok && form.header("Content-Type") == "image/webp")
            #expect(try imageSize(form.bodyBytes) == (60, 40), "a form field wins over the query")

            let octet = try await call(client, .post, "/v1/upscale?model=\(testModel)&tile=16",
                                       headers: [.contentType: "application/octet-stream"], body: image)
            #expect(octet.status == .ok)
            #expect(try imageSize(octet.bodyBytes) == (120, 80))
        }
    }

    @Test("job ids come from the server: a reserved id is followed to done, every upscale names its job, guessed ids are not found")
    func jobProgress() async throws {
        let server = try makeServer()
        try await server.application().test(.router) { client in
            try await waitReady(client)
            let id = try await reserveJob(client)
            #expect(id.count == 32 && id.allSatisfy(\.isHexDigit))
            #expect(try await call(client, .get, "/v1/jobs/\(id)").json["state"] as? String == "reserved")
            let r = try await call(client, .post, "/v1/upscale",
                                   headers: [.contentType: "image/png", .init("X-Request-Id")!: "job-1.a_b",
                                             .init("X-Enhance-Job-Id")!: id],
                                   body: try TestImages.png())
            #expect(r.status == .ok && r.header("X-Request-Id") == "job-1.a_b" && r.header("X-Enhance-Job-Id") == id)
            let job = try await call(client, .get, "/v1/jobs/\(id)")
            #expect(job.json["state"] as? String == "done" && job.json["progress"] as? Double == 1)
            // The client's request id names no job (it used to: anyone guessing it could read the job).
            #expect(try await call(client, .get, "/v1/jobs/job-1.a_b").status == .notFound)
            // An id serves one upload; ids the server did not reserve are refused.
            let again = try await call(client, .post, "/v1/upscale",
                                       headers: [.contentType: "image/png", .init("X-Enhance-Job-Id")!: id], body: try TestImages.png())
            #expect(again.status == .conflict && again.json["error"] as? String == "job_id_used")
            let forged = try await call(client, .post, "/v1/upscale",
                                        headers: [.contentType: "image/png", .init("X-Enhance-Job-Id")!: String(repeating: "a", count: 32)],
                                        body: try TestImages.png())
            #expect(forged.status == .badRequest && forged.json["error"] as? String == "unknown_job_id")
            // Without a reservation the server still mints one and says which.
            let plain = try await call(client, .post, "/v1/upscale", headers: [.contentType: "image/png"], body: try TestImages.png())
            let minted = try #require(plain.header("X-Enhance-Job-Id"))
            #expect(minted != id && minted.count == 32)
            #expect(try await call(client, .get, "/v1/jobs/\(minted)").json["state"] as? String == "done")
            #expect(try await call(client, .get, "/v1/jobs/never-seen").status == .notFound)
            // A request id is echoed for the logs, sanitised: only A-Z a-z 0-9 . _ - and at most 64 of them.
            let bad = try await call(client, .get, "/healthz", headers: [.init("X-Request-Id")!: "has spaces\u{7F}/and;more"])
            #expect(bad.header("X-Request-Id") == "hasspacesandmore")
        }
    }

    @Test("bad uploads each get their specific 4xx and the server keeps serving")
    func badUploads() async throws {
        let server = try makeServer { $0.maxBodyBytes = 200_000 }
        try await server.application().test(.router) { client in
            try await waitReady(client)
            let good = try TestImages.png(width: 64, height: 48)
            func expectError(_ r: TestResponse, _ status: HTTPResponse.Status, _ code: String,
                             sourceLocation: SourceLocation = #_sourceLocation) {
                #expect(r.status == status, "got \(r.status): \(r.json)", sourceLocation: sourceLocation)
                #expect(r.json["error"] as? String == code, sourceLocation: sourceLocation)
                #expect((r.json["message"] as? String)?.isEmpty == false, sourceLocation: sourceLocation)
            }
            let wrongField = multipart([("file", "x.png", good)])
            expectError(try await call(client, .post, "/model/predict", headers: wrongField.0, body: wrongField.1), .badRequest, "missing_image")
            let zero = multipart([("image", "x.png", [])])
            expectError(try await call(client, .post, "/model/predict", headers: zero.0, body: zero.1), .badRequest, "empty_image")
            let text = multipart([("image", "x.png", Array("just some text\n".utf8))])
            expectError(try await call(client, .post, "/model/predict", headers: text.0, body: text.1), .badRequest, "undecodable_image")
            let truncated = multipart([("image", "x.png", Array(good.prefix(good.count / 2)))])
            expectError(try await call(client, .post, "/model/predict", headers: truncated.0, body: truncated.1), .badRequest, "undecodable_image")
            let huge = multipart([("image", "x.png", pngHeaderOnly(width: 50_000, height: 50_000))])
            expectError(try await call(client, .post, "/model/predict", headers: huge.0, body: huge.1), .unprocessableContent, "image_too_large")
            let big = multipart([("image", "x.png", [UInt8](repeating: 7, count: 300_000))])
            let tooBig = try await call(client, .post, "/model/predict", headers: big.0, body: big.1)
            expectError(tooBig, .contentTooLarge, "body_too_large")
            expectError(try await call(client, .post, "/v1/upscale", headers: [.contentType: "text/plain"], body: good),
                        .unsupportedMediaType, "unsupported_media_type")
            expectError(try await call(client, .post, "/model/predict", headers: [.contentType: "image/png"], body: good),
                        .unsupportedMediaType, "unsupported_media_type")
            expectError(try await call(client, .post, "/v1/upscale", headers: [.contentType: "multipart/form-data"], body: good),
                        .badRequest, "bad_multipart")
            for query in ["scale=0", "scale=abc", "quality=0", "model=nope", "format=gif", "tile=3", "tta=maybe",
                          "alpha=blur", "background=purple", "bogus=1"] {
                expectError(try await call(client, .post, "/v1/upscale?\(query)", headers: [.contentType: "image/png"], body: good),
                            .badRequest, "invalid_option")
            }
            expectError(try await call(client, .post, "/v1/upscale?scale=long:200000", headers: [.contentType: "image/png"], body: good),
                        .unprocessableContent, "image_too_large")
            // Unknown routes are outside the document, so this one is not checked against it.
            expectError(try await client.execute(uri: "/no/such/route", method: .get), .notFound, "not_found")
            let wrongMethod = try await call(client, .get, "/model/predict")
            expectError(wrongMethod, .methodNotAllowed, "method_not_allowed")
            #expect(wrongMethod.header("Allow") == "POST")
            expectError(try await call(client, .delete, "/v1/models"), .methodNotAllowed, "method_not_allowed")
            // Still serving.
            let ok = try await call(client, .post, "/v1/upscale", headers: [.contentType: "image/png"], body: good)
            #expect(ok.status == .ok)
            let metrics = String(decoding: try await call(client, .get, "/metrics").bodyBytes, as: UTF8.self)
            #expect(metrics.contains(#"enhance_http_errors_total{status="413",error="body_too_large"}"#))
        }
    }

    @Test("a model the server has not installed is 409, not 500")
    func modelNotInstalled() async throws {
        let full = ModelStore()
        let dir = try temporaryDirectory("models")
        for suffix in [".param", ".bin"] {
            try? FileManager.default.copyItem(atPath: full.directory + "/" + testModel + suffix, toPath: dir + "/" + testModel + suffix)
        }
        let server = try makeServer(store: ModelStore(directory: dir))
        try await server.application().test(.router) { client in
            try await waitReady(client)
            let r = try await call(client, .post, "/v1/upscale?model=span-x2", headers: [.contentType: "image/png"], body: try TestImages.png())
            #expect(r.status == .conflict && r.json["error"] as? String == "model_not_installed")
            #expect(try await call(client, .get, "/v1/models/span-x2").json["installed"] as? Bool == false)
        }
    }

    @Test("server faults: a damaged model file is a 500 with a message; a damaged default model keeps /readyz at 503")
    func serverFaults() async throws {
        let full = ModelStore()
        let dir = try temporaryDirectory("faults")
        for id in [testModel, "span-x2"] {
            for suffix in [".param", ".bin"] {
                try FileManager.default.copyItem(atPath: full.directory + "/" + id + suffix, toPath: dir + "/" + id + suffix)
            }
        }
        guard full.isInstalled("span-x2") else { throw ModelsMissing(ids: ["span-x2"], directory: full.directory) }
        // Same size (so it counts as installed), unreadable content.
        let size = try FileManager.default.attributesOfItem(atPath: dir + "/span-x2.param")[.size] as! Int
        try Data(repeating: 0x21, count: size).write(to: URL(fileURLWithPath: dir + "/span-x2.param"))
        let server = try makeServer(store: ModelStore(directory: dir))
        try await server.application().test(.router) { client in
            try await waitReady(client)
            let r = try await call(client, .post, "/v1/upscale?model=span-x2", headers: [.contentType: "image/png"], body: try TestImages.png())
            #expect(r.status == .internalServerError && r.json["error"] as? String == "inference_failed")
            #expect((r.json["message"] as? String)?.contains("span-x2") == true)
            #expect(try await call(client, .post, "/v1/upscale", headers: [.contentType: "image/png"], body: try TestImages.png()).status == .ok)
        }
        let broken = try makeServer({ $0.defaultModel = "span-x2" }, store: ModelStore(directory: dir))
        try await broken.application().test(.router) { client in
            var ready = try await call(client, .get, "/readyz")
            for _ in 0..<100 where !broken.queue.hasFailedWorkers {
                try await Task.sleep(for: .milliseconds(50))
                ready = try await call(client, .get, "/readyz")
            }
            #expect(broken.queue.hasFailedWorkers)
            #expect(ready.status == .serviceUnavailable)
            let r = try await call(client, .post, "/v1/upscale", headers: [.contentType: "image/png"], body: try TestImages.png())
            #expect(r.status == .serviceUnavailable && r.json["error"] as? String == "not_ready")
            #expect((r.json["message"] as? String)?.contains("failed to load") == true)
        }
    }

    @Test("a full queue answers 429 with Retry-After")
    func queueFull() async throws {
        let server = try makeServer { $0.queueLimit = 0 }
        try await server.application().test(.router) { client in
            try await waitReady(client)
            let r = try await call(client, .post, "/v1/upscale", headers: [.contentType: "image/png"], body: try TestImages.png())
            #expect(r.status == .tooManyRequests && r.json["error"] as? String == "queue_full")
            #expect(r.header("Retry-After").flatMap(Int.init).map { $0 >= 1 } == true)
        }
    }

    @Test("work past the deadline is cancelled and answered 504")
    func deadline() async throws {
        let server = try makeServer { $0.deadline = .milliseconds(300) }
        try await server.application().test(.router) { client in
            try await waitReady(client)
            let start = ContinuousClock.now
            let id = try await reserveJob(client)
            let r = try await call(client, .post, "/v1/upscale?tta=true&tile=32",
                                   headers: [.contentType: "image/png", .init("X-Enhance-Job-Id")!: id],
                                   body: try TestImages.png(width: 400, height: 300))
            #expect(r.status == .gatewayTimeout && r.json["error"] as? String == "deadline_exceeded", "\(r.status) \(r.json)")
            _ = start
            // Cancelled between network passes, long before the ~1000 passes of the whole job.
            let job = try await call(client, .get, "/v1/jobs/\(id)").json
            #expect(job["state"] as? String == "cancelled")
            #expect((job["progress"] as? Double ?? 1) < 0.5, "\(job)")
        }
    }

    @Test("during the drain delay readiness fails and upscales are still served; a draining queue refuses with 503")
    func draining() async throws {
        let server = try makeServer()
        try await server.application().test(.router) { client in
            try await waitReady(client)
            server.beginDraining()
            let ready = try await call(client, .get, "/readyz")
            #expect(ready.status == .serviceUnavailable && ready.json["status"] as? String == "draining")
            let served = try await call(client, .post, "/v1/upscale", headers: [.contentType: "image/png"], body: try TestImages.png())
            #expect(served.status == .ok)
            #expect(try await call(client, .get, "/healthz").status == .ok)
        }
        // The queue drains when the application shuts down (after the delay): then new jobs get 503.
        let closing = try makeServer()
        try await closing.application().test(.router) { client in
            try await waitReady(client)
            closing.queue.stop()
            closing.queue.markDraining()
            let r = try await call(client, .post, "/v1/upscale", headers: [.contentType: "image/png"], body: try TestImages.png())
            #expect(r.status == .serviceUnavailable && r.json["error"] as? String == "draining")
        }
    }

    @Test("CORS: preflight and exposed headers for an allowed origin")
    func cors() async throws {
        let server = try makeServer { $0.corsOrigins = ["https://app.example"] }
        try await server.application().test(.router) { client in
            let pre = try await client.execute(uri: "/v1/upscale", method: .options,
                                               headers: [.origin: "https://app.example", .accessControlRequestMethod: "POST"])
            #expect(pre.headers[.accessControlAllowOrigin] == "https://app.example")
            #expect(pre.headers[.accessControlAllowMethods]?.contains("POST") == true)
            let get = try await client.execute(uri: "/healthz", method: .get, headers: [.origin: "https://app.example"])
            #expect(get.headers[.accessControlAllowOrigin] == "https://app.example")
            #expect(get.headers[.accessControlExposeHeaders]?.contains("X-Enhance-Output-Size") == true)
            let other = try await client.execute(uri: "/healthz", method: .get, headers: [.origin: "https://evil.example"])
            #expect(other.headers[.accessControlAllowOrigin] == nil)
        }
    }

    @Test("every documented route exists and every route is documented")
    func routesMatchDocument() throws {
        let doc = try JSONSerialization.jsonObject(with: Data(EnhanceServer.documentJSON.utf8)) as? [String: Any]
        let paths = doc?["paths"] as? [String: [String: Any]] ?? [:]
        var documented = Set<String>()
        for (path, ops) in paths { for method in ops.keys where ["get", "post", "put", "delete", "patch"].contains(method) {
            documented.insert("\(method.uppercased()) \(path)")
        } }
        let served = Set(EnhanceServer.routeList.map { "\($0.method) \($0.path)" })
        #expect(documented == served)
    }
}

/// A PNG that is only a signature and an IHDR chunk claiming `width` x `height` (and a tiny IDAT).
func pngHeaderOnly(width: Int, height: Int) -> [UInt8] {
    func be32(_ v: Int) -> [UInt8] { [UInt8(v >> 24 & 255), UInt8(v >> 16 & 255), UInt8(v >> 8 & 255), UInt8(v & 255)] }
    func chunk(_ type: String, _ data: [UInt8]) -> [UInt8] {
        let t = Array(type.utf8)
        return be32(data.count) + t + data + be32(Int(crc32(t + data)))
    }
    let ihdr = be32(width) + be32(height) + [8, 2, 0, 0, 0]
    return [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] + chunk("IHDR", ihdr)
        + chunk("IDAT", [0x78, 0x9C, 0x63, 0, 0, 0, 1, 0, 1]) + chunk("IEND", [])
}

func crc32(_ bytes: [UInt8]) -> UInt32 {
    var c: UInt32 = 0xFFFF_FFFF
    for b in bytes {
        c ^= UInt32(b)
        for _ in 0..<8 { c = c & 1 != 0 ? (c >> 1) ^ 0xEDB8_8320 : c >> 1 }
    }
    return ~c
}
