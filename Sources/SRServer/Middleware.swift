import Foundation
import Hummingbird
import Logging
import NIOCore
import NIOHTTPTypes
import HTTPTypes
import Synchronization

/// Counts every request (route template, method, status, bytes, duration) and logs one line per request.
struct MetricsMiddleware: RouterMiddleware {
    typealias Context = EnhanceContext
    let metrics: ServerMetrics

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = ContinuousClock.now
        metrics.requestStarted()
        defer { metrics.requestFinished() }
        // Errors are already responses here (ErrorMiddleware sits inside); anything else is counted as 500.
        let response: Response
        do { response = try await next(request, context) } catch {
            record(request, context, status: 500, start: start, bytesOut: 0)
            throw error
        }
        let bytesOut = response.headers[.contentLength].flatMap(Int.init) ?? response.body.contentLength ?? 0
        record(request, context, status: Int(response.status.code), start: start, bytesOut: bytesOut)
        if response.status.code >= 400, response.headers[.contentType]?.hasPrefix("application/json") == true {
            metrics.error(status: Int(response.status.code), code: Self.errorCode(response) ?? "unknown")
        }
        return response
    }

    private func record(_ request: Request, _ context: Context, status: Int, start: ContinuousClock.Instant, bytesOut: Int) {
        let route = context.endpointPath ?? "unmatched"
        let bytesIn = request.headers[.contentLength].flatMap(Int.init) ?? 0
        let duration = ContinuousClock.now - start
        metrics.request(route: route, method: request.method.rawValue, status: status, duration: duration,
                        bytesIn: bytesIn, bytesOut: bytesOut)
        let level: Logger.Level = status >= 500 && status != 503 && status != 504 ? .error
            : status >= 500 ? .warning : (route == "/healthz" || route == "/readyz" || route == "/metrics" || route == "/v1/jobs/{id}") ? .debug : .info
        context.logger.log(level: level, "request", metadata: [
            "method": "\(request.method)", "path": "\(request.uri.path)", "status": "\(status)",
            "ms": "\(Int((duration.seconds * 1000).rounded()))", "bytes_in": "\(bytesIn)", "bytes_out": "\(bytesOut)",
        ])
    }

    private static func errorCode(_ response: Response) -> String? {
        response.headers[.init("X-Enhance-Error")!]
    }
}

/// The server's one channel handler, between the HTTP codec and Hummingbird:
/// - answers `Expect: 100-continue` with `100 Continue` when the announced body fits the limit (else the route's
///   `413` goes out without the client sending the body), so curl and other clients do not stall on uploads;
/// - tells `ConnectionWatch` when a client goes away, so its job is cancelled.
final class ConnectionHandler: ChannelDuplexHandler, RemovableChannelHandler, @unchecked Sendable {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    let maxBodyBytes: Int
    init(maxBodyBytes: Int) { self.maxBodyBytes = maxBodyBytes }

    func channelInactive(context: ChannelHandlerContext) {
        ConnectionWatch.closed(context.channel)
        context.fireChannelInactive()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        // The peer closed its side (HTTP/1 channels allow half-closure, so the channel itself stays open).
        if let e = event as? ChannelEvent, e == .inputClosed { ConnectionWatch.closed(context.channel) }
        context.fireUserInboundEventTriggered(event)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        ConnectionWatch.forget(context.channel)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .head(let head) = unwrapInboundIn(data),
           head.headerFields[.expect]?.lowercased() == "100-continue",
           (head.headerFields[.contentLength].flatMap(Int.init) ?? 0) <= maxBodyBytes {
            context.writeAndFlush(wrapOutboundOut(.head(HTTPResponse(status: .continue))), promise: nil)
        }
        context.fireChannelRead(data)
    }
}

/// Who wants to know that a client went away: routes register a callback for their connection; the channel
/// handler above fires them when the peer closes its side or the connection drops.
enum ConnectionWatch {
    private struct Entry {
        var closed = false
        var callbacks: [UInt64: @Sendable () -> Void] = [:]
    }
    private static let entries = Mutex<[ObjectIdentifier: Entry]>([:])
    private static let counter = Mutex<UInt64>(0)

    /// Calls `callback` when `channel`'s client goes away (at once if it already has); returns a token for `cancel`.
    static func onClose(_ channel: any Channel, _ callback: @escaping @Sendable () -> Void) -> UInt64 {
        let token = counter.withLock { $0 += 1; return $0 }
        let already = entries.withLock { e in
            let key = ObjectIdentifier(channel)
            if e[key]?.closed == true { return true }
            e[key, default: Entry()].callbacks[token] = callback
            return false
        }
        if already { callback() }
        return token
    }

    /// Whether `channel`'s client has closed its side (or the whole connection).
    static func isClosed(_ channel: any Channel) -> Bool {
        !channel.isActive || entries.withLock { $0[ObjectIdentifier(channel)]?.closed == true }
    }

    static func cancel(_ channel: any Channel, _ token: UInt64) {
        entries.withLock { e in _ = e[ObjectIdentifier(channel)]?.callbacks.removeValue(forKey: token) }
    }

    static func closed(_ channel: any Channel) {
        let callbacks = entries.withLock { e -> [@Sendable () -> Void] in
            let key = ObjectIdentifier(channel)
            var entry = e[key] ?? Entry()
            entry.closed = true
            let list = Array(entry.callbacks.values)
            entry.callbacks = [:]
            e[key] = entry
            return list
        }
        for c in callbacks { c() }
    }

    static func forget(_ channel: any Channel) {
        entries.withLock { e in e[ObjectIdentifier(channel)] = nil }
    }
}

/// HEAD on any GET route: the GET's status and headers without its body (health checkers and link checkers use it).
struct HeadMiddleware: RouterMiddleware {
    typealias Context = EnhanceContext
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let response = try await next(request, context)
        guard request.method == .head else { return response }
        var headers = response.headers
        if headers[.contentLength] == nil, let length = response.body.contentLength { headers[.contentLength] = String(length) }
        return Response(status: response.status, headers: headers, body: ResponseBody())
    }
}
