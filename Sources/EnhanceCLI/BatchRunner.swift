import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What the upscale closure reports for a file it wrote.
public struct ItemResult: Sendable, Equatable {
    /// A short note for the progress output (e.g. "24x18 -> 96x72"), or nil.
    public var detail: String?
    public init(detail: String? = nil) { self.detail = detail }
}

public enum ItemStatus: String, Sendable, Equatable {
    /// Upscaled and written.
    case ok
    /// Not redone: skip-existing was asked and the output already exists.
    case skipped
    /// The error is reported and the run goes on.
    case failed
}

/// How one file of the batch went.
public struct ItemOutcome: Sendable, Equatable {
    public let item: BatchItem
    /// 1-based position in the plan.
    public let index: Int
    public let total: Int
    public let status: ItemStatus
    public let seconds: Double
    /// Why it failed; nil unless `status == .failed`.
    public let error: String?
    public let detail: String?

    public init(item: BatchItem, index: Int, total: Int, status: ItemStatus, seconds: Double, error: String?,
                detail: String?) {
        self.item = item
        self.index = index
        self.total = total
        self.status = status
        self.seconds = seconds
        self.error = error
        self.detail = detail
    }
}

public struct BatchFailure: Sendable, Equatable {
    public let item: BatchItem
    public let message: String

    public init(item: BatchItem, message: String) {
        self.item = item
        self.message = message
    }
}

/// The end of a batch run. `processed + skipped + failed == total`.
public struct BatchSummary: Sendable, Equatable, CustomStringConvertible {
    public var total = 0
    /// Files upscaled and written.
    public var processed = 0
    public var skipped = 0
    public var failed = 0
    public var seconds = 0.0
    public var failures: [BatchFailure] = []
    /// Stale temporary files (`.NAME.XXXXXXXX.partial.EXT`) of an interrupted earlier run that were deleted.
    public var removedPartials = 0

    public init() {}

    /// 0 when every file was upscaled or skipped, 1 when any failed.
    public var exitCode: Int32 { failed > 0 ? 1 : 0 }

    /// The one-line tally, e.g. "12 files: 10 upscaled, 1 skipped (output exists), 1 failed in 1m20s".
    public var tally: String {
        var parts = ["\(processed) upscaled"]
        if skipped > 0 { parts.append("\(skipped) skipped (output exists)") }
        if failed > 0 { parts.append("\(failed) failed") }
        return "\(total) file\(total == 1 ? "" : "s"): " + parts.joined(separator: ", ")
            + " in \(formatDuration(seconds))"
    }

    /// The tally, then one line per failure.
    public var description: String {
        ([tally] + failures.map { "failed: \($0.item.input): \($0.message)" }).joined(separator: "\n")
    }
}

/// Runs a `BatchPlan` file by file; the upscaling of one file is the caller's closure.
///
/// Resume is skip-existing: run the same command again with `skipExisting` and the files already written are not
/// redone. An interrupted run leaves no half-written outputs because each output is written atomically (the closure
/// writes a hidden temporary file beside the output and renames it, as `ImageIO.encode` does), so an output that
/// exists is complete. Temporary files that an interrupted run left behind (`.NAME.XXXXXXXX.partial.EXT` beside a
/// planned output, last modified more than `partialGrace` before this run, so that another run's file being written
/// right now is left alone) are deleted at the start; being hidden, they are never taken as inputs or as outputs.
public struct BatchRunner: Sendable {
    /// How old a temporary file must be, before the run starts, to count as left behind: 10 minutes.
    public static let partialGrace: TimeInterval = 600

    public init() {}

    /// Upscales every item of `plan` in order. Never stops early and never throws: a file whose closure throws (or that
    /// cannot get its folder) is counted as failed with the error's message, and the run goes on.
    /// - Parameter upscale: reads `item.input` and writes `item.output` atomically; its parent folder exists.
    public func run(_ plan: BatchPlan, progress: any ProgressReporter,
                    upscale: (BatchItem) throws -> ItemResult) -> BatchSummary {
        let clock = ContinuousClock()
        let start = clock.now
        let startDate = Date()
        var summary = BatchSummary()
        summary.total = plan.items.count
        summary.removedPartials = Self.removeStalePartials(of: plan, olderThan: startDate - Self.partialGrace)
        progress.started(total: plan.items.count)

        for (offset, item) in plan.items.enumerated() {
            progress.willProcess(item, index: offset + 1, total: plan.items.count)
            let itemStart = clock.now
            var status = ItemStatus.ok
            var message: String?
            var detail: String?
            switch Self.existingOutput(item.output) {
            case .nonEmptyFile where plan.skipExisting:
                status = .skipped
            case .directory:
                status = .failed
                message = "the output path \(item.output) is a folder; move it away or choose another -o folder"
            default:
                do {
                    let folder = (item.output as NSString).deletingLastPathComponent
                    if !folder.isEmpty {
                        do {
                            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
                        } catch {
                            throw FolderError(folder: folder, detail: fileSystemReason(error))
                        }
                    }
                    detail = try upscale(item).detail
                    if Self.existingOutput(item.output) == .missing {
                        status = .failed
                        message = "nothing was written to \(item.output)"
                    }
                } catch {
                    status = .failed
                    message = Self.message(for: error)
                }
            }
            let seconds = Self.seconds(clock.now - itemStart)
            switch status {
            case .ok: summary.processed += 1
            case .skipped: summary.skipped += 1
            case .failed:
                summary.failed += 1
                summary.failures.append(BatchFailure(item: item, message: message ?? "failed"))
            }
            progress.finished(ItemOutcome(item: item, index: offset + 1, total: plan.items.count, status: status,
                                          seconds: seconds, error: status == .failed ? message : nil, detail: detail))
        }
        summary.seconds = Self.seconds(clock.now - start)
        progress.done(summary)
        return summary
    }

    /// Deletes `.NAME.XXXXXXXX.partial.EXT` files beside planned outputs named NAME whose modification time is before
    /// `date`; returns how many were deleted.
    @discardableResult
    public static func removeStalePartials(of plan: BatchPlan, olderThan date: Date) -> Int {
        let fm = FileManager.default
        var namesByFolder: [String: Set<String>] = [:]
        for item in plan.items {
            let url = item.output as NSString
            namesByFolder[url.deletingLastPathComponent, default: []].insert(url.lastPathComponent)
        }
        var removed = 0
        for (folder, names) in namesByFolder {
            guard let entries = try? fm.contentsOfDirectory(atPath: folder.isEmpty ? "." : folder) else { continue }
            for entry in entries where entry.hasPrefix(".") && entry.contains(".partial") {
                guard names.contains(where: { entry.hasPrefix("." + $0 + ".") && entry.dropFirst($0.count + 2).contains(".partial") })
                else { continue }
                let path = (folder.isEmpty ? "." : folder) + "/" + entry
                guard let attributes = try? fm.attributesOfItem(atPath: path),
                      attributes[.type] as? FileAttributeType == .typeRegular,
                      let modified = attributes[.modificationDate] as? Date, modified < date else { continue }
                if (try? fm.removeItem(atPath: path)) != nil { removed += 1 }
            }
        }
        return removed
    }

    enum Existing: Equatable { case missing, emptyFile, nonEmptyFile, directory, other }

    static func existingOutput(_ path: String) -> Existing {
        var info = stat()
        guard stat(path, &info) == 0 else { return .missing }
        switch info.st_mode & S_IFMT {
        case S_IFDIR: return .directory
        case S_IFREG: return info.st_size > 0 ? .nonEmptyFile : .emptyFile
        default: return .other
        }
    }

    struct FolderError: Error, CustomStringConvertible {
        let folder: String, detail: String
        var description: String { "cannot create the output folder \(folder): \(detail); check its permissions or choose another -o" }
    }

    static func message(for error: any Error) -> String {
        if let localized = error as? any LocalizedError, let text = localized.errorDescription { return text }
        return String(describing: error)
    }

    static func seconds(_ duration: Duration) -> Double {
        let (s, attoseconds) = duration.components
        return Double(s) + Double(attoseconds) / 1e18
    }
}

/// "0.4s", "45s", "1m20s", "2h03m".
func formatDuration(_ seconds: Double) -> String {
    if seconds < 10 { return String(format: "%.1fs", max(0, seconds)) }
    let s = Int(seconds.rounded())
    if s < 60 { return "\(s)s" }
    if s < 3600 { return "\(s / 60)m\(String(format: "%02d", s % 60))s" }
    return "\(s / 3600)h\(String(format: "%02d", (s % 3600) / 60))m"
}
