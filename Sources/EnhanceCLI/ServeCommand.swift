import ArgumentParser
import Foundation
import Logging
import SREngine
import SRServer
import Synchronization

struct ServeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve the MAX-compatible and v1 HTTP APIs, Swagger UI and a web page.",
        discussion: """
        Routes: POST /model/predict and GET /model/metadata (IBM MAX compatible), POST /v1/upscale, GET /v1/models, \
        GET /v1/jobs/{id}, GET /openapi.json (also /swagger.json), GET / (Swagger UI), GET /ui (web page), \
        GET /healthz, GET /readyz, GET /metrics (Prometheus). See docs/http-api.md.
        """
    )

    @Option(help: "Address to listen on (0.0.0.0 for every interface).")
    var host = "127.0.0.1"

    @Option(help: "Port to listen on.")
    var port = 5000

    @Option(name: .shortAndLong, help: "Default model: used by /model/predict and by /v1/upscale without model=; loaded at start.")
    var model: String = ModelManifest.embedded.default

    @Option(help: "Inference workers; each holds its own compiled models and working memory.")
    var workers = 1

    @Option(help: "oneDNN threads per worker (default: the cores divided among the workers).")
    var threads: Int?

    @Option(help: "Numeric precision of inference: fp32 or bf16.")
    var precision: Precision = .fp32

    @Option(help: "Jobs that may wait for a worker; beyond it requests get 429 with Retry-After.")
    var queue = 8

    @Option(name: .customLong("max-body"), help: ArgumentHelp("Largest request body, e.g. 64M.", valueName: "bytes"))
    var maxBody = "64M"

    @Option(name: .customLong("max-pixels"), help: ArgumentHelp("Largest input image in pixels, e.g. 16M (checked before decoding).", valueName: "count"))
    var maxPixels = "16M"

    @Option(name: .customLong("max-memory"), help: ArgumentHelp("Working memory of one upscale, e.g. 1G; sets the tile size.", valueName: "bytes"))
    var maxMemory = "1G"

    @Option(help: "Seconds a request's work may take (queue wait included) before it is cancelled with 504.")
    var deadline: Double = 300

    @Option(name: .customLong("upload-timeout"),
            help: "Seconds a request's body may take to arrive; a slower upload is cut off (it held a queue slot meanwhile).")
    var uploadTimeout: Double = 60

    @Option(help: ArgumentHelp("Allow browser calls from this origin (* for any); repeatable.", valueName: "origin"))
    var cors: [String] = []

    @Option(name: .customLong("swagger-ui-dir"), help: "Directory of the Swagger UI assets (default: where scripts/setup.sh installs them).")
    var swaggerUIDir: String?

    @Option(name: .customLong("drain-delay"), help: "Seconds /readyz fails before the listener closes after SIGTERM.")
    var drainDelay: Double = 0

    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel = "info"

    func validate() throws {
        guard (1...65535).contains(port) else { throw ValidationError("--port must be 1...65535, got \(port)") }
        guard (1...64).contains(workers) else { throw ValidationError("--workers must be 1...64, got \(workers)") }
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1") }
        guard queue >= 0 else { throw ValidationError("--queue must be 0 or more") }
        guard deadline > 0 else { throw ValidationError("--deadline must be positive") }
        guard uploadTimeout > 0 else { throw ValidationError("--upload-timeout must be positive") }
        guard drainDelay >= 0 else { throw ValidationError("--drain-delay must be 0 or more") }
        guard Logger.Level(rawValue: logLevel) != nil else { throw ValidationError("unknown --log-level '\(logLevel)'") }
        _ = try serverConfiguration()
    }

    func serverConfiguration() throws -> ServerConfiguration {
        var c = ServerConfiguration()
        c.host = host
        c.port = port
        let ext = (model as NSString).pathExtension.lowercased()
        guard ModelManifest.embedded.entry(model) != nil || ModelStore.weightFileExtensions.contains(ext)
                || ModelStore().localWeightModels().contains(where: { $0.id == model }) else {
            throw ValidationError("unknown model '\(model)'; give a model id (see `enhance models`) or a .pth, .pt or .safetensors file")
        }
        c.defaultModel = model
        c.workers = workers
        c.threadsPerWorker = threads
        c.queueLimit = queue
        // Every worker runs with this backend list; its oneDNN threads are the threads per worker.
        c.backends = try BackendOptions(threads: c.resolvedThreadsPerWorker, precision: precision).backends()
        guard let body = OptionText.bytes(maxBody), body >= 1024 else {
            throw ValidationError("--max-body must be a size such as 64M, got '\(maxBody)'")
        }
        c.maxBodyBytes = body
        guard let pixels = OptionText.count(maxPixels), pixels >= 1 else {
            throw ValidationError("--max-pixels must be a count such as 16M, got '\(maxPixels)'")
        }
        c.maxInputPixels = pixels
        guard let memory = OptionText.bytes(maxMemory), memory >= 16 << 20 else {
            throw ValidationError("--max-memory must be a size of at least 16M, got '\(maxMemory)'")
        }
        c.maxMemory = memory
        c.deadline = .milliseconds(Int64(deadline * 1000))
        c.uploadTimeout = .milliseconds(Int64(uploadTimeout * 1000))
        c.corsOrigins = cors
        c.swaggerUIDirectory = swaggerUIDir
        c.drainDelay = .milliseconds(Int64(drainDelay * 1000))
        return c
    }

    func run() throws {
        // The command line is synchronous; the server runs in a task until it has drained.
        let configuration = try serverConfiguration()
        let outcome = Mutex<(any Error)?>(nil)
        let done = DispatchSemaphore(value: 0)
        Task {
            do { try await serve(configuration) } catch { outcome.withLock { $0 = error } }
            done.signal()
        }
        done.wait()
        if let error = outcome.withLock({ $0 }) { throw error }
    }

    func serve(_ configuration: ServerConfiguration) async throws {
        let level = Logger.Level(rawValue: logLevel) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let store = ModelStore()
        let catalog: ModelCatalog
        do {
            _ = try store.resolve(configuration.defaultModel)
            // A weight file must be an upscaler Enhance recognises; it is served under its file name.
            catalog = try ModelCatalog(store: store, defaultModel: configuration.defaultModel)
        } catch {
            throw ValidationError("\(error)")
        }
        var logger = Logger(label: "enhance.server")
        logger.logLevel = level
        let server = EnhanceServer(configuration: configuration, store: store, catalog: catalog, logger: logger)
        logger.info("starting", metadata: [
            "address": "\(host):\(port)", "model": "\(model)", "workers": "\(workers)",
            "threads_per_worker": "\(configuration.resolvedThreadsPerWorker)", "queue": "\(queue)",
            "swagger_ui": "\(server.swaggerUIAvailable ? "yes" : "not installed")",
        ])
        try await server.run()
    }
}
