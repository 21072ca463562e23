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
        let name = (path as NSString).lastPathComponent
        let prefix = ".\(name).\(host)-"
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: directory.isEmpty ? "." : directory)
        else { return 0 }
        var removed = 0
        for entry in entries where entry.hasPrefix(prefix) && entry.contains(".partial") {
            let rest = entry.dropFirst(prefix.count)
            guard let dash = rest.firstIndex(of: "-"), let pid = Int32(rest[..<dash]), !isAlive(pid) else { continue }
            if (try? FileManager.default.removeItem(atPath: (directory.isEmpty ? "." : directory) + "/" + entry)) != nil {
                removed += 1
            }
        }
        return removed
    }

    /// Whether a process with this id exists on this host (EPERM: it exists but is another user's).
    public static func isAlive(_ pid: Int32) -> Bool {
        pid > 0 && (kill(pid, 0) == 0 || errno == EPERM)
    }
}
