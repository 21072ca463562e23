import Foundation
import Hummingbird
import SREngine

/// The v1 API: `POST /v1/upscale` with options (model, scale, format, tile, …, as query or form fields), the
/// model list, and jobs (reserve an id before uploading, then poll its progress).
struct V1Routes: RouteGroup {
    let server: EnhanceServer

    static let routes: [Route<Self>] = [
        .post("/v1/upscale") { routes, request, context in try await routes.server.upscale(request, context, max: false) },
        .get("/v1/models") { routes, _, _ in try routes.modelList() },
        .get("/v1/models/{id}") { routes, _, context in try routes.model(context.parameters.get("id") ?? "") },
        .post("/v1/jobs/reserve") { routes, _, _ in try routes.reserveJob() },
        .get("/v1/jobs/{id}") { routes, _, context in try routes.job(context.parameters.get("id") ?? "") },
    ]

    func modelObject(_ entry: ModelManifest.Entry) -> [String: Any] {
        let catalog = server.catalog
        let installed = (try? server.store.resolve(catalog.source(entry.id))) != nil
        return [
            "id": entry.id, "name": entry.name, "description": entry.description, "architecture": entry.architecture,
            "scale": entry.scale, "license": entry.licence, "source": entry.upstream, "installed": installed,
            "loaded": server.queue.loadedModels.contains(catalog.source(entry.id)),
        ]
    }

    func modelList() throws -> Response {
        try EnhanceServer.json(["default": server.catalog.defaultID, "models": server.catalog.entries.map(modelObject)]
                               as [String: Any])
    }

    func model(_ id: String) throws -> Response {
        guard let entry = server.catalog.entry(id) else {
            throw APIError.notFound("no model '\(id)'; see GET /v1/models")
        }
        return try EnhanceServer.json(modelObject(entry))
    }

    func reserveJob() throws -> Response {
        let jobs = server.jobs
        let id: String
        do { id = try jobs.reserve() } catch {
            throw APIError(.tooManyRequests, "too_many_jobs", "\(jobs.capacity) jobs are reserved or running; retry later",
                           headers: [.retryAfter: "5"])
        }
        var response = try EnhanceServer.json(["id": id, "state": "reserved",
                                               "expires_in_s": Int(server.configuration.jobRetention.seconds),
                                               "status_url": "/v1/jobs/\(id)"] as [String: Any], status: .created)
        response.headers[.location] = "/v1/jobs/\(id)"
        return response
    }

    func job(_ id: String) throws -> Response {
        guard JobRegistry.isWellFormed(id), let entry = server.jobs.get(id) else {
            throw APIError.notFound("no job '\(id)': job ids come from the server (POST /v1/jobs/reserve, or the X-Enhance-Job-Id header of an upscale) and are kept \(Int(server.configuration.jobRetention.seconds)) s")
        }
        var object: [String: Any] = ["id": id, "state": entry.state.rawValue, "progress": (entry.progress * 1000).rounded() / 1000]
        if entry.state == .queued, let position = server.queue.position(of: id) { object["queue_position"] = position }
        return try EnhanceServer.json(object)
    }
}
