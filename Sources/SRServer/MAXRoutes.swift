import Foundation
import Hummingbird

/// The IBM MAX-compatible API (the routes of a MAX model container): Swagger UI at `/`, the document at
/// `/swagger.json`, the model's metadata and `POST /model/predict` (multipart `image`, no options, the default
/// model at its native scale).
struct MAXRoutes: RouteGroup {
    let server: EnhanceServer

    static let routes: [Route<Self>] = [
        .get("/") { routes, _, _ in try DocsRoutes(server: routes.server).swaggerIndex() },
        .get("/swagger.json") { _, _, _ in EnhanceServer.json(EmbeddedOpenAPI.json) },
        .get("/model/metadata") { routes, _, _ in try routes.metadata() },
        .post("/model/predict") { routes, request, context in try await routes.server.upscale(request, context, max: true) },
    ]

    /// MAX's metadata object for the default model.
    func metadata() throws -> Response {
        let catalog = server.catalog
        let id = catalog.defaultID
        let entry = catalog.entry(id)
        return try EnhanceServer.json([
            "id": id,
            "name": entry?.name ?? id,
            "description": entry.map { "\($0.description) (Enhance; \($0.scale)x \($0.kind) super-resolution)" } ?? id,
            "type": "Image-To-Image Translation",
            "source": entry?.upstream ?? "",
            "license": entry?.licence ?? "",
        ] as [String: Any])
    }
}
