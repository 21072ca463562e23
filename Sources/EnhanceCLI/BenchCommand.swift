import ArgumentParser
import Foundation
import SRCore
import SREngine


#if canImport(Glibc)
import Glibc
#endif

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Time a model's network on a synthetic input (no image I/O, no tiling).",
        discussion: """
        Prints the median time per image, output megapixels per second, effective GFLOP/s from the model's \
        convolution multiply-accumulates (2 FLOP each), the share of this machine's fp32 peak, model load and \
        compile time, and the process's peak RSS.
        """
    )

    @Option(name: .shortAndLong, help: "Model id or .param path.")
    var model: String = ModelManifest.embedded.default

    @Option(help: ArgumentHelp("Input size WxH (before the model's own padding).", valueName: "WxH"))
    var size: String = "256x256"

    @Option(help: "Worker threads (default: all cores).")
    var threads: Int?

    @Option(help: "Timed runs after one warm-up run.")
    var runs: Int = 3

    @Option(help: "Numeric precision: fp32, or bf16 (bfloat16 convolutions, fp32 accumulation).")
    var precision: Precision = .fp32

    @Option(name: .customLong("peak-gflops"), help: "The machine's peak for the percentage (default: 234 fp32, 467 bf16 on these 2-core AVX-512 machines).")
    var peakGFLOPSOption: Double?

    var peakGFLOPS: Double { peakGFLOPSOption ?? (precision == .bf16 ? 467 : 234) }

    @Flag(help: "Print JSON.")
    var json = false

    func parsedSize() throws -> (width: Int, height: Int) {
        let parts = size.lowercased().split(separator: "x").compactMap { Int($0) }
        guard parts.count == 2, parts[0] > 0, parts[1] > 0, parts[0] * parts[1] <= 16_000_000 else {
            throw ValidationError("--size must be WxH with positive sides (at most 16 megapixels), e.g. 256x256; got '\(size)'")
        }
        return (parts[0], parts[1])
    }

    func validate() throws {
        _ = try parsedSize()
        if runs < 1 { throw ValidationError("--runs must be at least 1") }
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1, got \(threads)") }
    }

    func run() throws {
        let (w, h) = try parsedSize()
        let engine = try BackendOptions(threads: threads, precision: precision).engine()
        let loadStart = Date()
        let loaded = try engine.model(model)
        let load = Date().timeIntervalSince(loadStart)
        let window = try engine.benchmarkWindow(for: loaded, width: w, height: h)
        let compileStart = Date()
        try loaded.prepare(inputShape: window.shape)
        let compile = Date().timeIntervalSince(compileStart)
        let firstStart = Date()
        _ = try loaded.runNetwork(window)   // the warm-up (first touch of the working memory)
        let firstRun = Date().timeIntervalSince(firstStart)
        var times: [Double] = []
        for _ in 0..<runs {
            let t = Date()
            _ = try loaded.runNetwork(window)
            times.append(Date().timeIntervalSince(t))
        }
        times.sort()
        let median = times[(times.count - 1) / 2]
        let macs = try loaded.graph.multiplyAccumulates(inputs: [window.shape])
        let gflops = 2 * Double(macs) / median / 1e9
        let megapixels = Double(w * h * loaded.scale * loaded.scale) / 1e6 / median
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        let rssMB = Double(usage.ru_maxrss) / 1024
        let threadCount = threads ?? ProcessInfo.processInfo.activeProcessorCount
        if json {
            let object: [String: Any] = [
                "model": loaded.id, "input": "\(w)x\(h)", "threads": threadCount, "precision": precision.rawValue,
                "median_ms": median * 1000, "runs_ms": times.map { $0 * 1000 }, "output_mpix_per_s": megapixels,
                "gflop": 2 * Double(macs) / 1e9, "gflops": gflops, "peak_percent": 100 * gflops / peakGFLOPS,
                "load_s": load, "compile_s": compile, "first_run_s": firstRun, "peak_rss_mb": rssMB,
            ]
            let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .prettyPrinted])
            print(String(decoding: data, as: UTF8.self))
            return
        }
        print("""
        model            \(loaded.id) (x\(loaded.scale)), \(precision), \(threadCount) thread(s)
        input            \(w)x\(h) (network window \(window.shape.w)x\(window.shape.h) with padding)
        median           \(String(format: "%.1f", median * 1000)) ms over \(runs) run(s) \
        [\(times.map { String(format: "%.0f", $0 * 1000) }.joined(separator: ", "))]
        throughput       \(String(format: "%.3f", megapixels)) output MP/s
        work             \(String(format: "%.1f", 2 * Double(macs) / 1e9)) GFLOP (direct-convolution equivalent)
        speed            \(String(format: "%.1f", gflops)) GFLOP/s = \(String(format: "%.0f", 100 * gflops / peakGFLOPS))% of \(Int(peakGFLOPS)) GFLOP/s \(precision.rawValue) peak
        load             \(String(format: "%.3f", load)) s (read + convert weights)
        compile          \(String(format: "%.3f", compile)) s (primitives, weight layouts; once per input size)
        first run        \(String(format: "%.3f", firstRun)) s
        peak RSS         \(String(format: "%.0f", rssMB)) MB
        """)
    }
}
