import Foundation
import HTTPTypes
public import Hummingbird
import Logging
public import NIOCore

/// The per-request context: Hummingbird's core storage, the connection (to notice a client that hangs up) and
/// the request id every log line and error body carries.
public struct EnhanceContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    public let channel: (any Channel)?
    /// The client's `X-Request-Id`, sanitised (for logs and error bodies only: it names no job), else one made here.
    public var requestID: String
    /// Bodies are read as streams with the server's own limit; this only bounds Hummingbird's helpers.
    public var maxUploadSize: Int { 1 << 20 }

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
        requestID = RequestID.make()
    }
}

enum RequestID {
    /// 16 random hex digits.
    static func make() -> String {
        String(format: "%016llx", UInt64.random(in: 0...UInt64.max))
    }

    /// Characters a request id keeps: `A-Z a-z 0-9 . _ -`.
    static func isAllowed(_ c: UInt8) -> Bool {
        (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c == 46 || c == 95 || c == 45
    }

    /// Ids a client may send as they are: 1–64 allowed characters.
    static func isValid(_ id: String) -> Bool {
        (1...64).contains(id.utf8.count) && id.utf8.allSatisfy(isAllowed)
    }

    /// A client's id with every other character dropped and cut to 64; nil when nothing is left.
    static func sanitised(_ id: String) -> String? {
        let kept = id.utf8.prefix(256).filter(isAllowed).prefix(64)
        return kept.isEmpty ? nil : String(decoding: kept, as: UTF8.self)
    }
}

/// Adopts or makes the request id, puts it on the logger and on the response.
struct RequestIDMiddleware: RouterMiddleware {
    typealias Context = EnhanceContext

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        if let id = request.headers[.xRequestID].flatMap(RequestID.sanitised) { context.requestID = id }
        context.logger[metadataKey: "request_id"] = .string(context.requestID)
        var response = try await next(request, context)
        response.headers[.xRequestID] = context.requestID
        return response
    }
}

extension HTTPField.Name {
    static let xRequestID = Self("X-Request-Id")!
}
