import Foundation
public import HTTPTypes
import Hummingbird
import NIOCore
import NIOHTTP1

/// An error the API answers with: a status, a stable code and a message that says what to change.
/// The body is always `{"message", "error", "request_id"}`.
public struct APIError: Error, Sendable, CustomStringConvertible {
    public var status: HTTPResponse.Status
    public var code: String
    public var message: String
    public var headers: HTTPFields = [:]

    public init(_ status: HTTPResponse.Status, _ code: String, _ message: String, headers: HTTPFields = [:]) {
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers
    }

    public var description: String { "\(status.code) \(code): \(message)" }

    static func missingImage(_ fields: [String]) -> APIError {
        let seen = fields.isEmpty ? "no fields" : "fields: " + fields.map { "'\($0)'" }.joined(separator: ", ")
        return APIError(.badRequest, "missing_image",
                        "the request has no image: send it as the multipart field 'image' (curl -F image=@photo.png); got \(seen)")
    }
    static let emptyImage = APIError(.badRequest, "empty_image", "the image is empty (0 bytes)")
    static func undecodable(_ detail: String) -> APIError {
        APIError(.badRequest, "undecodable_image", "cannot decode the image: \(detail)")
    }
    static func invalidOption(_ message: String) -> APIError { APIError(.badRequest, "invalid_option", message) }
    static func badMultipart(_ message: String) -> APIError { APIError(.badRequest, "bad_multipart", message) }
    static func notFound(_ message: String) -> APIError { APIError(.notFound, "not_found", message) }
    static func bodyTooLarge(limit: Int) -> APIError {
        APIError(.contentTooLarge, "body_too_large",
                 "the request body is larger than this server's limit of \(limit) bytes" + (limit >= 1 << 20 ? " (\(limit >> 20) MiB)" : ""))
    }
    static func imageTooLarge(_ message: String) -> APIError { APIError(.unprocessableContent, "image_too_large", message) }
    static func queueFull(retryAfter: Int, limit: Int) -> APIError {
        APIError(.tooManyRequests, "queue_full",
                 "the server is busy: \(limit) jobs are already waiting; retry in about \(retryAfter) s",
                 headers: [.retryAfter: String(retryAfter)])
    }
    static func deadlineExceeded(_ seconds: Double) -> APIError {
        APIError(.gatewayTimeout, "deadline_exceeded",
                 "the upscale did not finish within this server's deadline of \(Int(seconds)) s and was cancelled; " +
                 "try a smaller image or a faster model")
    }
    static let draining = APIError(.serviceUnavailable, "draining", "the server is shutting down; retry on another replica",
                                   headers: [.retryAfter: "1"])
    static let notReady = APIError(.serviceUnavailable, "not_ready", "the server is still loading its default model",
                                   headers: [.retryAfter: "2"])
}

/// Turns every error a route throws (ours, Hummingbird's, anything else) into the JSON error body, and counts it.
struct ErrorMiddleware: RouterMiddleware {
    typealias Context = EnhanceContext
    /// Every route as (method, path template), to tell 405 from 404.
    let routes: [(method: HTTPRequest.Method, path: String)]

    /// Methods some route offers for `path`.
    func methods(for path: String) -> [HTTPRequest.Method] {
        let segments = path.split(separator: "/", omittingEmptySubsequences: true)
        return routes.filter { route in
            let template = route.path.split(separator: "/", omittingEmptySubsequences: true)
            return template.count == segments.count
                && zip(template, segments).allSatisfy { t, s in t.hasPrefix("{") || t == s }
        }.flatMap { $0.method == .get ? [.get, .head] : [$0.method] }
    }
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as APIError {
            return Self.response(error, requestID: context.requestID)
        } catch let error as HTTPError {
            let api: APIError = switch error.status {
            case .notFound:
                if case let allowed = methods(for: request.uri.path), !allowed.isEmpty {
                    APIError(.methodNotAllowed, "method_not_allowed",
                             "\(request.method) is not allowed on \(request.uri.path); use \(allowed.map(\.rawValue).joined(separator: " or "))",
                             headers: [.allow: allowed.map(\.rawValue).joined(separator: ", ")])
                } else {
                    .notFound("no route \(request.method) \(request.uri.path); see /openapi.json for the API")
                }
            case .methodNotAllowed:
                APIError(.methodNotAllowed, "method_not_allowed", "\(request.method) is not allowed on \(request.uri.path)")
            case .contentTooLarge: .bodyTooLarge(limit: context.maxUploadSize)
            default:
                error.status.code < 500
                    ? APIError(.badRequest, "bad_request", error.body ?? error.status.reasonPhrase)
                    : APIError(.internalServerError, "internal", error.body ?? error.status.reasonPhrase)
            }
            return Self.response(api, requestID: context.requestID)
        } catch where error is HTTPParserError || error is ChannelError || error is IOError {
            // The client's doing (a malformed body, a hang-up), not a server fault.
            return Self.response(ClientFault.classify(error, channel: context.channel), requestID: context.requestID)
        } catch {
            context.logger.error("unexpected error", metadata: ["error": "\(error)"])
            return Self.response(APIError(.internalServerError, "internal", "internal error: \(error)"),
                                 requestID: context.requestID)
        }
    }

    static func response(_ error: APIError, requestID: String) -> Response {
        let body: [String: String] = ["message": error.message, "error": error.code, "request_id": requestID]
        let data = (try? JSONSerialization.data(withJSONObject: body, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data()
        var headers = error.headers
        headers[.contentType] = "application/json; charset=utf-8"
        headers[.init("X-Enhance-Error")!] = error.code
        return Response(status: error.status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}
