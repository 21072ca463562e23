import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import SREngine
import SRImageIO
import Synchronization

/// Upscaling a request (`POST /model/predict` and `POST /v1/upscale`): admission, the job id, the upload, cheap
/// checks before any pixel is decoded, the job on the inference queue (deadline, hang-up), and the file streamed
/// back.
extension EnhanceServer {
    func upscale(_ request: Request, _ context: EnhanceContext, max: Bool) async throws -> Response {
        // During --drain-delay only readiness fails (the load balancer stops sending); jobs are still served.
        if queue.isDraining { throw APIError.draining }
        guard queue.isReady else {
            if queue.hasFailedWorkers {
                throw APIError(.serviceUnavailable, "not_ready",
                               "the default model '\(catalog.defaultID)' failed to load; see the server log",
                               headers: [.retryAfter: "60"])
            }
            throw APIError.notReady
        }
        // Admission: bounds the uploads held in memory, before the body is read.
        let capacity = queue.workers + queue.limit
        let admittedNow = admitted.withLock { n in
            if n >= capacity { return false }
            n += 1
            return true
        }
        guard admittedNow else {
            throw APIError.queueFull(retryAfter: queue.retryAfterSeconds, limit: queue.limit)
        }
        defer { admitted.withLock { $0 -= 1 } }

        // The job id: one the client reserved (sent as X-Enhance-Job-Id), else a fresh one.
        let id: String
        if let reserved = request.headers[.xEnhanceJobID] {
            do { try jobs.claim(reserved) } catch {
                switch error {
                case .unknown:
                    throw APIError(.badRequest, "unknown_job_id",
                                   "X-Enhance-Job-Id '\(reserved.prefix(64))' is not a job id this server reserved (POST /v1/jobs/reserve), or it expired")
                case .alreadyUsed:
                    throw APIError(.conflict, "job_id_used", "job '\(reserved.prefix(64))' was already used by another upload; reserve a new one")
                }
            }
            id = reserved
        } else {
            id = jobs.start()
        }
        var jobSettled = false
        defer { if !jobSettled { jobs.update(id, .failed) } }

        let upload: Upload
        let watchdog = UploadWatchdog(channel: context.channel, timeout: configuration.uploadTimeout)
        do {
            upload = try await Upload.read(request, limit: configuration.maxBodyBytes, allowRaw: !max)
            watchdog.finish()
        } catch {
            watchdog.finish()
            if watchdog.fired {
                throw APIError(.requestTimeout, "upload_timeout",
                               "the request body did not arrive within \(Int(configuration.uploadTimeout.seconds)) s; the connection was closed")
            }
            if let error = error as? APIError { throw error }
            throw ClientFault.classify(error, channel: context.channel)
        }
        if let declared = request.headers[.contentLength].flatMap(Int.init), upload.bytesRead < declared {
            // The stream ended early: the client hung up (or sent less than it announced).
            throw ClientFault.classify(ClientFault.ShortBody(declared: declared, received: upload.bytesRead),
                                       channel: context.channel)
        }
        var values: [String: String] = [:]
        if !max {
            for (k, v) in request.uri.queryParameters { values[String(k)] = String(v) }
            for (k, v) in upload.fields { values[k] = v }
        }
        let parameters = try UpscaleParameters(values, catalog: catalog)
        do { _ = try store.resolve(catalog.source(parameters.model)) } catch {
            throw APIError(.conflict, "model_not_installed",
                           "model '\(parameters.model)' is not installed on this server; install it there with python3 scripts/fetch_models.py \(parameters.model)")
        }

        // Cheap checks before any pixel is decoded, on a thread of their own (never on an event loop: a header can
        // take a parser a while, and the loaders are limited to the documented raster formats).
        let header: ImageIO.Header
        do {
            let image = upload.image
            header = try await OffLoop.run { () throws(ImageIOError) in try ImageIO.header(data: image) }
        } catch {
            throw Self.apiError(error)
        }
        let pixels = header.width * header.height
        guard pixels <= configuration.maxInputPixels else {
            throw APIError.imageTooLarge("the image is \(header.width)x\(header.height) = \(pixels) pixels; this server accepts at most \(configuration.maxInputPixels) input pixels")
        }
        do {
            _ = try parameters.outputSize.resolve(inputWidth: header.width, inputHeight: header.height,
                                                  nativeScale: parameters.entry.scale)
        } catch {
            if case .tooLarge = error { throw APIError.imageTooLarge("scale: \(error.description)") }
            throw APIError.invalidOption("scale: \(error.description)")
        }

        // The job: queue, deadline, hang-up.
        let cancellation = Cancellation()
        let reason = Mutex<String?>(nil)
        let deadline = configuration.deadline
        let timer = Task {
            try await Task.sleep(for: deadline)
            reason.withLock { $0 = $0 ?? "deadline" }
            cancellation.cancel()
        }
        defer { timer.cancel() }
        let hangUp: @Sendable () -> Void = {
            reason.withLock { $0 = $0 ?? "disconnected" }
            cancellation.cancel()
        }
        let watch = context.channel.map { ConnectionWatch.onClose($0, hangUp) }
        defer { if let channel = context.channel, let watch { ConnectionWatch.cancel(channel, watch) } }
        let enqueued = ContinuousClock.now
        let path = scratch.file("\(id)\(parameters.format.suffix)")
        let image = upload.image, jobs = self.jobs, maxPixels = configuration.maxInputPixels
        let source = catalog.source(parameters.model)
        let maxMemory = configuration.maxMemory
        let result: UpscaleResult
        do {
            result = try await withTaskCancellationHandler {
                try await queue.run(id: id, cancellation: cancellation) { ticket in
                    let started = ContinuousClock.now
                    jobs.update(id, .running, progress: 0)
                    let decoded = try ImageIO.decode(data: image, maxPixels: maxPixels)
                    let model = try ticket.engine.model(source)
                    let options = UpscaleOptions(
                        maxMemory: maxMemory, tileSize: parameters.tile, outputSize: parameters.outputSize,
                        alpha: parameters.alpha, tta: parameters.tta, cancellation: cancellation,
                        progress: ProgressSink { p in jobs.update(id, p >= 1 ? .encoding : .running, progress: p) })
                    let size = try ticket.engine.upscale(decoded, with: model, options: options, writingTo: path,
                                                         encodeOptions: parameters.encode)
                    return UpscaleResult(path: path, input: (decoded.width, decoded.height),
                                         native: (decoded.width * model.scale, decoded.height * model.scale),
                                         output: size, queueWait: started - enqueued, inference: ContinuousClock.now - started)
                }
            } onCancel: {
                cancellation.cancel()
            }
        } catch {
            try? FileManager.default.removeItem(atPath: path)
            let why = reason.withLock { $0 }
            jobs.update(id, why == nil ? .failed : .cancelled)
            jobSettled = true
            // A cancelled run may surface as the encoder's error (the rows stopped coming): the reason wins.
            throw Self.apiError(why == nil ? error : EngineError.cancelled, reason: why, deadline: deadline,
                                queueLimit: queue.limit)
        }
        jobs.update(id, .done, progress: 1)
        jobSettled = true
        metrics.inference(model: parameters.model, duration: result.inference, outputPixels: result.output.width * result.output.height)
        logger.info("upscaled", metadata: [
            "request_id": "\(id)", "model": "\(parameters.model)", "input": "\(result.input.width)x\(result.input.height)",
            "output": "\(result.output.width)x\(result.output.height)", "seconds": "\(result.inference.seconds)",
        ])
        var response = try Self.fileResponse(result, parameters: parameters, upload: upload)
        response.headers[.xEnhanceJobID] = id
        if let warning = header.droppedFramesWarning { response.headers[.xEnhanceWarning] = warning }
        return response
    }

    static func apiError(_ error: any Error, reason: String?, deadline: Duration, queueLimit: Int) -> any Error {
        switch error {
        case let full as InferenceQueue.Full:
            return APIError.queueFull(retryAfter: full.retryAfterSeconds, limit: queueLimit)
        case let e as EngineError:
            switch e {
            case .cancelled:
                if reason == "deadline" { return APIError.deadlineExceeded(deadline.seconds) }
                return APIError(.badRequest, "cancelled", "the request was cancelled (\(reason ?? "client went away"))")
            case .image(let image): return apiError(image)
            case .invalidOption(let m): return APIError.invalidOption(m)
            case .unknownModel, .modelNotInstalled:
                return APIError(.conflict, "model_not_installed", e.description)
            case .modelFile, .backend:
                return APIError(.internalServerError, "inference_failed", e.description)
            }
        case let e as ImageIOError:
            return apiError(e)
        default:
            return error
        }
    }

    static func apiError(_ e: ImageIOError) -> APIError {
        switch e {
        case .notAnImage, .decodeFailed, .fileNotFound: .undecodable(e.description)
        case .formatNotAccepted(_, let format):
            APIError(.unsupportedMediaType, "format_not_accepted",
                     "\(format) uploads are not accepted: this server reads \(ImageIO.acceptedFormats)")
        case .tooLarge: .imageTooLarge(e.description)
        case .alphaNotSupported, .formatUnavailable, .invalidOption, .unsupportedOutputFormat:
            .invalidOption(e.description)
        case .encodeFailed, .resizeFailed: APIError(.internalServerError, "encode_failed", e.description)
        }
    }

    /// Streams the finished file back; it is unlinked as soon as it is open, so nothing is left behind even
    /// when the client hangs up mid-transfer.
    static func fileResponse(_ r: UpscaleResult, parameters: UpscaleParameters, upload: Upload) throws -> Response {
        guard let handle = FileHandle(forReadingAtPath: r.path) else {
            throw APIError(.internalServerError, "encode_failed", "the encoded output disappeared")
        }
        let size = (try? FileManager.default.attributesOfItem(atPath: r.path)[.size] as? Int) ?? nil
        try? FileManager.default.removeItem(atPath: r.path)
        let box = HandleBox(handle)
        var headers = UpscaleHeaders.make(r, parameters: parameters, upload: upload)
        headers[.contentType] = parameters.contentType
        return Response(status: .ok, headers: headers, body: ResponseBody(contentLength: size) { writer in
            defer { box.close() }
            while let chunk = box.read(256 << 10) {
                try await writer.write(ByteBuffer(bytes: chunk))
            }
            try await writer.finish(nil)
        })
    }
}

/// A file handle read by one response body at a time.
final class HandleBox: @unchecked Sendable {
    private let handle: FileHandle
    init(_ handle: FileHandle) { self.handle = handle }
    func read(_ count: Int) -> Data? {
        let d = (try? handle.read(upToCount: count)) ?? nil
        return (d?.isEmpty ?? true) ? nil : d
    }
    func close() { try? handle.close() }
}
