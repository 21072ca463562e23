import Logging
import ServiceLifecycle

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
