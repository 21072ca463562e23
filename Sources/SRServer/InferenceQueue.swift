import Foundation
public import SRCore
import Logging
public import SREngine
import ServiceLifecycle
import Synchronization

/// A bounded queue of inference jobs and the worker threads that run them.
///
/// Each worker is an OS thread with its own `Engine` over the configured backends (compiled models, activation
/// arena, the backends' per-thread settings such as oneDNN's thread count):
/// inference is long, blocking CPU work that must not run on the server's event loops or Swift's cooperative
/// pool. At most `limit` jobs wait; `submit` refuses one more, so the server answers `429` instead of growing
/// without bound. As a `Service` it starts the workers, loads the default model in each (then `isReady`), and on
/// graceful shutdown marks itself draining.
public final class InferenceQueue: Sendable, Service {
    public struct Full: Error {
        public let waiting: Int
        public let retryAfterSeconds: Int
    }

    /// What a job is told while it runs.
    public struct Ticket: Sendable {
        public let engine: Engine
        public let worker: Int
    }

    private final class Job: @unchecked Sendable {
        // Guarded by the queue's state lock until a worker takes it; then owned by that worker.
        let id: String
        let enqueued = ContinuousClock.now
        let work: @Sendable (Ticket) -> Void
        let abandon: @Sendable () -> Void
        init(id: String, work: @escaping @Sendable (Ticket) -> Void, abandon: @escaping @Sendable () -> Void) {
            self.id = id
            self.work = work
            self.abandon = abandon
        }
    }

    private struct State {
        var pending: [Job] = []
        var running = 0
        var readyWorkers = 0
        var failedWorkers = 0
        var draining = false
        var stopped = false
        /// Mean seconds per finished job (exponentially weighted), for Retry-After.
        var meanSeconds = 5.0
        /// The models each worker's engine holds (they leave, least recently used first, under the memory budget).
        var loaded: [Int: [String]] = [:]
    }

    public let workers: Int
    public let limit: Int
    private let backends: [any Backend]
    private let store: ModelStore
    private let preload: [String]
    private let maxMemory: Int
    private let metrics: ServerMetrics?
    private let logger: Logger
    private let state = Mutex(State())
    private let wakeUp = DispatchSemaphore(value: 0)

    /// - Parameter backends: what each worker's engine runs models on (built once by `enhance serve`).
    public init(workers: Int, limit: Int, backends: [any Backend], store: ModelStore, preload: [String],
                maxMemory: Int = UpscaleOptions.defaultMaxMemory, metrics: ServerMetrics? = nil, logger: Logger) {
        self.backends = backends
        self.workers = max(1, workers)
        self.limit = max(0, limit)
        self.store = store
        self.preload = preload
        self.maxMemory = maxMemory
        self.metrics = metrics
        self.logger = logger
    }

    /// True once every worker has loaded the default model.
    public var isReady: Bool { state.withLock { $0.readyWorkers == workers } }
    public var isDraining: Bool { state.withLock { $0.draining } }
    public var waiting: Int { state.withLock { $0.pending.count } }
    public var running: Int { state.withLock { $0.running } }
    /// The models (ids or weight-file paths) loaded in at least one worker.
    public var loadedModels: Set<String> { state.withLock { Set($0.loaded.values.joined()) } }

    /// How many jobs are ahead of `id` (0: next), or nil when it is not waiting.
    public func position(of id: String) -> Int? {
        state.withLock { $0.pending.firstIndex { $0.id == id } }
    }

    // MARK: Service

    public func run() async throws {
        for index in 0..<workers {
            let thread = Thread { [self] in self.workerLoop(index) }
            thread.name = "enhance-worker-\(index)"
            thread.stackSize = 8 << 20
            thread.start()
        }
        try? await gracefulShutdown()
        state.withLock { $0.draining = true }
        logger.info("draining: no new jobs are accepted")
    }

    /// Refuses new jobs from now on (what graceful shutdown does; tests call it directly).
    public func markDraining() { state.withLock { $0.draining = true } }

    /// Stops the worker threads once the jobs they hold are done (tests; the process exit does it otherwise).
    public func stop() {
        state.withLock { $0.stopped = true }
        for _ in 0..<workers { wakeUp.signal() }
    }

    // MARK: Jobs

    /// Runs `body` on a worker and returns its result; throws `Full` when `limit` jobs already wait.
    ///
    /// `cancel` is raised by the caller (deadline, hung-up client): a job still waiting is dropped at once and
    /// this throws `EngineError.cancelled`; a running one sees it through `UpscaleOptions.cancellation`.
    public func run<T: Sendable>(id: String, cancellation: Cancellation,
                                 _ body: @escaping @Sendable (Ticket) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            let once = Mutex(false)
            let finish: @Sendable (Result<T, any Error>) -> Void = { r in
                let first = once.withLock { done in
                    defer { done = true }
                    return !done
                }
                if first { continuation.resume(with: r) }
            }
            let job = Job(id: id, work: { ticket in
                finish(Result { try body(ticket) })
            }, abandon: { finish(.failure(EngineError.cancelled)) })
            let refused: Full? = state.withLock { s in
                if s.pending.count >= limit {
                    return Full(waiting: s.pending.count, retryAfterSeconds: Self.retryAfter(s, workers: workers))
                }
                s.pending.append(job)
                return nil
            }
            if let refused {
                finish(.failure(refused))
                return
            }
            metrics?.queueDepth(waiting)
            wakeUp.signal()
            cancellation.onCancel { [weak self] in self?.dropIfPending(job) }
        }
    }

    /// Seconds until a worker is likely free for one more job (for `Retry-After`).
    public var retryAfterSeconds: Int { state.withLock { Self.retryAfter($0, workers: workers) } }

    private static func retryAfter(_ s: State, workers: Int) -> Int {
        let ahead = Double(s.pending.count + s.running) / Double(workers)
        return min(300, max(1, Int((ahead * s.meanSeconds).rounded(.up))))
    }

    private func dropIfPending(_ job: Job) {
        let dropped = state.withLock { s in
            guard let i = s.pending.firstIndex(where: { $0 === job }) else { return false }
            s.pending.remove(at: i)
            return true
        }
        if dropped {
            metrics?.queueDepth(waiting)
            job.abandon()
        }
    }

    private func workerLoop(_ index: Int) {
        // Backends' per-thread settings (oneDNN's OpenMP thread count) apply to the thread that creates the engine:
        // this one, which runs the primitives. Models a client names are unloaded, least recently used first,
        // beyond the memory budget.
        let engine = Engine(store: store, backends: backends, modelMemory: maxMemory)
        var log = logger
        log[metadataKey: "worker"] = "\(index)"
        do {
            for id in preload {
                let start = ContinuousClock.now
                let model = try engine.model(id)
                _ = try engine.tileSize(for: model, height: 64, width: 64, options: UpscaleOptions(maxMemory: maxMemory))
                log.info("model loaded", metadata: ["model": "\(id)", "seconds": "\((ContinuousClock.now - start).seconds)"])
            }
            let loaded = engine.loadedModels
            state.withLock {
                $0.readyWorkers += 1
                $0.loaded[index] = loaded
            }
        } catch {
            log.error("cannot load the default model; this worker stays down", metadata: ["error": "\(error)"])
            state.withLock { $0.failedWorkers += 1 }
            return
        }
        while true {
            wakeUp.wait()
            let job: Job? = state.withLock { s in
                if s.pending.isEmpty { return nil }
                s.running += 1
                return s.pending.removeFirst()
            }
            if job == nil && state.withLock({ $0.stopped }) { return }
            guard let job else { continue }
            metrics?.queueDepth(waiting)
            metrics?.queueWait(ContinuousClock.now - job.enqueued)
            metrics?.runningJobs(running)
            let start = ContinuousClock.now
            job.work(Ticket(engine: engine, worker: index))
            let seconds = (ContinuousClock.now - start).seconds
            engine.trimLoadedModels()
            let loaded = engine.loadedModels
            state.withLock { s in
                s.running -= 1
                s.loaded[index] = loaded
                s.meanSeconds = 0.8 * s.meanSeconds + 0.2 * seconds
            }
            metrics?.runningJobs(running)
        }
    }

    /// True when a worker failed to load the default model (the server can never become ready).
    public var hasFailedWorkers: Bool { state.withLock { $0.failedWorkers > 0 } }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) * 1e-18 }
}
