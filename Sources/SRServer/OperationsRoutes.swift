import Hummingbird
import NIOCore

/// What orchestrators and monitoring ask: liveness (`/healthz`), readiness (`/readyz`: 503 while the default
/// model loads and while draining) and Prometheus metrics (`/metrics`).
struct OperationsRoutes: RouteGroup {
    let server: EnhanceServer

    static let routes: [Route<Self>] = [
        .get("/healthz") { _, _, _ in EnhanceServer.json(#"{"status":"ok"}"#) },
        .get("/readyz") { routes, _, _ in routes.readiness() },
        .get("/metrics") { routes, _, _ in
            Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                     body: .init(byteBuffer: ByteBuffer(string: routes.server.metrics.exposition())))
        },
    ]

    func readiness() -> Response {
        if server.isDraining { return EnhanceServer.json(#"{"status":"draining"}"#, status: .serviceUnavailable) }
        if server.queue.isReady {
            let models = [server.catalog.defaultID].map { "\"\($0)\"" }.joined(separator: ",")
            return EnhanceServer.json(#"{"status":"ready","models":[\#(models)]}"#)
        }
        return EnhanceServer.json(#"{"status":"loading"}"#, status: .serviceUnavailable)
    }
}
