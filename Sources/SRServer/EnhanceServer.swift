import Foundation
import HTTPTypes
public import Hummingbird
public import Logging
import NIOCore
public import SREngine
import SRImageIO
import ServiceLifecycle
import Synchronization

/// `enhance serve`: the MAX-compatible routes, the v1 API, docs, the web page and operations endpoints, over
/// one bounded inference queue.
public final class EnhanceServer: Sendable {
    public let configuration: ServerConfiguration
    public let store: ModelStore
    /// The models offered: the manifest's and weight files (see `ModelCatalog`).
    public let catalog: ModelCatalog
    public let metrics: ServerMetrics
    public let queue: InferenceQueue
    let jobs: JobRegistry
    let logger: Logger
    let swaggerUI: String?
    private let draining = Mutex(false)
    /// Upscale requests between arrival and answer; at most `workers + queueLimit` (each may hold an upload of up
    /// to `maxBodyBytes`), one more gets `429` before its body is read.
    private let admitted = Mutex(0)
    /// Where this server writes its outputs before streaming them back: a folder of its own inside
    /// `configuration.temporaryDirectory`, so a killed server's leftovers are found and removed at the next start.
    let scratch: ScratchDirectory

    /// - Parameter catalog: the models to offer, when the caller has built it already (`enhance serve` does, to
    ///   report a bad default weight file before it listens); nil: built here.
    public init(configuration: ServerConfiguration, store: ModelStore = ModelStore(), catalog: ModelCatalog? = nil,
                metrics: ServerMetrics = ServerMetrics(), logger: Logger = Logger(label: "enhance.server")) {
        self.configuration = configuration
        self.store = store
        let catalog = catalog ?? (try? ModelCatalog(store: store, defaultModel: configuration.defaultModel))
            ?? ModelCatalog(manifestOf: store, defaultModel: configuration.defaultModel)
        self.catalog = catalog
        self.metrics = metrics
        self.logger = logger
        self.jobs = JobRegistry(retention: configuration.jobRetention)
        self.queue = InferenceQueue(workers: configuration.workers, limit: configuration.queueLimit,
                                    threadsPerWorker: configuration.resolvedThreadsPerWorker, store: store,
                                    preload: [catalog.source(catalog.defaultID)], maxMemory: configuration.maxMemory,
                                    precision: configuration.precision,
                                    metrics: metrics, logger: logger)
        self.swaggerUI = SwaggerUI.directory(configured: configuration.swaggerUIDirectory)
        self.scratch = ScratchDirectory(parent: configuration.temporaryDirectory, logger: logger)
    }

    /// Whether the Swagger UI assets were found (else `/` answers 404 with how to install them).
    public var swaggerUIAvailable: Bool { swaggerUI != nil }

    var isDraining: Bool { draining.withLock { $0 } || queue.isDraining }

    /// Marks the server as draining: `/readyz` answers 503 while requests are still served (the drain delay).
    public func beginDraining() { draining.withLock { $0 = true } }

    // MARK: Application

    /// The Hummingbird application (router, `Expect: 100-continue` handling, the queue as a service).
    public func application() -> some ApplicationProtocol {
        let limit = configuration.maxBodyBytes
        return Application(
            router: router(),
            server: .http1(configuration: .init(additionalChannelHandlers: [ConnectionHandler(maxBodyBytes: limit)],
                                                idleTimeout: .seconds(120))),
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "enhance"),
            services: [queue],
            logger: logger)
    }

    /// Runs until SIGTERM/SIGINT, then drains: `/readyz` fails at once, requests keep being served for
    /// `drainDelay`, then the listener closes and in-flight requests finish before the process exits.
    public func run() async throws {
        let app = application()
        let drain = DrainService(server: self, delay: configuration.drainDelay, logger: logger)
        let group = ServiceGroup(configuration: .init(services: [app, drain], gracefulShutdownSignals: [.sigterm, .sigint],
                                                      logger: logger))
        try await group.run()
    }

    // MARK: Routes

    static let routes: [(method: HTTPRequest.Method, path: String)] = [
        (.get, "/"), (.get, "/swagger.json"), (.get, "/model/metadata"), (.post, "/model/predict"),
        (.get, "/openapi.json"), (.get, "/swagger-ui/{file}"), (.get, "/ui"), (.post, "/v1/upscale"),
        (.get, "/v1/models"), (.get, "/v1/models/{id}"), (.post, "/v1/jobs/reserve"), (.get, "/v1/jobs/{id}"),
        (.get, "/healthz"),
        (.get, "/readyz"), (.get, "/metrics"),
    ]

    /// The routes as "METHOD /path/{param}" pairs, and the OpenAPI document they must match (tests).
    public static var routeList: [(method: String, path: String)] { routes.map { ($0.method.rawValue, $0.path) } }
    public static var documentJSON: String { EmbeddedOpenAPI.json }

    public func router() -> Router<EnhanceContext> {
        let router = Router(context: EnhanceContext.self)
        router.add(middleware: RequestIDMiddleware())
        router.add(middleware: HeadMiddleware())
        router.add(middleware: MetricsMiddleware(metrics: metrics))
        if !configuration.corsOrigins.isEmpty {
            let origins = configuration.corsOrigins
            router.add(middleware: CORSSupplement(origins: origins.contains("*") ? nil : Set(origins),
                                                  exposed: UpscaleHeaders.exposed.map { $0.rawName }.joined(separator: ", ")))
            router.add(middleware: CORSMiddleware(
                allowOrigin: origins.contains("*") ? .all : .originBased,
                allowHeaders: [.contentType, .xRequestID, .xEnhanceJobID],
                allowMethods: [.get, .post, .options],
                exposedHeaders: UpscaleHeaders.exposed.map { $0.rawName },
                maxAge: .seconds(600)))
        }
        router.add(middleware: ErrorMiddleware(routes: Self.routes))

        // Every GET route also answers HEAD (HeadMiddleware drops the body).
        func get(_ path: RouterPath, _ handler: @escaping @Sendable (Request, EnhanceContext) async throws -> Response) {
            router.get(path, use: handler)
            router.head(path, use: handler)
        }

        // MAX-compatible
        get("/") { _, _ in try self.swaggerIndex() }
        get("/swagger.json") { _, _ in Self.json(EmbeddedOpenAPI.json) }
        get("/model/metadata") { _, _ in try self.metadata() }
        router.post("/model/predict") { request, context in try await self.upscale(request, context, max: true) }

        // Docs and the web page
        get("/openapi.json") { _, _ in Self.json(EmbeddedOpenAPI.json) }
        get("/swagger-ui/{file}") { _, context in try self.swaggerAsset(context.parameters.get("file") ?? "") }
        get("/ui") { _, _ in Self.html(EmbeddedWeb.uiHTML) }

        // v1
        router.post("/v1/upscale") { request, context in try await self.upscale(request, context, max: false) }
        get("/v1/models") { _, _ in try self.modelList() }
        get("/v1/models/{id}") { _, context in try self.model(context.parameters.get("id") ?? "") }
        router.post("/v1/jobs/reserve") { _, _ in try self.reserveJob() }
        get("/v1/jobs/{id}") { _, context in try self.job(context.parameters.get("id") ?? "") }

        // Operations
        get("/healthz") { _, _ in Self.json(#"{"status":"ok"}"#) }
        get("/readyz") { _, _ in self.readiness() }
        get("/metrics") { _, _ in
            Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                     body: .init(byteBuffer: ByteBuffer(string: self.metrics.exposition())))
        }
        return router
    }

    // MARK: Simple routes

    static func json(_ text: String, status: HTTPResponse.Status = .ok) -> Response {
        Response(status: status, headers: [.contentType: "application/json; charset=utf-8"],
                 body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    static func json(_ object: Any, status: HTTPResponse.Status = .ok) throws -> Response {
        let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
        return Response(status: status, headers: [.contentType: "application/json; charset=utf-8"],
                        body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    static func html(_ text: String) -> Response {
        Response(status: .ok, headers: [.contentType: "text/html; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    func readiness() -> Response {
        if isDraining { return Self.json(#"{"status":"draining"}"#, status: .serviceUnavailable) }
        if queue.isReady {
            let models = [catalog.defaultID].map { "\"\($0)\"" }.joined(separator: ",")
            return Self.json(#"{"status":"ready","models":[\#(models)]}"#)
        }
        return Self.json(#"{"status":"loading"}"#, status: .serviceUnavailable)
    }

    func metadata() throws -> Response {
        let id = catalog.defaultID
        let entry = catalog.entry(id)
        return try Self.json([
            "id": id,
            "name": entry?.name ?? id,
            "description": entry.map { "\($0.description) (Enhance; \($0.scale)x \($0.kind) super-resolution)" } ?? id,
            "type": "Image-To-Image Translation",
            "source": entry?.upstream ?? "",
            "license": entry?.licence ?? "",
        ] as [String: Any])
    }

    func modelObject(_ entry: ModelManifest.Entry) -> [String: Any] {
        let installed = (try? store.resolve(catalog.source(entry.id))) != nil
        return [
            "id": entry.id, "name": entry.name, "description": entry.description, "architecture": entry.architecture,
            "scale": entry.scale, "license": entry.licence, "source": entry.upstream, "installed": installed,
            "loaded": queue.loadedModels.contains(catalog.source(entry.id)),
        ]
    }

    func modelList() throws -> Response {
        try Self.json(["default": catalog.defaultID, "models": catalog.entries.map(modelObject)] as [String: Any])
    }

    func model(_ id: String) throws -> Response {
        guard let entry = catalog.entry(id) else {
            throw APIError.notFound("no model '\(id)'; see GET /v1/models")
        }
        return try Self.json(modelObject(entry))
    }

    func reserveJob() throws -> Response {
        let id: String
        do { id = try jobs.reserve() } catch {
            throw APIError(.tooManyRequests, "too_many_jobs", "\(jobs.capacity) jobs are reserved or running; retry later",
                           headers: [.retryAfter: "5"])
        }
        var response = try Self.json(["id": id, "state": "reserved", "expires_in_s": Int(configuration.jobRetention.seconds),
                                      "status_url": "/v1/jobs/\(id)"] as [String: Any], status: .created)
        response.headers[.location] = "/v1/jobs/\(id)"
        return response
    }

    func job(_ id: String) throws -> Response {
        guard JobRegistry.isWellFormed(id), let entry = jobs.get(id) else {
            throw APIError.notFound("no job '\(id)': job ids come from the server (POST /v1/jobs/reserve, or the X-Enhance-Job-Id header of an upscale) and are kept \(Int(configuration.jobRetention.seconds)) s")
        }
        var object: [String: Any] = ["id": id, "state": entry.state.rawValue, "progress": (entry.progress * 1000).rounded() / 1000]
        if entry.state == .queued, let position = queue.position(of: id) { object["queue_position"] = position }
        return try Self.json(object)
    }

    func swaggerIndex() throws -> Response {
        guard swaggerUI != nil else {
            throw APIError(.notFound, "not_found",
                           "Swagger UI is not installed on this server (run scripts/setup.sh or python3 scripts/fetch_web_assets.py); the API document is at /openapi.json")
        }
        return Self.html(SwaggerUI.indexHTML)
    }

    func swaggerAsset(_ file: String) throws -> Response {
        guard let dir = swaggerUI, let (bytes, type) = SwaggerUI.asset(file, in: dir) else {
            throw APIError.notFound("no Swagger UI asset '\(file)'")
        }
        return Response(status: .ok, headers: [.contentType: type, .cacheControl: "public, max-age=86400"],
                        body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    // MARK: Upscale

    func upscale(_ request: Request, _ context: EnhanceContext, max: Bool) async throws -> Response {
        // During --drain-delay only readiness fails (the load balancer stops sending); jobs are still served.
        if queue.isDraining { throw APIError.draining }
        guard queue.isReady else {
            if queue.hasFailedWorkers {
                throw APIError(.serviceUnavailable, "not_ready",
                               "the default model '\(catalog.defaultID)' failed to load; see the server log",
                               headers: [.retryAfter: "60"])
            }
            throw APIError.notReady
        }
        // Admission: bounds the uploads held in memory, before the body is read.
        let capacity = queue.workers + queue.limit
        let admittedNow = admitted.withLock { n in
            if n >= capacity { return false }
            n += 1
            return true
        }
        guard admittedNow else {
            throw APIError.queueFull(retryAfter: queue.retryAfterSeconds, limit: queue.limit)
        }
        defer { admitted.withLock { $0 -= 1 } }

        // The job id: one the client reserved (sent as X-Enhance-Job-Id), else a fresh one.
        let id: String
        if let reserved = request.headers[.xEnhanceJobID] {
            do { try jobs.claim(reserved) } catch {
                switch error {
                case .unknown:
                    throw APIError(.badRequest, "unknown_job_id",
                                   "X-Enhance-Job-Id '\(reserved.prefix(64))' is not a job id this server reserved (POST /v1/jobs/reserve), or it expired")
                case .alreadyUsed:
                    throw APIError(.conflict, "job_id_used", "job '\(reserved.prefix(64))' was already used by another upload; reserve a new one")
                }
            }
            id = reserved
        } else {
            id = jobs.start()
        }
        var jobSettled = false
        defer { if !jobSettled { jobs.update(id, .failed) } }

        let upload: Upload
        let watchdog = UploadWatchdog(channel: context.channel, timeout: configuration.uploadTimeout)
        do {
            upload = try await Upload.read(request, limit: configuration.maxBodyBytes, allowRaw: !max)
            watchdog.finish()
        } catch {
            watchdog.finish()
            if watchdog.fired {
                throw APIError(.requestTimeout, "upload_timeout",
                               "the request body did not arrive within \(Int(configuration.uploadTimeout.seconds)) s; the connection was closed")
            }
            if let error = error as? APIError { throw error }
            throw ClientFault.classify(error, channel: context.channel)
        }
        if let declared = request.headers[.contentLength].flatMap(Int.init), upload.bytesRead < declared {
            // The stream ended early: the client hung up (or sent less than it announced).
            throw ClientFault.classify(ClientFault.ShortBody(declared: declared, received: upload.bytesRead),
                                       channel: context.channel)
        }
        var values: [String: String] = [:]
        if !max {
            for (k, v) in request.uri.queryParameters { values[String(k)] = String(v) }
            for (k, v) in upload.fields { values[k] = v }
        }
        let parameters = try UpscaleParameters(values, catalog: catalog)
        do { _ = try store.resolve(catalog.source(parameters.model)) } catch {
            throw APIError(.conflict, "model_not_installed",
                           "model '\(parameters.model)' is not installed on this server; install it there with python3 scripts/fetch_models.py \(parameters.model)")
        }

        // Cheap checks before any pixel is decoded, on a thread of their own (never on an event loop: a header can
        // take a parser a while, and the loaders are limited to the documented raster formats).
        let header: ImageIO.Header
        do {
            let image = upload.image
            header = try await OffLoop.run { () throws(ImageIOError) in try ImageIO.header(data: image) }
        } catch {
            throw Self.apiError(error)
        }
        let pixels = header.width * header.height
        guard pixels <= configuration.maxInputPixels else {
            throw APIError.imageTooLarge("the image is \(header.width)x\(header.height) = \(pixels) pixels; this server accepts at most \(configuration.maxInputPixels) input pixels")
        }
        do {
            _ = try parameters.outputSize.resolve(inputWidth: header.width, inputHeight: header.height,
                                                  nativeScale: parameters.entry.scale)
        } catch {
            if case .tooLarge = error { throw APIError.imageTooLarge("scale: \(error.description)") }
            throw APIError.invalidOption("scale: \(error.description)")
        }

        // The job: queue, deadline, hang-up.
        let cancellation = Cancellation()
        let reason = Mutex<String?>(nil)
        let deadline = configuration.deadline
        let timer = Task {
            try await Task.sleep(for: deadline)
            reason.withLock { $0 = $0 ?? "deadline" }
            cancellation.cancel()
        }
        defer { timer.cancel() }
        let hangUp: @Sendable () -> Void = {
            reason.withLock { $0 = $0 ?? "disconnected" }
            cancellation.cancel()
        }
        let watch = context.channel.map { ConnectionWatch.onClose($0, hangUp) }
        defer { if let channel = context.channel, let watch { ConnectionWatch.cancel(channel, watch) } }
        let enqueued = ContinuousClock.now
        let path = scratch.file("\(id)\(parameters.format.suffix)")
        let image = upload.image, jobs = self.jobs, maxPixels = configuration.maxInputPixels
        let source = catalog.source(parameters.model)
        let maxMemory = configuration.maxMemory
        let result: UpscaleResult
        do {
            result = try await withTaskCancellationHandler {
                try await queue.run(id: id, cancellation: cancellation) { ticket in
                    let started = ContinuousClock.now
                    jobs.update(id, .running, progress: 0)
                    let decoded = try ImageIO.decode(data: image, maxPixels: maxPixels)
                    let model = try ticket.engine.model(source)
                    let options = UpscaleOptions(
                        maxMemory: maxMemory, tileSize: parameters.tile, outputSize: parameters.outputSize,
                        alpha: parameters.alpha, tta: parameters.tta, cancellation: cancellation,
                        progress: ProgressSink { p in jobs.update(id, p >= 1 ? .encoding : .running, progress: p) })
                    let size = try ticket.engine.upscale(decoded, with: model, options: options, writingTo: path,
                                                         encodeOptions: parameters.encode)
                    return UpscaleResult(path: path, input: (decoded.width, decoded.height),
                                         native: (decoded.width * model.scale, decoded.height * model.scale),
                                         output: size, queueWait: started - enqueued, inference: ContinuousClock.now - started)
                }
            } onCancel: {
                cancellation.cancel()
            }
        } catch {
            try? FileManager.default.removeItem(atPath: path)
            let why = reason.withLock { $0 }
            jobs.update(id, why == nil ? .failed : .cancelled)
            jobSettled = true
            // A cancelled run may surface as the encoder's error (the rows stopped coming): the reason wins.
            throw Self.apiError(why == nil ? error : EngineError.cancelled, reason: why, deadline: deadline,
                                queueLimit: queue.limit)
        }
        jobs.update(id, .done, progress: 1)
        jobSettled = true
        metrics.inference(model: parameters.model, duration: result.inference, outputPixels: result.output.width * result.output.height)
        logger.info("upscaled", metadata: [
            "request_id": "\(id)", "model": "\(parameters.model)", "input": "\(result.input.width)x\(result.input.height)",
            "output": "\(result.output.width)x\(result.output.height)", "seconds": "\(result.inference.seconds)",
        ])
        var response = try Self.fileResponse(result, parameters: parameters, upload: upload)
        response.headers[.xEnhanceJobID] = id
        if let warning = header.droppedFramesWarning { response.headers[.xEnhanceWarning] = warning }
        return response
    }

    static func apiError(_ error: any Error, reason: String?, deadline: Duration, queueLimit: Int) -> any Error {
        switch error {
        case let full as InferenceQueue.Full:
            return APIError.queueFull(retryAfter: full.retryAfterSeconds, limit: queueLimit)
        case let e as EngineError:
            switch e {
            case .cancelled:
                if reason == "deadline" { return APIError.deadlineExceeded(deadline.seconds) }
                return APIError(.badRequest, "cancelled", "the request was cancelled (\(reason ?? "client went away"))")
            case .image(let image): return apiError(image)
            case .invalidOption(let m): return APIError.invalidOption(m)
            case .unknownModel, .modelNotInstalled:
                return APIError(.conflict, "model_not_installed", e.description)
            case .modelFile, .backend:
                return APIError(.internalServerError, "inference_failed", e.description)
            }
        case let e as ImageIOError:
            return apiError(e)
        default:
            return error
        }
    }

    static func apiError(_ e: ImageIOError) -> APIError {
        switch e {
        case .notAnImage, .decodeFailed, .fileNotFound: .undecodable(e.description)
        case .formatNotAccepted(_, let format):
            APIError(.unsupportedMediaType, "format_not_accepted",
                     "\(format) uploads are not accepted: this server reads \(ImageIO.acceptedFormats)")
        case .tooLarge: .imageTooLarge(e.description)
        case .alphaNotSupported, .formatUnavailable, .invalidOption, .unsupportedOutputFormat:
            .invalidOption(e.description)
        case .encodeFailed, .resizeFailed: APIError(.internalServerError, "encode_failed", e.description)
        }
    }

    /// Streams the finished file back; it is unlinked as soon as it is open, so nothing is left behind even
    /// when the client hangs up mid-transfer.
    static func fileResponse(_ r: UpscaleResult, parameters: UpscaleParameters, upload: Upload) throws -> Response {
        guard let handle = FileHandle(forReadingAtPath: r.path) else {
            throw APIError(.internalServerError, "encode_failed", "the encoded output disappeared")
        }
        let size = (try? FileManager.default.attributesOfItem(atPath: r.path)[.size] as? Int) ?? nil
        try? FileManager.default.removeItem(atPath: r.path)
        let box = HandleBox(handle)
        var headers = UpscaleHeaders.make(r, parameters: parameters, upload: upload)
        headers[.contentType] = parameters.contentType
        return Response(status: .ok, headers: headers, body: ResponseBody(contentLength: size) { writer in
            defer { box.close() }
            while let chunk = box.read(256 << 10) {
                try await writer.write(ByteBuffer(bytes: chunk))
            }
            try await writer.finish(nil)
        })
    }
}

/// A file handle read by one response body at a time.
final class HandleBox: @unchecked Sendable {
    private let handle: FileHandle
    init(_ handle: FileHandle) { self.handle = handle }
    func read(_ count: Int) -> Data? {
        let d = (try? handle.read(upToCount: count)) ?? nil
        return (d?.isEmpty ?? true) ? nil : d
    }
    func close() { try? handle.close() }
}

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

/// What Hummingbird's CORSMiddleware leaves out: with an origin allow-list it echoes any origin, so the grant is
/// taken back for other origins (the browser then blocks the response; same-origin pages such as /ui need no
/// grant); and `Access-Control-Expose-Headers` goes on actual responses too (it only sends it on preflights), so
/// browser clients can read the X-Enhance-* headers.
struct CORSSupplement: RouterMiddleware {
    typealias Context = EnhanceContext
    let origins: Set<String>?
    let exposed: String
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var response = try await next(request, context)
        guard let origin = request.headers[.origin] else { return response }
        if let origins, !origins.contains(origin) {
            response.headers[.accessControlAllowOrigin] = nil
        } else if request.method != .options {
            response.headers[.accessControlExposeHeaders] = exposed
        }
        return response
    }
}

/// On SIGTERM/SIGINT: fail readiness at once, keep serving for `delay`, then let the application drain.
struct DrainService: Service {
    let server: EnhanceServer
    let delay: Duration
    let logger: Logger

    func run() async throws {
        try? await gracefulShutdown()
        server.beginDraining()
        logger.info("shutdown requested: /readyz now fails; draining", metadata: ["delay_seconds": "\(delay.seconds)"])
        if delay > .zero { try? await Task.sleep(for: delay) }
    }
}
