import AsyncHTTPClient
import Foundation
import NIOCore
import SREngine
import SRImageIO

/// `enhance upscale --server URL`: the same job sent to a running `enhance serve` (POST /v1/upscale with the
/// image as the raw body and the options as query parameters); the answer is streamed into a file beside the
/// output and renamed into place only when the server said 200.
struct RemoteUpscaler {
    let base: URL
    let parameters: [(String, String)]

    init(server: String, options: UpscaleOptionsGroup) throws {
        guard let url = URL(string: server), let scheme = url.scheme?.lowercased(), scheme == "http" || scheme == "https",
              url.host != nil else {
            throw RemoteError("--server must be an http:// or https:// URL, got '\(server)'")
        }
        base = url
        if options.denoise != nil || options.blend != nil {
            throw RemoteError("--denoise and --blend run locally only; drop them or --server")
        }
        if options.maxMemory != nil || options.threads != nil || options.precision != .fp32 {
            throw RemoteError("--max-memory, --threads and --precision are the server's settings (enhance serve --max-memory/--threads/--precision); drop them with --server")
        }
        var p: [(String, String)] = [("model", options.model)]
        let size = try options.outputSize()
        if size != .native { p.append(("scale", size.description)) }
        if let q = options.quality { p.append(("quality", String(q))) }
        if options.lossless { p.append(("lossless", "true")) }
        if let c = options.compression { p.append(("compression", String(c))) }
        if let t = options.tile { p.append(("tile", String(t))) }
        if options.tta { p.append(("tta", "true")) }
        if options.alpha != .resample { p.append(("alpha", options.alpha.rawValue)) }
        if let b = options.background { p.append(("background", b)) }
        if options.copyMetadata { p.append(("copy_metadata", "true")) }
        if options.toSRGB { p.append(("to_srgb", "true")) }
        parameters = p
    }

    /// The CLI's HTTP client: a refused or unreachable server is reported at once (AsyncHTTPClient's shared
    /// client retries failed connections until the request's deadline, a minute and more); connecting may take 10 s.
    static let client: HTTPClient = {
        var configuration = HTTPClient.Configuration()
        configuration.timeout.connect = .seconds(10)
        configuration.connectionPool.retryConnectionEstablishment = false
        return HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
    }()

    struct RemoteError: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }

    private func url(_ path: String, query: [(String, String)] = []) -> String {
        var c = URLComponents(url: base, resolvingAgainstBaseURL: false)!
        c.path = (c.path.hasSuffix("/") ? String(c.path.dropLast()) : c.path) + path
        if !query.isEmpty { c.queryItems = query.map { URLQueryItem(name: $0.0, value: $0.1) } }
        // '+' in a query value is a space to form decoders; keep it literal.
        c.percentEncodedQuery = c.percentEncodedQuery?.replacingOccurrences(of: "+", with: "%2B")
        return c.string!
    }

    /// The native scale the server reports for the model (for default output names).
    func modelScale() throws -> Int {
        let model = parameters.first { $0.0 == "model" }!.1
        let response = try send(HTTPClient.Request(url: url("/v1/models/\(model)"), method: .GET))
        guard response.status == .ok, let body = response.body,
              let object = try? JSONSerialization.jsonObject(with: Data(body.readableBytesView)) as? [String: Any],
              let scale = object["scale"] as? Int else {
            throw RemoteError("the server at \(base) does not know model '\(model)': \(Self.message(response.body) ?? "HTTP \(response.status.code)")")
        }
        return scale
    }

    /// Sends `input`, writes the result to `output` atomically; returns the output size the server reports.
    @discardableResult
    func upscale(input: String, output: String) throws -> String {
        guard let data = FileManager.default.contents(atPath: input) else { throw RemoteError("cannot read \(input)") }
        guard let format = ImageIO.Format(path: output) else { throw RemoteError("cannot tell the output format from '\(output)'") }
        let formatName = [".png": "png", ".jpg": "jpeg", ".webp": "webp", ".tif": "tiff", ".avif": "avif", ".heic": "heic"][format.suffix] ?? "png"
        var request = try HTTPClient.Request(url: url("/v1/upscale", query: parameters + [("format", formatName)]), method: .POST)
        request.headers.add(name: "Content-Type", value: "application/octet-stream")
        request.body = .bytes(data)
        PartialFiles.removeAbandoned(for: output)
        let partial = PartialFiles.temporary(for: output, suffix: format.suffix)
        defer { try? FileManager.default.removeItem(atPath: partial) }
        let delegate = try FileDownloadDelegate(path: partial)
        let progress: FileDownloadDelegate.Response
        do {
            progress = try Self.client.execute(request: request, delegate: delegate,
                                                     deadline: .now() + .hours(6)).wait()
        } catch {
            throw RemoteError("cannot reach the server at \(base): \(error)")
        }
        let status = progress.head.status.code
        guard status == 200 else {
            let body = FileManager.default.contents(atPath: partial).map { ByteBuffer(bytes: [UInt8]($0)) }
            throw RemoteError("the server refused \(input): HTTP \(status): \(Self.message(body) ?? "no message")")
        }
        if FileManager.default.fileExists(atPath: output) { try FileManager.default.removeItem(atPath: output) }
        try FileManager.default.moveItem(atPath: partial, toPath: output)
        return progress.head.headers.first(name: "X-Enhance-Output-Size") ?? "?"
    }

    private func send(_ request: HTTPClient.Request) throws -> HTTPClient.Response {
        do { return try Self.client.execute(request: request, deadline: .now() + .seconds(60)).wait() } catch {
            throw RemoteError("cannot reach the server at \(base): \(error)")
        }
    }

    static func message(_ body: ByteBuffer?) -> String? {
        guard let body, let object = try? JSONSerialization.jsonObject(with: Data(body.readableBytesView)) as? [String: Any] else {
            return nil
        }
        return object["message"] as? String
    }
}
