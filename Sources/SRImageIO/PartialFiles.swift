import Foundation

/// The temporary files of atomic writes: `.NAME.HOST-PID-RANDOM.partial.EXT` beside the output, renamed onto it when
/// complete. A process killed with SIGKILL cannot remove its own; the next write of the same output does, when the
/// owner was a process of this host that no longer exists.
public enum PartialFiles {
    /// A temporary path beside `path`, owned by this process.
    public static func temporary(for path: String, suffix: String) -> String {
        let directory = (path as NSString).deletingLastPathComponent
        let name = (path as NSString).lastPathComponent
        return (directory.isEmpty ? "." : directory) + "/.\(name).\(owner)-\(UUID().uuidString.prefix(8)).partial\(suffix)"
    }

    /// This process's tag: the host name (only letters, digits and '-') and the process id.
    public static let owner: String = "\(host)-\(getpid())"

    /// This host's name, only letters, digits and '-'.
    public static let host: String = {
        let raw = ProcessInfo.processInfo.hostName
        let cleaned = String(raw.unicodeScalars.filter { CharacterSet.alphanumerics.contains($0) || $0 == "-" }.prefix(40))
        return cleaned.isEmpty ? "host" : cleaned
    }()

    /// Removes the partial files of `path` left by processes of this host that are gone; returns how many.
    @discardableResult
    public static func removeAbandoned(for path: String) -> Int {
        let directory = (path as NSString).deletingLastPathComponent
        let prefix = ".\((path as NSString).lastPathComponent).\(host)-"
        return removeOrphans(in: directory.isEmpty ? "." : directory) { entry in
            guard entry.hasPrefix(prefix), entry.contains(".partial") else { return nil }
            let rest = entry.dropFirst(prefix.count)
            return rest.firstIndex(of: "-").flatMap { Int32(rest[..<$0]) }
        }
    }

    /// Removes the entries of `directory` (files or folders) whose owning process, as `owner` reads it from the
    /// entry's name (nil: not such an entry), no longer exists on this host; returns how many.
    @discardableResult
    public static func removeOrphans(in directory: String, owner: (String) -> Int32?) -> Int {
        let fm = FileManager.default
        var removed = 0
        for entry in (try? fm.contentsOfDirectory(atPath: directory)) ?? [] {
            guard let pid = owner(entry), !isAlive(pid) else { continue }
            if (try? fm.removeItem(atPath: (directory as NSString).appendingPathComponent(entry))) != nil { removed += 1 }
        }
        return removed
    }

    /// Whether a process with this id exists on this host (EPERM: it exists but is another user's).
    public static func isAlive(_ pid: Int32) -> Bool {
        pid > 0 && (kill(pid, 0) == 0 || errno == EPERM)
    }
}
