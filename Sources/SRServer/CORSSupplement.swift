import HTTPTypes
import Hummingbird

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
