import Foundation
import Synchronization

/// Progress of the upscales whose requests carried an `X-Request-Id`, for `GET /v1/jobs/{id}`.
final class JobRegistry: Sendable {
    enum State: String, Sendable { case queued, running, encoding, done, failed, cancelled }

    struct Entry: Sendable {
        var state: State
        var progress: Double
        var updated: ContinuousClock.Instant
    }

    private let entries = Mutex<[String: Entry]>([:])
    private let retention: Duration
    /// Bounds the memory a client inventing ids can take.
    private let capacity = 10_000

    init(retention: Duration) { self.retention = retention }

    func update(_ id: String, _ state: State, progress: Double? = nil) {
        let now = ContinuousClock.now
        entries.withLock { e in
            let previous = e[id]?.progress ?? 0
            e[id] = Entry(state: state, progress: progress ?? (state == .done ? 1 : previous), updated: now)
            if e.count > capacity {
                let horizon = now - retention
                e = e.filter { $0.value.updated > horizon || [.queued, .running, .encoding].contains($0.value.state) }
            }
        }
    }

    func get(_ id: String) -> Entry? {
        let horizon = ContinuousClock.now - retention
        return entries.withLock { e in
            guard let entry = e[id] else { return nil }
            if entry.updated < horizon && ![.queued, .running, .encoding].contains(entry.state) {
                e[id] = nil
                return nil
            }
            return entry
        }
    }
}
