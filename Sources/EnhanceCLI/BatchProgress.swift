import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Receives the events of a batch run, in order: `started`, then per file `willProcess` and `finished`, then `done`.
public protocol ProgressReporter: AnyObject {
    func started(total: Int)
    func willProcess(_ item: BatchItem, index: Int, total: Int)
    func finished(_ outcome: ItemOutcome)
    func done(_ summary: BatchSummary)
}

extension ProgressReporter {
    public func willProcess(_ item: BatchItem, index: Int, total: Int) {}
}

/// Picks the reporter for this process.
public enum BatchProgress {
    /// A progress bar on stderr when stderr is a terminal; JSON lines on stdout otherwise (for scripts and logs);
    /// with `quiet`, only failures and the final tally, on stderr.
    public static func automatic(quiet: Bool = false) -> any ProgressReporter {
        if quiet { return QuietProgressReporter() }
        return isatty(2) == 1 ? TerminalProgressReporter() : JSONLinesProgressReporter()
    }

    public static func standardError(_ text: String) { FileHandle.standardError.write(Data(text.utf8)) }
    public static func standardOutput(_ text: String) { FileHandle.standardOutput.write(Data(text.utf8)) }
}

/// One line on a terminal, redrawn in place with `\r`:
/// `[#####...............] 12/40 ok 10 skip 1 fail 1  raw/file.png  ETA 1m20s`.
/// Failures are printed above the bar as they happen; the tally and the failures are printed at the end.
public final class TerminalProgressReporter: ProgressReporter {
    private let write: (String) -> Void
    private let width: () -> Int
    private let now: () -> Date
    private var total = 0, done = 0, ok = 0, skipped = 0, failed = 0
    private var busySeconds = 0.0
    private var current: String?

    /// - Parameters:
    ///   - write: where the text goes (default: stderr).
    ///   - width: the terminal's width in columns (default: asked of the terminal on stderr, else $COLUMNS, else 80).
    public init(write: @escaping (String) -> Void = BatchProgress.standardError,
                width: @escaping () -> Int = TerminalProgressReporter.terminalWidth,
                now: @escaping () -> Date = Date.init) {
        self.write = write
        self.width = width
        self.now = now
    }

    public func started(total: Int) {
        self.total = total
        redraw()
    }

    public func willProcess(_ item: BatchItem, index: Int, total: Int) {
        current = item.relativePath
        redraw()
    }

    public func finished(_ outcome: ItemOutcome) {
        done += 1
        switch outcome.status {
        case .ok: ok += 1; busySeconds += outcome.seconds
        case .skipped: skipped += 1
        case .failed:
            failed += 1
            busySeconds += outcome.seconds
            write("\r\u{1B}[K" + "failed: \(outcome.item.input): \(Self.oneLine(outcome.error ?? "failed"))\n")
        }
        current = nil
        redraw()
    }

    public func done(_ summary: BatchSummary) {
        write("\r\u{1B}[K" + summary.tally + "\n")
        if !summary.failures.isEmpty {
            write("failed files:\n" + summary.failures.map { "  \($0.item.input): \($0.message)\n" }.joined())
        }
    }

    private func redraw() {
        // Skipped files take no time: estimate from the files actually worked on.
        let worked = ok + failed
        let eta: Double? = worked > 0 ? busySeconds / Double(worked) * Double(total - done) : nil
        let line = Self.render(done: done, total: total, ok: ok, skipped: skipped, failed: failed,
                               current: current, eta: eta, width: width())
        write("\r" + line + "\u{1B}[K")
    }

    /// The bar's text, at most `width - 1` characters (so the terminal never wraps it), without `\r`.
    public static func render(done: Int, total: Int, ok: Int, skipped: Int, failed: Int, current: String?,
                              eta: Double?, width: Int, barWidth: Int = 20) -> String {
        let filled = total > 0 ? min(barWidth, done * barWidth / total) : 0
        let bar = "[" + String(repeating: "#", count: filled) + String(repeating: ".", count: barWidth - filled) + "]"
        let counts = "\(bar) \(done)/\(total) ok \(ok) skip \(skipped) fail \(failed)"
        let etaText = eta.map { "  ETA \(formatDuration($0))" } ?? ""
        let limit = max(1, width - 1)
        var line = counts
        if let current = current.map(oneLine), !current.isEmpty {
            let room = limit - counts.count - etaText.count - 2
            if room >= current.count {
                line += "  " + current
            } else if room >= 8 {
                line += "  …" + current.suffix(room - 1)
            }
        }
        line += etaText
        if line.count > limit { line = String(line.prefix(limit)) }
        return line
    }

    /// `text` with control characters (a newline in a file name, say) shown as `?`, so that it stays on one line.
    static func oneLine(_ text: String) -> String {
        String(String.UnicodeScalarView(text.unicodeScalars.map {
            $0.properties.generalCategory == .control ? "?" : $0
        }))
    }

    /// The width of the terminal on stderr, else $COLUMNS, else 80.
    public static func terminalWidth() -> Int {
        var size = winsize()
        if ioctl(2, UInt(TIOCGWINSZ), &size) == 0, size.ws_col > 0 { return Int(size.ws_col) }
        if let columns = ProcessInfo.processInfo.environment["COLUMNS"].flatMap(Int.init), columns > 0 { return columns }
        return 80
    }
}

/// One JSON object per line, for machines; written to stdout by default so that it can be piped while errors of the
/// command itself stay on stderr:
///
///     {"event":"start","total":40}
///     {"event":"file","index":3,"total":40,"input":"in/a.png","output":"out/a.png","status":"ok","seconds":1.234,"error":null}
///     {"event":"done","total":40,"processed":38,"skipped":1,"failed":1,"seconds":52.1,"failures":[{"input":"in/b.png","output":"out/b.png","error":"..."}]}
///
/// `status` is `ok`, `skipped` or `failed`; `error` is a string when it failed, else null; a `detail` string is added
/// when the upscaler gave one.
public final class JSONLinesProgressReporter: ProgressReporter {
    private let write: (String) -> Void

    /// - Parameter write: where each line (ending in "\n") goes; default stdout.
    public init(write: @escaping (String) -> Void = BatchProgress.standardOutput) {
        self.write = write
    }

    public func started(total: Int) {
        emit([("event", .string("start")), ("total", .int(total))])
    }

    public func finished(_ outcome: ItemOutcome) {
        var fields: [(String, JSONValue)] = [
            ("event", .string("file")), ("index", .int(outcome.index)), ("total", .int(outcome.total)),
            ("input", .string(outcome.item.input)), ("output", .string(outcome.item.output)),
            ("status", .string(outcome.status.rawValue)), ("seconds", .seconds(outcome.seconds)),
            ("error", outcome.error.map(JSONValue.string) ?? .null),
        ]
        if let detail = outcome.detail { fields.append(("detail", .string(detail))) }
        emit(fields)
    }

    public func done(_ summary: BatchSummary) {
        let failures = summary.failures.map { f in
            JSONValue.object([("input", .string(f.item.input)), ("output", .string(f.item.output)), ("error", .string(f.message))])
        }
        emit([("event", .string("done")), ("total", .int(summary.total)), ("processed", .int(summary.processed)),
              ("skipped", .int(summary.skipped)), ("failed", .int(summary.failed)),
              ("seconds", .seconds(summary.seconds)), ("failures", .array(failures))])
    }

    private func emit(_ fields: [(String, JSONValue)]) {
        write(JSONValue.object(fields).text + "\n")
    }
}

/// For `--quiet`: nothing while it goes well; failures as they happen and the tally at the end, on stderr.
public final class QuietProgressReporter: ProgressReporter {
    private let write: (String) -> Void

    public init(write: @escaping (String) -> Void = BatchProgress.standardError) {
        self.write = write
    }

    public func started(total: Int) {}

    public func finished(_ outcome: ItemOutcome) {
        if outcome.status == .failed { write("failed: \(outcome.item.input): \(outcome.error ?? "failed")\n") }
    }

    public func done(_ summary: BatchSummary) {
        if summary.failed > 0 { write(summary.tally + "\n") }
    }
}

/// A JSON value written with its keys in the given order (JSONEncoder would drop nils and reorder keys).
enum JSONValue {
    case string(String), int(Int), seconds(Double), null
    case array([JSONValue])
    case object([(String, JSONValue)])

    var text: String {
        switch self {
        case .string(let s): return Self.quote(s)
        case .int(let i): return String(i)
        case .seconds(let d): return d.isFinite ? String(format: "%.3f", d) : "null"
        case .null: return "null"
        case .array(let values): return "[" + values.map(\.text).joined(separator: ",") + "]"
        case .object(let fields): return "{" + fields.map { Self.quote($0.0) + ":" + $0.1.text }.joined(separator: ",") + "}"
        }
    }

    static func quote(_ s: String) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20 || scalar.value == 0x7F:
                out += String(format: "\\u%04x", scalar.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}
