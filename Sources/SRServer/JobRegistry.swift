import Foundation
import Synchronization

/// Progress of upscales, for `GET /v1/jobs/{id}`. Job ids are minted here (128 random bits, 32 hex digits), never
/// chosen by a client, so a job's status is readable only by whoever the server gave its id to: every upscale gets
/// one (the `X-Enhance-Job-Id` response header), and a client that wants to follow an upscale while it runs reserves
/// one first (`POST /v1/jobs/reserve`) and sends it with the upload.
final class JobRegistry: Sendable {
    enum State: String, Sendable { case reserved, queued, running, encoding, done, failed, cancelled }

    struct Entry: Sendable {
        var state: State
        var progress: Double
        var updated: ContinuousClock.Instant
    }

    enum ClaimError: Error { case unknown, alreadyUsed }
    struct Full: Error {}

    private let entries = Mutex<[String: Entry]>([:])
    private let retention: Duration
    /// Bounds the memory reservations can take.
    let capacity: Int

    init(retention: Duration, capacity: Int = 10_000) {
        self.retention = retention
        self.capacity = capacity
    }

    /// 32 random hex digits.
    static func makeID() -> String {
        var g = SystemRandomNumberGenerator()
        return String(format: "%016llx%016llx", g.next() as UInt64, g.next() as UInt64)
    }

    /// Whether `id` has the shape of an id this registry mints.
    static func isWellFormed(_ id: String) -> Bool {
        id.utf8.count == 32 && id.utf8.allSatisfy { (48...57).contains($0) || (97...102).contains($0) }
    }

    private static func isLive(_ state: State) -> Bool { [.queued, .running, .encoding].contains(state) }

    /// A new job id for a client to send with its upload; throws `Full` when `capacity` jobs are live or reserved.
    func reserve() throws(Full) -> String {
        let id = Self.makeID()
        let now = ContinuousClock.now
        try entries.withLock { (e) throws(Full) in
            if e.count >= capacity { prune(&e, now: now) }
            guard e.count < capacity else { throw Full() }
            e[id] = Entry(state: .reserved, progress: 0, updated: now)
        }
        return id
    }

    /// Binds an upload to a reserved id (once).
    func claim(_ id: String) throws(ClaimError) {
        let now = ContinuousClock.now
        try entries.withLock { (e) throws(ClaimError) in
            guard let entry = e[id], entry.updated >= now - retention || entry.state != .reserved else { throw .unknown }
            guard entry.state == .reserved else { throw .alreadyUsed }
            e[id] = Entry(state: .queued, progress: 0, updated: now)
        }
    }

    /// A fresh id for an upload that reserved none.
    func start() -> String {
        let id = Self.makeID()
        update(id, .queued)
        return id
    }

    func update(_ id: String, _ state: State, progress: Double? = nil) {
        let now = ContinuousClock.now
        entries.withLock { e in
            let previous = e[id]?.progress ?? 0
            e[id] = Entry(state: state, progress: progress ?? (state == .done ? 1 : previous), updated: now)
            if e.count > capacity { prune(&e, now: now) }
        }
    }

    private func prune(_ e: inout [String: Entry], now: ContinuousClock.Instant) {
        let horizon = now - retention
        e = e.filter { $0.value.updated > horizon || Self.isLive($0.value.state) }
    }

    func get(_ id: String) -> Entry? {
        let horizon = ContinuousClock.now - retention
        return entries.withLock { e in
            guard let entry = e[id] else { return nil }
            if entry.updated < horizon && !Self.isLive(entry.state) {
                e[id] = nil
                return nil
            }
            return entry
        }
    }
}
