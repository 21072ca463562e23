import HTTPTypes
import Hummingbird

/// One route of a group: method, path template and handler; the handler is given the group's value (which holds
/// the server), so the route table itself is static and the server's route list is read from it.
struct Route<Group: Sendable>: Sendable {
    typealias Handler = @Sendable (Group, Request, EnhanceContext) async throws -> Response

    let method: HTTPRequest.Method
    let path: String
    let handler: Handler

    /// A GET route; it also answers HEAD (`HeadMiddleware` drops the body).
    static func get(_ path: String, _ handler: @escaping Handler) -> Self { Self(method: .get, path: path, handler: handler) }
    static func post(_ path: String, _ handler: @escaping Handler) -> Self { Self(method: .post, path: path, handler: handler) }
}

/// The routes of one part of the API (`MAXRoutes`, `DocsRoutes`, `V1Routes`, `OperationsRoutes`), one file each.
/// `EnhanceServer.router()` adds each group's `collection()` to the router; `EnhanceServer.routes` is the union
/// of the groups' tables, so what is served and what is listed (405 answers, the OpenAPI contract test) cannot
/// drift apart.
protocol RouteGroup: Sendable {
    static var routes: [Route<Self>] { get }
}

extension RouteGroup {
    /// Every route of the group as (method, path template).
    static var routeList: [(method: HTTPRequest.Method, path: String)] { routes.map { ($0.method, $0.path) } }

    /// The group's routes as a Hummingbird route collection; every GET route also answers HEAD.
    func collection() -> RouteCollection<EnhanceContext> {
        let collection = RouteCollection(context: EnhanceContext.self)
        for route in Self.routes {
            let handler = route.handler
            let respond: @Sendable (Request, EnhanceContext) async throws -> Response = { request, context in
                try await handler(self, request, context)
            }
            let path = RouterPath(route.path)
            collection.on(path, method: route.method, use: respond)
            if route.method == .get { collection.on(path, method: .head, use: respond) }
        }
        return collection
    }
}
