import Foundation
import Testing
import SRImageIO
@testable import EnhanceCLI

/// A fresh folder holding `files` (relative paths; parents are created), each with a few fake bytes.
private func makeTree(_ files: [String]) throws -> String {
    let root = FileManager.default.temporaryDirectory.appendingPathComponent("enhance-batch-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
    for file in files { try put(root + "/" + file) }
    return root
}

private func put(_ path: String, _ contents: String = "fake image bytes") throws {
    try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent,
                                            withIntermediateDirectories: true)
    try Data(contents.utf8).write(to: URL(fileURLWithPath: path))
}

/// A small real PNG/JPEG (the format follows the extension).
private func writeImage(_ path: String) throws {
    try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent,
                                            withIntermediateDirectories: true)
    let (width, height) = (12, 9)
    let pixels = (0..<(3 * width * height)).map { Float($0 % 251) / 255 }
    try ImageIO.encode(Image(width: width, height: height, channels: 3, pixels: pixels), to: path)
}

private func exists(_ path: String) -> Bool { FileManager.default.fileExists(atPath: path) }

private func read(_ path: String) -> String? {
    (try? Data(contentsOf: URL(fileURLWithPath: path))).map { String(decoding: $0, as: UTF8.self) }
}

/// The error a plan throws, or nil when it plans.
private func planError(_ make: () throws(BatchError) -> BatchPlan) -> BatchError? {
    do { _ = try make(); return nil } catch { return error }
}

/// An upscaler that writes "upscaled <input>" atomically, as ImageIO.encode does: hidden temporary file, then rename.
private func fakeUpscale(_ item: BatchItem) throws -> ItemResult {
    let folder = (item.output as NSString).deletingLastPathComponent
    let temp = folder + "/.\((item.output as NSString).lastPathComponent).\(UUID().uuidString.prefix(8)).partial.png"
    try Data("upscaled \(item.relativePath)".utf8).write(to: URL(fileURLWithPath: temp))
    guard rename(temp, item.output) == 0 else { throw CocoaError(.fileWriteUnknown) }
    return ItemResult(detail: "1x1 -> 4x4")
}

private struct FakeDecodeError: Error, CustomStringConvertible {
    let path: String
    var description: String { "\(path) is not an image Enhance can read" }
}

/// Collects everything written to it.
private final class Sink: @unchecked Sendable {
    var chunks: [String] = []
    var text: String { chunks.joined() }
    func write(_ s: String) { chunks.append(s) }
}

/// `swift test --filter BatchTests` runs all of these.
@Suite("batch mode")
struct BatchTests {}

extension BatchTests {
    @Suite("globs")
    struct Globs {
        @Test("glob matching", arguments: [
            ("*.png", "a.png", true), ("*.png", "sub/deep/a.png", true), ("*.png", "a.png.txt", false),
            ("*.PNG", "a.png", true), ("*.png", "A.PNG", true), ("*_small.*", "x/cat_small.jpg", true),
            ("*_small.*", "cat_smaller", false),
            ("**/*.png", "a.png", true), ("**/*.png", "x/a.png", true), ("**/*.png", "x/y/z/a.png", true),
            ("**/*.png", "x/a.jpg", false),
            ("raw/*", "raw/a.png", true), ("raw/*", "raw/sub/a.png", false), ("raw/*", "a.png", false),
            ("raw/*", "other/raw/a.png", false),
            ("raw/**", "raw/sub/a.png", true), ("raw/**", "raw/a.png", true), ("raw/**", "rawx/a.png", false),
            ("raw/", "raw/sub/a.png", true),
            ("**/thumbs/*", "thumbs/a.png", true), ("**/thumbs/*", "x/y/thumbs/a.png", true),
            ("**/thumbs/*", "x/thumbsx/a.png", false), ("a/**/b.png", "a/b.png", true), ("a/**/b.png", "a/x/y/b.png", true),
            ("a/**/b.png", "ab.png", false),
            ("a**b", "axxb", true), ("a**b/c", "ax/yb/c", false),
            ("?.png", "a.png", true), ("?.png", "ab.png", false), ("x?y/a", "x/y/a", false),
            ("[abc].png", "b.png", true), ("[abc].png", "d.png", false), ("[a-c]*.png", "cat.png", true),
            ("[!a-c]*.png", "cat.png", false), ("[^a-c]*.png", "dog.png", true), ("[]x].png", "].png", true),
            ("\\*.png", "*.png", true), ("\\*.png", "a.png", false), ("*", "anything.at.all", true),
            ("./*.png", "a.png", true), ("img[0-9][0-9].jpg", "img42.jpg", true), ("img[0-9][0-9].jpg", "img4.jpg", false),
            ("*", "", true), ("**", "a/b/c", true),
        ])
        func matching(pattern: String, path: String, expected: Bool) throws {
            #expect(try Glob(pattern).matches(path) == expected, "\(pattern) vs \(path)")
        }

        @Test("case-sensitive matching when asked")
        func caseSensitive() throws {
            #expect(try !Glob("*.png", caseInsensitive: false).matches("A.PNG"))
            #expect(try Glob("*.PNG", caseInsensitive: false).matches("A.PNG"))
        }

        @Test("bad globs are refused with the reason", arguments: [
            ("", "empty"), ("[abc", "never closed"), ("/abs/*.png", "leading '/'"), ("a\\", "lone '\\'"), ("[z-a]", "backwards"),
        ])
        func invalid(pattern: String, reason: String) {
            do {
                _ = try Glob(pattern)
                Issue.record("'\(pattern)' was accepted")
            } catch {
                #expect(error.description.contains(reason), "\(error)")
                #expect(error.description.contains("invalid glob '\(pattern)'"))
            }
        }
}

}

extension BatchTests {
    @Suite("plan")
    struct Plan {
        static let tree = ["a.png", "B.JPG", "c.webp", "notes.txt", "sub/d.png", "sub/deep/e.tiff", "sub/deep/f.gif",
                           "raw/g.png", "raw/h_small.png", "thumbs/i.png", "x/thumbs/j.png"]

        @Test("without recursion only the top level is planned; with it every folder, sorted by relative path")
        func recursion() throws {
            let root = try makeTree(Self.tree)
            let flat = try BatchPlan(inputDirectory: root, outputDirectory: root + "-out")
            #expect(flat.items.map(\.relativePath) == ["B.JPG", "a.png", "c.webp"])
            let deep = try BatchPlan(inputDirectory: root, outputDirectory: root + "-out", recursive: true)
            #expect(deep.items.map(\.relativePath) == ["B.JPG", "a.png", "c.webp", "raw/g.png", "raw/h_small.png",
                                                       "sub/d.png", "sub/deep/e.tiff", "sub/deep/f.gif", "thumbs/i.png",
                                                       "x/thumbs/j.png"])
            #expect(deep.items.allSatisfy { $0.input == root + "/" + $0.relativePath })
        }

        @Test("include and exclude globs, ** included; exclude also drops whole folders")
        func globs() throws {
            let root = try makeTree(Self.tree)
            func plan(_ include: [String] = [], _ exclude: [String] = [], recursive: Bool = true) throws -> [String] {
                try BatchPlan(inputDirectory: root, outputDirectory: root + "-out", recursive: recursive,
                              include: include, exclude: exclude).items.map(\.relativePath)
            }
            #expect(try plan(["**/*.png"]) == ["a.png", "raw/g.png", "raw/h_small.png", "sub/d.png", "thumbs/i.png", "x/thumbs/j.png"])
            #expect(try plan(["*.png"]) == plan(["**/*.png"]))  // no '/': matched against the name at any depth
            #expect(try plan(["raw/*"]) == ["raw/g.png", "raw/h_small.png"])
            #expect(try plan(["sub/**"]) == ["sub/d.png", "sub/deep/e.tiff", "sub/deep/f.gif"])
            #expect(try plan(["*.txt"]) == ["notes.txt"])
            #expect(try plan([], ["*_small.*", "thumbs"]) == ["B.JPG", "a.png", "c.webp", "raw/g.png", "sub/d.png",
                                                             "sub/deep/e.tiff", "sub/deep/f.gif"])
            #expect(try plan([], ["sub/"]) == ["B.JPG", "a.png", "c.webp", "raw/g.png", "raw/h_small.png", "thumbs/i.png",
                                              "x/thumbs/j.png"])
            #expect(try plan([], ["**/deep/*", "raw/*", "**/thumbs", "*.jpg"]) == ["a.png", "c.webp", "sub/d.png"])
        }

        @Test("mirrored output tree, suffix, format override, unwritable extensions become png")
        func outputs() throws {
            let root = try makeTree(Self.tree)
            let out = root + "-out"
            let same = try BatchPlan(inputDirectory: root + "/", outputDirectory: out + "/", recursive: true)
            let byInput = Dictionary(uniqueKeysWithValues: same.items.map { ($0.relativePath, $0) })
            #expect(byInput["a.png"]?.output == out + "/a.png")
            #expect(byInput["B.JPG"]?.output == out + "/B.JPG")  // the input's own extension, case kept
            #expect(byInput["sub/deep/e.tiff"]?.output == out + "/sub/deep/e.tiff")
            #expect(byInput["sub/deep/f.gif"]?.output == out + "/sub/deep/f.png")  // GIF cannot be written
            #expect(byInput["sub/deep/f.gif"]?.relativeOutput == "sub/deep/f.png")
            #expect(byInput["a.png"]?.input == root + "/a.png")

            let suffixed = try BatchPlan(inputDirectory: root, outputDirectory: out, recursive: true, suffix: "_x4",
                                         format: ".WebP")
            #expect(suffixed.format == "webp")
            #expect(suffixed.items.map(\.relativeOutput) == ["B_x4.webp", "a_x4.webp", "c_x4.webp", "raw/g_x4.webp",
                                                             "raw/h_small_x4.webp", "sub/d_x4.webp", "sub/deep/e_x4.webp",
                                                             "sub/deep/f_x4.webp", "thumbs/i_x4.webp", "x/thumbs/j_x4.webp"])
            let noExtension = try makeTree(["README"])
            let plain = try BatchPlan(inputDirectory: noExtension, outputDirectory: noExtension + "-out", include: ["*"])
            #expect(plain.items.map(\.relativeOutput) == ["README.png"])
        }

        @Test("writing beside the inputs works when a suffix or another format changes every name")
        func sameFolder() throws {
            let root = try makeTree(["a.png", "sub/b.jpg"])
            let plan = try BatchPlan(inputDirectory: root, outputDirectory: root, recursive: true, suffix: "_x4")
            #expect(plan.items.map(\.output) == [root + "/a_x4.png", root + "/sub/b_x4.jpg"])
            let converted = try BatchPlan(inputDirectory: root, outputDirectory: root + "/.", recursive: true, format: "webp")
            #expect(converted.items.map(\.relativeOutput) == ["a.webp", "sub/b.webp"])
        }

        @Test("hidden files and folders are skipped, temporary .partial files among them")
        func hidden() throws {
            let root = try makeTree(["a.png", ".b.png", ".git/c.png", "sub/.d.png", "sub/e.png", ".a.png.1a2b3c4d.partial.png"])
            let plan = try BatchPlan(inputDirectory: root, outputDirectory: root + "-out", recursive: true, include: ["*"])
            #expect(plan.items.map(\.relativePath) == ["a.png", "sub/e.png"])
        }

        @Test("links to folders are not followed (no cycles); links to files are read")
        func symbolicLinks() throws {
            let root = try makeTree(["a.png", "sub/b.png"])
            let fm = FileManager.default
            try fm.createSymbolicLink(atPath: root + "/loop", withDestinationPath: root)
            try fm.createSymbolicLink(atPath: root + "/sub/up", withDestinationPath: "..")
            try fm.createSymbolicLink(atPath: root + "/link.png", withDestinationPath: root + "/sub/b.png")
            try fm.createSymbolicLink(atPath: root + "/broken.png", withDestinationPath: root + "/nowhere.png")
            let plan = try BatchPlan(inputDirectory: root, outputDirectory: root + "-out", recursive: true)
            #expect(plan.items.map(\.relativePath) == ["a.png", "link.png", "sub/b.png"])
        }

        @Test("an output folder inside the input folder is not scanned, so earlier results are not taken as inputs")
        func outputInsideInput() throws {
            let root = try makeTree(["a.png", "sub/b.png", "out/a.png", "out/sub/b.png", "out/old.png"])
            let plan = try BatchPlan(inputDirectory: root, outputDirectory: root + "/out", recursive: true)
            #expect(plan.items.map(\.relativePath) == ["a.png", "sub/b.png"])
            #expect(plan.items.map(\.output) == [root + "/out/a.png", root + "/out/sub/b.png"])
            // Spelled differently, it is still recognised.
            let other = try BatchPlan(inputDirectory: root, outputDirectory: root + "/sub/../out/", recursive: true)
            #expect(other.items.map(\.relativePath) == ["a.png", "sub/b.png"])
        }

        @Test("every plan error names the problem and how to fix it")
        func errors() throws {
            let root = try makeTree(["a.png", "a.jpg", "b.gif", "b.bmp", "sub/c.png", "file.txt"])
            let out = root + "-out"

            #expect(planError { () throws(BatchError) in try BatchPlan(inputDirectory: root + "/nope", outputDirectory: out) }
                    == .inputNotFound(path: root + "/nope"))
            #expect(planError { () throws(BatchError) in try BatchPlan(inputDirectory: root + "/a.png", outputDirectory: out) }
                    == .inputNotADirectory(path: root + "/a.png"))
            #expect(planError { () throws(BatchError) in try BatchPlan(inputDirectory: root, outputDirectory: root + "/file.txt") }
                    == .outputIsAFile(path: root + "/file.txt"))
            #expect(planError { () throws(BatchError) in try BatchPlan(inputDirectory: root, outputDirectory: root + "/./") }
                    == .wouldOverwriteInputs(directory: root))
            #expect(planError { () throws(BatchError) in try BatchPlan(inputDirectory: root, outputDirectory: out, format: "gif") }
                    == .unsupportedFormat("gif"))
            #expect(planError { () throws(BatchError) in try BatchPlan(inputDirectory: root, outputDirectory: out, suffix: "/x") }
                    == .invalidSuffix("/x"))
            #expect(planError { () throws(BatchError) in try BatchPlan(inputDirectory: root, outputDirectory: out, include: ["[a"]) }
                    == .invalidGlob(pattern: "[a", reason: "'[' at position 1 is never closed; add ']' or write '\\[' for a literal bracket"))

            // An output that is an input: into the same folder as PNG, a.png would be rewritten.
            let selfOverwrite = planError { () throws(BatchError) in
                try BatchPlan(inputDirectory: root, outputDirectory: root, include: ["a.*"], format: "png")
            }
            #expect(selfOverwrite == .outputIsAnInput(source: root + "/a.jpg", input: root + "/a.png", suffix: ""))
            let onlyPNG = planError { () throws(BatchError) in
                try BatchPlan(inputDirectory: root, outputDirectory: root, include: ["a.png"], format: "png")
            }
            #expect(onlyPNG == .outputIsAnInput(source: root + "/a.png", input: root + "/a.png", suffix: ""))
            #expect(onlyPNG?.description.contains("would be the input itself") == true)

            // A second run into the same folder would take the first run's results as inputs.
            try put(root + "/a_x4.png")
            let rerun = planError { () throws(BatchError) in
                try BatchPlan(inputDirectory: root, outputDirectory: root, include: ["*.png"], suffix: "_x4")
            }
            #expect(rerun == .outputIsAnInput(source: root + "/a.png", input: root + "/a_x4.png", suffix: "_x4"))
            #expect(rerun?.description.contains("--exclude '*_x4.*'") == true)
            #expect(try BatchPlan(inputDirectory: root, outputDirectory: root, include: ["*.png"], exclude: ["*_x4.*"],
                                  suffix: "_x4").items.map(\.relativePath) == ["a.png"])
            try FileManager.default.removeItem(atPath: root + "/a_x4.png")

            // Nothing matched: the globs and the recursion are named.
            let none = planError { () throws(BatchError) in
                try BatchPlan(inputDirectory: root, outputDirectory: out, include: ["*.webp", "sub/*"], exclude: ["x*"])
            }
            #expect(none == .noFilesMatched(directory: root, include: ["*.webp", "sub/*"], exclude: ["x*"], recursive: false))
            #expect(none?.description.contains("'*.webp', 'sub/*'") == true)
            #expect(none?.description.contains("--exclude 'x*'") == true)
            #expect(none?.description.contains("add --recursive") == true)
            let emptyRoot = try makeTree([])
            #expect(planError { () throws(BatchError) in try BatchPlan(inputDirectory: emptyRoot, outputDirectory: out) }
                    == .noFilesMatched(directory: emptyRoot, include: BatchPlan.defaultIncludes, exclude: [], recursive: false))

            // Two inputs, one output: listed, refused.
            let collision = planError { () throws(BatchError) in
                try BatchPlan(inputDirectory: root, outputDirectory: out, exclude: ["b.*"], format: "png")
            }
            #expect(collision == .outputCollisions([OutputCollision(output: out + "/a.png", inputs: [root + "/a.jpg", root + "/a.png"])]))
            #expect(collision?.description.contains("\(root)/a.jpg and \(root)/a.png -> \(out)/a.png") == true)
            // b.gif and b.bmp both become b.png without any --format.
            let implicit = planError { () throws(BatchError) in try BatchPlan(inputDirectory: root, outputDirectory: out) }
            #expect(implicit == .outputCollisions([
                OutputCollision(output: out + "/b.png", inputs: [root + "/b.bmp", root + "/b.gif"]),
            ]))

            // Messages say what to do.
            for error: BatchError in [.inputNotFound(path: "x"), .inputNotADirectory(path: "x"), .outputIsAFile(path: "x"),
                                      .wouldOverwriteInputs(directory: "x"), .unsupportedFormat("gif"), .invalidSuffix("/"),
                                      .unreadableDirectory(path: "x", detail: "permission denied")] {
                #expect(error.description.contains(":") || error.description.contains(";"), "\(error)")
            }
            #expect(BatchError.wouldOverwriteInputs(directory: "x").description.contains("--suffix"))
            #expect(BatchError.outputIsAFile(path: "x").description.contains("folder"))
        }

        @Test("a folder that cannot be read is an error, not a silent gap", .enabled(if: getuid() != 0))
        func unreadable() throws {
            let root = try makeTree(["a.png", "locked/b.png"])
            chmod(root + "/locked", 0)
            defer { chmod(root + "/locked", 0o755) }
            let error = planError { () throws(BatchError) in
                try BatchPlan(inputDirectory: root, outputDirectory: root + "-out", recursive: true)
            }
            guard case .unreadableDirectory(let path, _) = error else { Issue.record("got \(String(describing: error))"); return }
            #expect(path == root + "/locked")
            #expect(error?.description.contains("Permission denied") == true, "\(String(describing: error))")
            #expect(try BatchPlan(inputDirectory: root, outputDirectory: root + "-out", recursive: true,
                                  exclude: ["locked"]).items.count == 1)
        }
}

}

extension BatchTests {
    @Suite("runner")
    struct Runner {
        @Test("every file is upscaled into the mirrored tree; folders are created")
        func runsAll() throws {
            let root = try makeTree(["a.png", "sub/deep/b.jpg"])
            let out = root + "-out"
            let plan = try BatchPlan(inputDirectory: root, outputDirectory: out, recursive: true, suffix: "_x4")
            let sink = Sink()
            let summary = BatchRunner().run(plan, progress: JSONLinesProgressReporter(write: sink.write), upscale: fakeUpscale)
            #expect(summary.total == 2 && summary.processed == 2 && summary.skipped == 0 && summary.failed == 0)
            #expect(summary.exitCode == 0)
            #expect(read(out + "/a_x4.png") == "upscaled a.png")
            #expect(read(out + "/sub/deep/b_x4.jpg") == "upscaled sub/deep/b.jpg")
            #expect(read(root + "/a.png") == "fake image bytes")
            #expect(summary.tally.hasPrefix("2 files: 2 upscaled in "))
        }

        @Test("with ImageIO as the writer: formats follow the planned extensions, no temporary files remain")
        func realImages() throws {
            let root = try makeTree(["notes.png"])  // text named .png: fails to decode, the rest goes on
            try writeImage(root + "/a.png")
            try writeImage(root + "/sub/B.JPG")
            let out = root + "/out"
            let plan = try BatchPlan(inputDirectory: root, outputDirectory: out, recursive: true, suffix: "_x1")
            let summary = BatchRunner().run(plan, progress: QuietProgressReporter(write: { _ in })) { item in
                let image = try ImageIO.decode(path: item.input)
                try ImageIO.encode(image, to: item.output)
                return ItemResult(detail: "\(image.width)x\(image.height)")
            }
            #expect(summary.processed == 2 && summary.failed == 1)
            #expect(summary.failures.first?.message.contains("is not an image") == true)
            #expect(try ImageIO.header(path: out + "/a_x1.png").loader.hasPrefix("png"))
            #expect(try ImageIO.header(path: out + "/sub/B_x1.JPG").loader.hasPrefix("jpeg"))
            let left = try FileManager.default.subpathsOfDirectory(atPath: out).filter { $0.contains("partial") }
            #expect(left.isEmpty)
            // Running again with skip-existing does nothing but the failed file.
            let again = try BatchPlan(inputDirectory: root, outputDirectory: out, recursive: true, suffix: "_x1",
                                      skipExisting: true)
            let second = BatchRunner().run(again, progress: QuietProgressReporter(write: { _ in })) { item in
                _ = try ImageIO.decode(path: item.input)
                Issue.record("\(item.input) should have been skipped")
                return ItemResult()
            }
            #expect(second.skipped == 2 && second.failed == 1 && second.processed == 0)
        }

        @Test("a failing file is reported, the run goes on, and the exit code is non-zero")
        func failureContinues() throws {
            let root = try makeTree(["a.png", "b.png", "c.png", "d.png"])
            let out = root + "-out"
            let plan = try BatchPlan(inputDirectory: root, outputDirectory: out)
            var seen: [String] = []
            let sink = Sink()
            let summary = BatchRunner().run(plan, progress: JSONLinesProgressReporter(write: sink.write)) { item in
                seen.append(item.relativePath)
                if item.relativePath == "b.png" { throw FakeDecodeError(path: item.input) }
                if item.relativePath == "c.png" { return ItemResult() }  // claims success, writes nothing
                return try fakeUpscale(item)
            }
            #expect(seen == ["a.png", "b.png", "c.png", "d.png"])
            #expect(summary.processed == 2 && summary.failed == 2 && summary.skipped == 0)
            #expect(summary.exitCode != 0)
            #expect(summary.failures.map(\.item.relativePath) == ["b.png", "c.png"])
            #expect(summary.failures[0].message == "\(root)/b.png is not an image Enhance can read")
            #expect(summary.failures[1].message.contains("nothing was written"))
            #expect(summary.description.contains("failed: \(root)/b.png: \(root)/b.png is not an image Enhance can read"))
            #expect(summary.tally.contains("2 upscaled, 2 failed"))
            #expect(exists(out + "/d.png") && !exists(out + "/b.png"))
        }

        @Test("an output path that is a folder or whose folder cannot be made fails that file only")
        func unwritableOutput() throws {
            let root = try makeTree(["a.png", "b.png", "sub/c.png"])
            let out = root + "-out"
            try FileManager.default.createDirectory(atPath: out + "/a.png", withIntermediateDirectories: true)
            try put(out + "/sub")  // a file where the folder `sub` should be
            let plan = try BatchPlan(inputDirectory: root, outputDirectory: out, recursive: true)
            let summary = BatchRunner().run(plan, progress: QuietProgressReporter(write: { _ in }), upscale: fakeUpscale)
            #expect(summary.processed == 1 && summary.failed == 2)
            #expect(summary.failures[0].message.contains("is a folder"))
            #expect(summary.failures[1].message.hasPrefix("cannot create the output folder \(out)/sub: "))
            #expect(!summary.failures[1].message.contains("could not be completed"), "\(summary.failures[1].message)")
        }

        @Test("skip-existing skips complete outputs and redoes empty ones; a re-run resumes after failures")
        func resume() throws {
            let root = try makeTree(["a.png", "b.png", "c.png"])
            let out = root + "-out"
            var plan = try BatchPlan(inputDirectory: root, outputDirectory: out, skipExisting: true)
            let quiet = QuietProgressReporter(write: { _ in })
            var calls: [String] = []
            let first = BatchRunner().run(plan, progress: quiet) { item in
                calls.append(item.relativePath)
                if item.relativePath == "b.png" { throw FakeDecodeError(path: item.input) }
                return try fakeUpscale(item)
            }
            #expect(first.processed == 2 && first.failed == 1)
            try put(out + "/c.png", "")  // an empty output (not from us) is not a finished one

            calls = []
            let second = BatchRunner().run(plan, progress: quiet) { item in
                calls.append(item.relativePath)
                return try fakeUpscale(item)
            }
            #expect(calls == ["b.png", "c.png"])
            #expect(second.processed == 2 && second.skipped == 1 && second.failed == 0 && second.exitCode == 0)
            #expect(second.tally.contains("1 skipped (output exists)"))
            #expect(read(out + "/c.png") == "upscaled c.png")

            // Without skip-existing everything is redone (outputs are not inputs, so overwriting them is fine).
            plan = try BatchPlan(inputDirectory: root, outputDirectory: out, skipExisting: false)
            calls = []
            let third = BatchRunner().run(plan, progress: quiet) { item in calls.append(item.relativePath); return try fakeUpscale(item) }
            #expect(calls.count == 3 && third.processed == 3)
        }

        @Test("stale temporary files of an interrupted run are deleted, nothing else is")
        func stalePartials() throws {
            let root = try makeTree(["a.png", "sub/b.png"])
            let out = root + "-out"
            let stale = [out + "/.a_x4.png.1a2b3c4d.partial.png", out + "/sub/.b_x4.png.deadbeef.partial.png"]
            let keep = [out + "/.other.png.1a2b3c4d.partial.png", out + "/.a_x4.png.notes", out + "/a.partial.png"]
            for path in stale + keep { try put(path, "half") }
            let old = Date(timeIntervalSinceNow: -3600)
            for path in stale + keep { try FileManager.default.setAttributes([.modificationDate: old], ofItemAtPath: path) }
            let fresh = out + "/sub/.b_x4.png.feedf00d.partial.png"  // being written by someone right now
            try put(fresh, "half")

            let plan = try BatchPlan(inputDirectory: root, outputDirectory: out, recursive: true, suffix: "_x4", skipExisting: true)
            let summary = BatchRunner().run(plan, progress: QuietProgressReporter(write: { _ in }), upscale: fakeUpscale)
            #expect(summary.removedPartials == 2)
            #expect(stale.allSatisfy { !exists($0) })
            #expect(keep.allSatisfy(exists) && exists(fresh))
            #expect(summary.processed == 2)  // the partials did not count as existing outputs
        }
}

}

extension BatchTests {
    @Suite("progress")
    struct Progress {
        @Test("JSON lines: one object per line with the documented fields")
        func jsonLines() throws {
            let root = try makeTree(["a.png", "b \"quoted\"\n.png", "c.png"])
            let out = root + "-out"
            let plan = try BatchPlan(inputDirectory: root, outputDirectory: out, skipExisting: true)
            try put(out + "/c.png", "done before")
            let sink = Sink()
            let summary = BatchRunner().run(plan, progress: JSONLinesProgressReporter(write: sink.write)) { item in
                if item.relativePath.hasPrefix("b") { throw FakeDecodeError(path: item.input) }
                return try fakeUpscale(item)
            }
            #expect(sink.chunks.allSatisfy { $0.hasSuffix("\n") && $0.dropLast().contains("\n") == false })
            let lines = sink.text.split(separator: "\n").map(String.init)
            #expect(lines.count == 5)
            let objects = try lines.map { try #require(JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]) }
            #expect(lines.allSatisfy { $0.hasPrefix("{\"event\":") })

            #expect(objects[0]["event"] as? String == "start" && objects[0]["total"] as? Int == 3)
            let files = Array(objects[1...3])
            #expect(files.map { $0["event"] as? String } == ["file", "file", "file"])
            #expect(files.map { $0["index"] as? Int } == [1, 2, 3])
            #expect(files.allSatisfy { $0["total"] as? Int == 3 && ($0["seconds"] as? Double) != nil })
            #expect(files.map { $0["status"] as? String } == ["ok", "failed", "skipped"])
            #expect(files[0]["input"] as? String == root + "/a.png" && files[0]["output"] as? String == out + "/a.png")
            #expect(files[0]["error"] is NSNull && files[2]["error"] is NSNull)
            #expect(files[0]["detail"] as? String == "1x1 -> 4x4")
            #expect(files[1]["input"] as? String == root + "/b \"quoted\"\n.png")
            #expect(files[1]["error"] as? String == "\(root)/b \"quoted\"\n.png is not an image Enhance can read")

            let done = objects[4]
            #expect(done["event"] as? String == "done")
            #expect(done["processed"] as? Int == 1 && done["skipped"] as? Int == 1 && done["failed"] as? Int == 1)
            #expect(done["total"] as? Int == 3 && (done["seconds"] as? Double).map { $0 >= 0 } == true)
            let failures = try #require(done["failures"] as? [[String: Any]])
            #expect(failures.count == 1 && failures[0]["input"] as? String == root + "/b \"quoted\"\n.png")
            #expect(summary.exitCode == 1)
        }

        @Test("JSON strings are escaped")
        func escaping() throws {
            let text = JSONValue.object([("s", .string("a\"b\\c\n\t\u{01}é😀")), ("n", .null), ("x", .seconds(1.5)),
                                         ("a", .array([.int(1), .int(-2)]))]).text
            let parsed = try #require(JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
            #expect(parsed["s"] as? String == "a\"b\\c\n\t\u{01}é😀")
            #expect(parsed["n"] is NSNull && parsed["x"] as? Double == 1.5 && parsed["a"] as? [Int] == [1, -2])
            #expect(text.hasPrefix("{\"s\":"))
        }

        @Test("the terminal bar shows progress, counts, the file and the ETA, in one line that fits", arguments: [120, 80, 60, 40, 12, 1])
        func barFits(width: Int) {
            let line = TerminalProgressReporter.render(done: 12, total: 40, ok: 10, skipped: 1, failed: 1,
                                                       current: "some/very/long/folder/name/with/a/photo_of_the_sea.png",
                                                       eta: 80, width: width)
            #expect(!line.contains("\n") && !line.contains("\r"))
            #expect(line.count <= max(1, width - 1), "\(line.count) > \(width - 1): \(line)")
            switch width {
            case 120:
                #expect(line == "[######..............] 12/40 ok 10 skip 1 fail 1  some/very/long/folder/name/with/a/photo_of_the_sea.png  ETA 1m20s")
            case 80:  // the file name is shortened from the left
                #expect(line.hasPrefix("[######..............] 12/40 ok 10 skip 1 fail 1  …"))
                #expect(line.hasSuffix("sea.png  ETA 1m20s") && line.count == 79)
            case 60:  // no room for the name
                #expect(line == "[######..............] 12/40 ok 10 skip 1 fail 1  ETA 1m20s")
            case 40: #expect(line.hasPrefix("[######..............] 12/40 ok 10"))
            default: break
            }
        }

        @Test("bar edge cases: empty, finished, no ETA yet, control characters in a name")
        func barEdges() {
            #expect(TerminalProgressReporter.render(done: 0, total: 1, ok: 0, skipped: 0, failed: 0, current: "a\nb\r\u{1B}.png",
                                                    eta: nil, width: 80)
                    == "[....................] 0/1 ok 0 skip 0 fail 0  a?b??.png")
            #expect(TerminalProgressReporter.render(done: 0, total: 3, ok: 0, skipped: 0, failed: 0, current: nil, eta: nil, width: 80)
                    == "[....................] 0/3 ok 0 skip 0 fail 0")
            #expect(TerminalProgressReporter.render(done: 3, total: 3, ok: 3, skipped: 0, failed: 0, current: nil, eta: 0, width: 80)
                    == "[####################] 3/3 ok 3 skip 0 fail 0  ETA 0.0s")
            #expect(TerminalProgressReporter.render(done: 0, total: 0, ok: 0, skipped: 0, failed: 0, current: "a.png", eta: nil, width: 80)
                    == "[....................] 0/0 ok 0 skip 0 fail 0  a.png")
        }

        @Test("the terminal reporter redraws one line with \\r and prints failures and the tally on their own lines")
        func terminalStream() throws {
            let root = try makeTree(["a.png", "b.png", "c.png"])
            let plan = try BatchPlan(inputDirectory: root, outputDirectory: root + "-out")
            let sink = Sink()
            let reporter = TerminalProgressReporter(write: sink.write, width: { 70 })
            let summary = BatchRunner().run(plan, progress: reporter) { item in
                if item.relativePath == "b.png" { throw FakeDecodeError(path: item.input) }
                return try fakeUpscale(item)
            }
            #expect(summary.failed == 1)
            let frames = sink.chunks.filter { !$0.contains("\n") }
            #expect(frames.count >= 7)  // start, and before and after each file
            for frame in frames {
                #expect(frame.hasPrefix("\r") && frame.hasSuffix("\u{1B}[K"))
                #expect(frame.dropFirst().dropLast(3).count <= 69)
            }
            #expect(frames.contains { $0.contains("1/3 ok 1 skip 0 fail 0") && $0.contains("ETA") })
            #expect(frames.contains { $0.contains("b.png") })
            let lines = sink.chunks.filter { $0.contains("\n") }
            #expect(lines.first == "\r\u{1B}[Kfailed: \(root)/b.png: \(root)/b.png is not an image Enhance can read\n")
            #expect(sink.text.contains("\r\u{1B}[K3 files: 2 upscaled, 1 failed in "))
            #expect(sink.text.hasSuffix("failed files:\n  \(root)/b.png: \(root)/b.png is not an image Enhance can read\n"))
        }

        @Test("quiet prints only failures and the tally when something failed")
        func quiet() throws {
            let root = try makeTree(["a.png", "b.png"])
            let plan = try BatchPlan(inputDirectory: root, outputDirectory: root + "-out")
            let sink = Sink()
            _ = BatchRunner().run(plan, progress: QuietProgressReporter(write: sink.write), upscale: fakeUpscale)
            #expect(sink.text.isEmpty)
            let failing = try BatchPlan(inputDirectory: root, outputDirectory: root + "-out2")
            _ = BatchRunner().run(failing, progress: QuietProgressReporter(write: sink.write)) { item in
                throw FakeDecodeError(path: item.input)
            }
            #expect(sink.chunks.count == 3)
            #expect(sink.chunks[2].hasPrefix("2 files: 0 upscaled, 2 failed in "))
        }

        @Test("durations", arguments: [(0.44, "0.4s"), (9.94, "9.9s"), (45, "45s"), (80, "1m20s"), (3599, "59m59s"), (7380, "2h03m")])
        func durations(seconds: Double, text: String) {
            #expect(formatDuration(seconds) == text)
        }
}
}
