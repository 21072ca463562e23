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
/// one bounded inference queue. The routes are in route groups, one file each (`MAXRoutes`, `DocsRoutes`,
/// `V1Routes`, `OperationsRoutes`); the upscale both APIs share is in `EnhanceServer+Upscale.swift`.
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
    let admitted = Mutex(0)
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
                                    backends: configuration.backends, store: store,
                                    preload: [catalog.source(catalog.defaultID)], maxMemory: configuration.maxMemory,
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

    /// The route groups, in the order they are added to the router: one file each.
    func routeGroups() -> [RouteCollection<EnhanceContext>] {
        [MAXRoutes(server: self).collection(), DocsRoutes(server: self).collection(), V1Routes(server: self).collection(),
         OperationsRoutes(server: self).collection()]
    }

    /// Every route as (method, path template): read from the groups' tables (405 answers, tests).
    static let routes: [(method: HTTPRequest.Method, path: String)] =
        MAXRoutes.routeList + DocsRoutes.routeList + V1Routes.routeList + OperationsRoutes.routeList

    /// The routes as "METHOD /path/{param}" pairs, and the OpenAPI document they must match (tests).
    public static var routeList: [(method: String, path: String)] { routes.map { ($0.method.rawValue, $0.path) } }
    public static var documentJSON: String { EmbeddedOpenAPI.json }

    /// The router: request ids, HEAD, metrics, CORS (when configured) and errors as middleware, then the route
    /// groups (`MAXRoutes`, `DocsRoutes`, `V1Routes`, `OperationsRoutes`).
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

        for group in routeGroups() { router.addRoutes(group) }
        return router
    }

    // MARK: Responses

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
}
