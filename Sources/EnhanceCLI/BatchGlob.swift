/// A shell-style glob over `/`-separated relative paths, as used by `--include` and `--exclude`.
///
/// - `*` matches any run of characters within one path segment (never `/`);
/// - `**` as a whole segment matches across segments: `**/` matches zero or more folders (`**/*.png` matches `a.png`
///   and `x/y/a.png`), a trailing `/**` matches everything below (`raw/**`); `**` inside a segment (`a**b`) is `*`;
/// - `?` matches one character except `/`; `[abc]`, `[a-z]`, `[!abc]` (or `[^abc]`) match one character of a set;
/// - `\` makes the next character literal.
///
/// A pattern without `/` is matched against the file's name at any depth (`*.png`, `*_small.*`); a pattern with `/` is
/// matched against the whole path relative to the input folder (`raw/*`, `**/thumbs/*`). A trailing `/` means
/// everything below that folder (`raw/` is `raw/**`). Matching ignores case unless told otherwise.
public struct Glob: Sendable, Equatable, CustomStringConvertible {
    enum Token: Sendable, Equatable {
        case literal(Character)
        case one
        case star
        /// `**/`: zero or more whole segments.
        case anyDirectories
        /// `**` as the last segment: anything, `/` included.
        case anything
        case set([ClosedRange<Character>], negated: Bool)
    }

    /// The pattern as written.
    public let pattern: String
    /// Whether the pattern is matched against the whole relative path (it contains `/`) or only the last segment.
    public let anchored: Bool
    public let caseInsensitive: Bool
    let tokens: [Token]

    public var description: String { pattern }

    public init(_ pattern: String, caseInsensitive: Bool = true) throws(BatchError) {
        self.pattern = pattern
        self.caseInsensitive = caseInsensitive
        var body = pattern
        while body.hasPrefix("./") { body.removeFirst(2) }
        if body.isEmpty { throw .invalidGlob(pattern: pattern, reason: "it is empty; use '*' to match every file") }
        if body.hasPrefix("/") {
            throw .invalidGlob(pattern: pattern, reason: "globs match paths relative to the input folder; drop the leading '/'")
        }
        if body.hasSuffix("/") {
            while body.hasSuffix("/") { body.removeLast() }
            body += "/**"
        }
        anchored = body.contains("/")
        tokens = try Self.parse(caseInsensitive ? body.lowercased() : body, pattern: pattern)
    }

    private static func parse(_ body: String, pattern: String) throws(BatchError) -> [Token] {
        let chars = Array(body)
        var tokens: [Token] = []
        var i = 0
        while i < chars.count {
            let c = chars[i]
            switch c {
            case "\\":
                guard i + 1 < chars.count else {
                    throw .invalidGlob(pattern: pattern, reason: "it ends with a lone '\\'; write '\\\\' for a backslash")
                }
                tokens.append(.literal(chars[i + 1]))
                i += 2
            case "?":
                tokens.append(.one)
                i += 1
            case "*":
                var j = i
                while j < chars.count, chars[j] == "*" { j += 1 }
                let wholeSegment = (i == 0 || chars[i - 1] == "/") && (j == chars.count || chars[j] == "/")
                if j - i >= 2, wholeSegment {
                    if j == chars.count {
                        tokens.append(.anything)
                        i = j
                    } else {
                        tokens.append(.anyDirectories)
                        i = j + 1  // the '/' is part of the token
                    }
                } else {
                    tokens.append(.star)
                    i = j
                }
            case "[":
                var j = i + 1
                var negated = false
                if j < chars.count, chars[j] == "!" || chars[j] == "^" { negated = true; j += 1 }
                var ranges: [ClosedRange<Character>] = []
                var first = true
                var closed = false
                while j < chars.count {
                    var lower = chars[j]
                    if lower == "]", !first { closed = true; break }
                    first = false
                    if lower == "\\", j + 1 < chars.count { j += 1; lower = chars[j] }
                    if j + 2 < chars.count, chars[j + 1] == "-", chars[j + 2] != "]" {
                        var upper = chars[j + 2]
                        j += 2
                        if upper == "\\", j + 1 < chars.count { j += 1; upper = chars[j] }
                        guard lower <= upper else {
                            throw .invalidGlob(pattern: pattern, reason: "the range '\(lower)-\(upper)' is backwards; write '\(upper)-\(lower)'")
                        }
                        ranges.append(lower...upper)
                    } else {
                        ranges.append(lower...lower)
                    }
                    j += 1
                }
                guard closed else {
                    throw .invalidGlob(pattern: pattern, reason: "'[' at position \(i + 1) is never closed; add ']' or write '\\[' for a literal bracket")
                }
                tokens.append(.set(ranges, negated: negated))
                i = j + 1
            default:
                tokens.append(.literal(c))
                i += 1
            }
        }
        return tokens
    }

    /// Whether the glob matches `relativePath` (a `/`-separated path relative to the input folder, no leading `/`).
    public func matches(_ relativePath: String) -> Bool {
        var subject = relativePath
        if !anchored, let slash = subject.lastIndex(of: "/") { subject = String(subject[subject.index(after: slash)...]) }
        return Self.match(tokens, Array(caseInsensitive ? subject.lowercased() : subject))
    }

    /// `matched[t][i]`: `tokens[t...]` matches `path[i...]`, filled from the end.
    private static func match(_ tokens: [Token], _ path: [Character]) -> Bool {
        let n = path.count
        var next = [Bool](repeating: false, count: n + 1)
        next[n] = true
        for token in tokens.reversed() {
            var current = [Bool](repeating: false, count: n + 1)
            switch token {
            case .literal(let c):
                for i in 0..<n { current[i] = path[i] == c && next[i + 1] }
            case .one:
                for i in 0..<n { current[i] = path[i] != "/" && next[i + 1] }
            case .set(let ranges, let negated):
                for i in 0..<n where path[i] != "/" {
                    current[i] = ranges.contains { $0.contains(path[i]) } != negated && next[i + 1]
                }
            case .star:
                current[n] = next[n]
                for i in stride(from: n - 1, through: 0, by: -1) {
                    current[i] = next[i] || (path[i] != "/" && current[i + 1])
                }
            case .anything:
                current[n] = next[n]
                for i in stride(from: n - 1, through: 0, by: -1) { current[i] = next[i] || current[i + 1] }
            case .anyDirectories:
                // Consumes nothing, or characters up to and including a '/'.
                var later = false
                current[n] = next[n]
                for i in stride(from: n - 1, through: 0, by: -1) {
                    later = later || (path[i] == "/" && next[i + 1])
                    current[i] = next[i] || later
                }
            }
            next = current
        }
        return next[0]
    }
}
