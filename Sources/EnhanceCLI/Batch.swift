import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// Batch mode: `enhance upscale DIR -o OUTDIR`.
//
// `BatchPlan` scans the input folder and decides, before anything is written, which file goes where; every way the
// run could destroy an input or one result could replace another is refused here with a `BatchError`.
// `BatchRunner` (BatchRunner.swift) then upscales the files one by one, and a `ProgressReporter`
// (BatchProgress.swift) shows a progress bar on a terminal or JSON lines otherwise.

/// One file of a batch: where it is read from and where its result goes.
public struct BatchItem: Sendable, Equatable, Hashable {
    /// The input file: the input folder as given, joined with `relativePath`.
    public let input: String
    /// The output file: the output folder as given, the same sub-folders, the name with the suffix and extension.
    public let output: String
    /// The input's path relative to the input folder, `/`-separated (`raw/a.png`).
    public let relativePath: String
    /// The output's path relative to the output folder (`raw/a_x4.png`).
    public let relativeOutput: String

    public init(input: String, output: String, relativePath: String, relativeOutput: String) {
        self.input = input
        self.output = output
        self.relativePath = relativePath
        self.relativeOutput = relativeOutput
    }
}

/// Two or more inputs whose results would land on the same output file.
public struct OutputCollision: Sendable, Equatable {
    public let output: String
    public let inputs: [String]

    public init(output: String, inputs: [String]) {
        self.output = output
        self.inputs = inputs
    }
}

/// Why a batch cannot start; each message says how to fix it.
public enum BatchError: Error, Equatable, CustomStringConvertible {
    case inputNotFound(path: String)
    case inputNotADirectory(path: String)
    case unreadableDirectory(path: String, detail: String)
    case outputIsAFile(path: String)
    /// The output folder is the input folder and neither the suffix nor the extension changes the names.
    case wouldOverwriteInputs(directory: String)
    /// The output computed for `source` is the input `input` (possibly `source` itself).
    case outputIsAnInput(source: String, input: String, suffix: String)
    case noFilesMatched(directory: String, include: [String], exclude: [String], recursive: Bool)
    case outputCollisions([OutputCollision])
    case invalidGlob(pattern: String, reason: String)
    case unsupportedFormat(String)
    case invalidSuffix(String)

    public var description: String {
        switch self {
        case .inputNotFound(let path):
            return "no such folder: \(path); pass an existing folder of images"
        case .inputNotADirectory(let path):
            return "'\(path)' is not a folder; batch mode reads a folder of images (pass the file alone to upscale one image)"
        case .unreadableDirectory(let path, let detail):
            return "cannot read the folder '\(path)': \(detail); fix its permissions or leave it out with --exclude"
        case .outputIsAFile(let path):
            return "the output '\(path)' is an existing file, but a folder of images needs an output folder: "
                + "give -o a folder path (it is created if missing)"
        case .wouldOverwriteInputs(let directory):
            return "the output folder is the input folder '\(directory)' and the names would not change, so every input "
                + "would be overwritten: add a --suffix (e.g. --suffix _x4), choose another --format, or another -o folder"
        case .outputIsAnInput(let source, let input, let suffix):
            let hint = suffix.isEmpty
                ? "add a --suffix, choose another --format, or another -o folder"
                : "leave earlier results out with --exclude '*\(suffix).*', or choose another -o folder"
            if source == input {
                return "the output for '\(source)' would be the input itself; refusing to overwrite it: \(hint)"
            }
            return "the output for '\(source)' would be '\(input)', which is an input (a result of an earlier run?); "
                + "refusing to overwrite it: \(hint)"
        case .noFilesMatched(let directory, let include, let exclude, let recursive):
            var message = "no files in '\(directory)' match --include " + include.map { "'\($0)'" }.joined(separator: ", ")
            if !exclude.isEmpty { message += " (with --exclude " + exclude.map { "'\($0)'" }.joined(separator: ", ") + ")" }
            message += recursive
                ? "; hidden files and folders are skipped"
                : "; only the top level was searched: add --recursive to search sub-folders"
            return message + ", or change --include"
        case .outputCollisions(let collisions):
            let shown = collisions.prefix(3).map { c in "\(c.inputs.joined(separator: " and ")) -> \(c.output)" }
            let more = collisions.count > 3 ? " (and \(collisions.count - 3) more)" : ""
            let count = collisions.reduce(0) { $0 + $1.inputs.count }
            return "\(count) inputs would write to the same output, one result replacing another: "
                + shown.joined(separator: "; ") + more
                + ". Rename them, leave some out with --exclude, or (with --format) keep each file's own extension"
        case .invalidGlob(let pattern, let reason):
            return "invalid glob '\(pattern)': \(reason)"
        case .unsupportedFormat(let format):
            return "cannot write the format '\(format)': use png, jpg, webp, tif, avif or heic"
        case .invalidSuffix(let suffix):
            return "the suffix '\(suffix)' contains '/'; it is added to file names: use something like _x4"
        }
    }
}

/// What a batch run will do: every matching file under the input folder and its output path, sorted by relative path.
///
/// Scanning rules: files and folders whose names start with `.` are skipped (this includes the temporary
/// `.NAME.XXXXXXXX.partial.EXT` files of atomic writes); symbolic links to files are read, symbolic links to folders
/// are not followed (no cycles); the output folder is not scanned when it lies inside the input folder.
/// `include` globs pick files (see `Glob`); `exclude` globs drop files, and drop whole folders they match.
public struct BatchPlan: Sendable {
    /// Default `--include`: common image extensions, matched ignoring case.
    public static let defaultIncludes = ["png", "jpg", "jpeg", "webp", "tif", "tiff", "gif", "bmp", "avif", "heic", "heif"]
        .map { "*.\($0)" }
    /// Extensions Enhance can write; an input with another extension (gif, bmp, ...) gets `.png` unless `format` is given.
    public static let writableExtensions: Set<String> = ["png", "jpg", "jpeg", "webp", "tif", "tiff", "avif", "heic", "heif"]

    public let inputDirectory: String
    public let outputDirectory: String
    public let recursive: Bool
    public let include: [String]
    public let exclude: [String]
    public let suffix: String
    /// The output extension forced for every file (lower case, no dot), or nil to keep each input's.
    public let format: String?
    public let skipExisting: Bool
    public let items: [BatchItem]

    /// Scans `inputDirectory` and plans every output; throws a `BatchError` instead of planning anything unsafe.
    /// - Parameters:
    ///   - include: globs picking the files (an empty list means `defaultIncludes`).
    ///   - exclude: globs dropping files, and whole folders they match (`thumbs`, `raw/`).
    ///   - suffix: added to each file name before the extension (`a.png` -> `a_x4.png`); "" keeps the name.
    ///   - format: output extension for every file (`"png"`, `".webp"`, `"JPG"`); nil keeps each input's extension
    ///     when Enhance can write it, else uses png.
    ///   - skipExisting: recorded for the runner: outputs that already exist (non-empty) are not redone.
    public init(inputDirectory: String, outputDirectory: String, recursive: Bool = false,
                include: [String] = BatchPlan.defaultIncludes, exclude: [String] = [],
                suffix: String = "", format: String? = nil, skipExisting: Bool = false) throws(BatchError) {
        let fm = FileManager.default
        let inputDirectory = Self.trimmingTrailingSlashes(inputDirectory)
        let outputDirectory = Self.trimmingTrailingSlashes(outputDirectory)
        let include = include.isEmpty ? Self.defaultIncludes : include

        var isDirectory: ObjCBool = false
        guard fm.fileExists(atPath: inputDirectory, isDirectory: &isDirectory) else { throw .inputNotFound(path: inputDirectory) }
        guard isDirectory.boolValue else { throw .inputNotADirectory(path: inputDirectory) }
        if fm.fileExists(atPath: outputDirectory, isDirectory: &isDirectory), !isDirectory.boolValue {
            throw .outputIsAFile(path: outputDirectory)
        }
        if suffix.contains("/") { throw .invalidSuffix(suffix) }
        var format = format?.lowercased()
        while format?.hasPrefix(".") == true { format?.removeFirst() }
        if let f = format, !Self.writableExtensions.contains(f) { throw .unsupportedFormat(f) }

        let includeGlobs = try include.map { pattern throws(BatchError) in try Glob(pattern) }
        let excludeGlobs = try exclude.map { pattern throws(BatchError) in try Glob(pattern) }

        let canonicalInput = Self.canonicalPath(inputDirectory)
        let canonicalOutput = Self.canonicalPath(outputDirectory)
        if canonicalInput == canonicalOutput, suffix.isEmpty, format == nil {
            throw .wouldOverwriteInputs(directory: inputDirectory)
        }

        // Scan.
        var files: [String] = []
        try Self.scan(directory: inputDirectory, canonical: canonicalInput, relative: "", recursive: recursive,
                      skippingDirectory: canonicalOutput == canonicalInput ? nil : canonicalOutput,
                      include: includeGlobs, exclude: excludeGlobs, into: &files)
        files.sort()
        if files.isEmpty {
            throw .noFilesMatched(directory: inputDirectory, include: include, exclude: exclude, recursive: recursive)
        }

        // Map to outputs.
        let items = files.map { relative in
            let folder = (relative as NSString).deletingLastPathComponent
            let name = (relative as NSString).lastPathComponent
            let ext = (name as NSString).pathExtension
            let stem = ext.isEmpty ? name : (name as NSString).deletingPathExtension
            let outExt = format ?? (Self.writableExtensions.contains(ext.lowercased()) ? ext : "png")
            let outName = stem + suffix + "." + outExt
            let relativeOutput = folder.isEmpty ? outName : folder + "/" + outName
            return BatchItem(input: Self.join(inputDirectory, relative), output: Self.join(outputDirectory, relativeOutput),
                             relativePath: relative, relativeOutput: relativeOutput)
        }

        // Never overwrite an input: compare canonical paths (symbolic links and `..` resolved).
        var inputOwner: [String: String] = [:]
        for item in items {
            let canonical = Self.join(canonicalInput, item.relativePath)
            inputOwner[canonical] = item.input
            inputOwner[Self.canonicalPath(canonical)] = item.input  // a symbolic link's target
        }
        var byOutput: [String: [String]] = [:]
        var outputOrder: [String] = []
        for item in items {
            let canonical = Self.canonicalPath(Self.join(canonicalOutput, item.relativeOutput))
            if let input = inputOwner[canonical] {
                throw .outputIsAnInput(source: item.input, input: input, suffix: suffix)
            }
            if byOutput[canonical] == nil { outputOrder.append(canonical) }
            byOutput[canonical, default: []].append(item.input)
        }
        let collisions = outputOrder.compactMap { key -> OutputCollision? in
            guard let inputs = byOutput[key], inputs.count > 1,
                  let output = items.first(where: { $0.input == inputs[0] })?.output else { return nil }
            return OutputCollision(output: output, inputs: inputs)
        }
        if !collisions.isEmpty { throw .outputCollisions(collisions) }

        self.inputDirectory = inputDirectory
        self.outputDirectory = outputDirectory
        self.recursive = recursive
        self.include = include
        self.exclude = exclude
        self.suffix = suffix
        self.format = format
        self.skipExisting = skipExisting
        self.items = items
    }

    // MARK: - Scanning

    private static func scan(directory: String, canonical: String, relative: String, recursive: Bool,
                             skippingDirectory: String?, include: [Glob], exclude: [Glob],
                             into files: inout [String]) throws(BatchError) {
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: directory)
        } catch {
            var reason = fileSystemReason(error)
            if let handle = opendir(directory) { closedir(handle) } else { reason = String(cString: strerror(errno)) }
            throw .unreadableDirectory(path: directory, detail: reason)
        }
        for name in names.sorted() where !name.hasPrefix(".") {
            let path = directory + "/" + name
            let rel = relative.isEmpty ? name : relative + "/" + name
            var info = stat()
            guard lstat(path, &info) == 0 else { continue }
            var kind = info.st_mode & S_IFMT
            let isLink = kind == S_IFLNK
            if isLink {
                guard stat(path, &info) == 0 else { continue }  // a broken link
                kind = info.st_mode & S_IFMT
            }
            if kind == S_IFDIR {
                // Symbolic links to folders are not followed; neither are excluded folders nor the output folder.
                guard recursive, !isLink, !exclude.contains(where: { $0.matches(rel) }) else { continue }
                let sub = join(canonical, name)
                if sub == skippingDirectory { continue }
                try scan(directory: path, canonical: sub, relative: rel, recursive: recursive,
                         skippingDirectory: skippingDirectory, include: include, exclude: exclude, into: &files)
            } else if kind == S_IFREG {
                if include.contains(where: { $0.matches(rel) }), !exclude.contains(where: { $0.matches(rel) }) {
                    files.append(rel)
                }
            }
        }
    }

    // MARK: - Paths

    static func trimmingTrailingSlashes(_ path: String) -> String {
        var p = path
        while p.count > 1, p.hasSuffix("/") { p.removeLast() }
        return p.isEmpty ? "." : p
    }

    static func join(_ directory: String, _ relative: String) -> String {
        directory == "/" ? "/" + relative : directory + "/" + relative
    }

    /// The absolute path with `.`, `..` and symbolic links resolved, for the part of it that exists; the rest is
    /// normalised as text. Two paths naming the same file get the same canonical path.
    static func canonicalPath(_ path: String) -> String {
        let absolute = path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
        var components = absolute.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
        var tail: [String] = []
        var resolved: String?
        while resolved == nil {
            let prefix = "/" + components.joined(separator: "/")
            if let real = realpath(prefix, nil) {
                resolved = String(cString: real)
                free(real)
            } else if components.isEmpty {
                resolved = "/"
            } else {
                tail.insert(components.removeLast(), at: 0)
            }
        }
        var parts = resolved!.split(separator: "/").map(String.init)
        for part in tail {
            switch part {
            case ".": continue
            case "..": if !parts.isEmpty { parts.removeLast() }
            default: parts.append(part)
            }
        }
        return "/" + parts.joined(separator: "/")
    }
}

/// The operating system's reason for a failed file operation ("Permission denied"), rather than Foundation's
/// "The operation could not be completed".
func fileSystemReason(_ error: any Error) -> String {
    let ns = error as NSError
    if ns.domain == NSPOSIXErrorDomain { return String(cString: strerror(Int32(ns.code))) }
    if let underlying = ns.userInfo[NSUnderlyingErrorKey] as? NSError, underlying.domain == NSPOSIXErrorDomain {
        return String(cString: strerror(Int32(underlying.code)))
    }
    var text = ns.localizedDescription
    for prefix in ["The operation could not be completed. ", "The operation couldn’t be completed. "]
        where text.hasPrefix(prefix) && text.count > prefix.count + 1 {
        text.removeFirst(prefix.count)
    }
    while text.hasSuffix(".") { text.removeLast() }
    return text
}
