import Foundation
import Hummingbird
import NIOCore

/// The API document (`/openapi.json`), the Swagger UI assets (served from the directory found at start, see
/// `SwaggerUI`) and the web page (`/ui`, built into the binary).
struct DocsRoutes: RouteGroup {
    let server: EnhanceServer

    static let routes: [Route<Self>] = [
        .get("/openapi.json") { _, _, _ in EnhanceServer.json(EmbeddedOpenAPI.json) },
        .get("/swagger-ui/{file}") { routes, _, context in try routes.swaggerAsset(context.parameters.get("file") ?? "") },
        .get("/ui") { _, _, _ in EnhanceServer.html(EmbeddedWeb.uiHTML) },
    ]

    /// Swagger UI's page (MAX serves it at `/`); 404 with how to install it when its assets are missing.
    func swaggerIndex() throws -> Response {
        guard server.swaggerUI != nil else {
            throw APIError(.notFound, "not_found",
                           "Swagger UI is not installed on this server (run scripts/setup.sh or python3 scripts/fetch_web_assets.py); the API document is at /openapi.json")
        }
        return EnhanceServer.html(SwaggerUI.indexHTML)
    }

    func swaggerAsset(_ file: String) throws -> Response {
        guard let dir = server.swaggerUI, let (bytes, type) = SwaggerUI.asset(file, in: dir) else {
            throw APIError.notFound("no Swagger UI asset '\(file)'")
        }
        return Response(status: .ok, headers: [.contentType: type, .cacheControl: "public, max-age=86400"],
                        body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }
}
