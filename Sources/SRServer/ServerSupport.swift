import Foundation
import HTTPTypes
import Logging
import NIOCore
import NIOHTTP1
import SRImageIO
import Synchronization

extension HTTPField.Name {
    /// The job an upscale belongs to: sent by a client with an id from `POST /v1/jobs/reserve`, returned on every
    /// upscale response.
    static let xEnhanceJobID = Self("X-Enhance-Job-Id")!
    /// Something the client should know about a successful upscale (e.g. frames left out).
    static let xEnhanceWarning = Self("X-Enhance-Warning")!
}

/// Runs blocking work (multipart parsing, image headers) on an OS thread of its own: never on a NIO event loop, and
/// never on a dispatch queue either, because on Linux Swift's cooperative executor runs on libdispatch's worker
/// threads, whose number follows the cores: two 40 MB forms parsed on `DispatchQueue.global()` left no thread to
/// answer `/healthz` for 30 s on a 2-core machine. A thread per call is cheap next to the work, and the calls in
/// flight are bounded by the server's admission limit (`workers + queue`).
enum OffLoop {
    static func run<T: Sendable, E: Error>(_ body: @escaping @Sendable () throws(E) -> T) async throws(E) -> T {
        let result: Result<T, E> = await withCheckedContinuation { continuation in
            let thread = Thread {
                continuation.resume(returning: Result { () throws(E) -> T in try body() })
            }
            thread.name = "enhance-parse"
            thread.start()
        }
        return try result.get()
    }
}

/// Errors while reading a request body that are the client's doing, not the server's: a client that hung up
/// mid-upload (499, as nginx counts it: nobody reads the answer, but metrics and logs must not call it a server
/// fault) or a malformed HTTP body such as a bad chunk size (400).
enum ClientFault {
    static let clientClosed = HTTPResponse.Status(code: 499, reasonPhrase: "Client Closed Request")

    /// A body shorter than its Content-Length.
    struct ShortBody: Error, CustomStringConvertible {
        let declared: Int, received: Int
        var description: String { "the body ended after \(received) of the \(declared) bytes its Content-Length announced" }
    }

    static func classify(_ error: any Error, channel: (any Channel)?) -> APIError {
        // The decoder's "stream ended at an unexpected time" is the connection closing inside a request.
        let hungUp = (error as? HTTPParserError) == .invalidEOFState || error is ChannelError || error is IOError
            || channel.map(ConnectionWatch.isClosed) == true
        if hungUp {
            return APIError(clientClosed, "client_closed", "the client closed the connection before the upload was complete")
        }
        if error is HTTPParserError {
            return APIError(.badRequest, "bad_request", "the request body is malformed HTTP: \(error)")
        }
        return APIError(.badRequest, "bad_request", "the request body could not be read: \(error)")
    }
}

/// A server's own folder for request outputs inside the temporary directory: `enhance-serve-HOST-PID`. At start,
/// the folders of this host's servers that are gone (killed with SIGKILL, out of memory) are removed.
struct ScratchDirectory: Sendable {
    let path: String

    init(parent: String, logger: Logger) {
        let prefix = "enhance-serve-\(PartialFiles.host)-"
        let removed = PartialFiles.removeOrphans(in: parent) { entry in
            entry.hasPrefix(prefix) ? Int32(entry.dropFirst(prefix.count)) : nil
        }
        if removed > 0 { logger.info("removed the scratch folders of servers that are gone", metadata: ["count": "\(removed)"]) }
        path = (parent as NSString).appendingPathComponent("\(prefix)\(getpid())")
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true,
                                attributes: [.posixPermissions: 0o700])
    }

    /// A path for one output in the folder (recreated if something removed it).
    func file(_ name: String) -> String {
        if !FileManager.default.fileExists(atPath: path) {
            try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true,
                                                     attributes: [.posixPermissions: 0o700])
        }
        return (path as NSString).appendingPathComponent(name)
    }
}

/// Cuts off an upload that takes longer than its time: closes the connection (the body stream then ends with an
/// error), so a slow or stalled client cannot hold an admission slot for longer than `timeout`.
final class UploadWatchdog: Sendable {
    private let state = Mutex<(done: Bool, fired: Bool)>((false, false))
    private let timer = Mutex<Task<Void, Never>?>(nil)

    init(channel: (any Channel)?, timeout: Duration) {
        let task = Task { [weak self] in
            do { try await Task.sleep(for: timeout) } catch { return }
            guard let self, self.fire() else { return }
            channel?.close(promise: nil)
        }
        timer.withLock { $0 = task }
    }

    /// The body arrived in time: the watchdog stands down.
    func finish() {
        state.withLock { $0.done = true }
        timer.withLock { $0?.cancel() }
    }

    /// Whether the time ran out before the body arrived.
    var fired: Bool { state.withLock { $0.fired } }

    private func fire() -> Bool {
        state.withLock { s in
            if s.done { return false }
            s.fired = true
            return true
        }
    }
}
