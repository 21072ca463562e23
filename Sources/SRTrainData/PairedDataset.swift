public import SRMetrics
public import SRCore
import SRImageIO
import Foundation

/// HR images from a folder with their LR counterparts, made once per image the way the SR papers make test
/// inputs: cropped to a multiple of the scale, MATLAB-bicubic downscaled and rounded to 8 bits.
public struct PairedDataset: Sendable {
    public struct Pair: Sendable {
        public var name: String
        /// 0...255 RGB planes.
        public var hr: PlanarImage
        public var lr: PlanarImage
    }

    public let scale: Int
    public private(set) var pairs: [Pair]
    /// Files that were skipped (too small or undecodable), with the reason.
    public private(set) var skipped: [(name: String, reason: String)] = []

    static let extensions: Set<String> = ["png", "jpg", "jpeg", "webp", "bmp", "tif", "tiff"]

    /// Loads every image under `folder` (recursively) of at least `minimumSide` pixels on both sides.
    /// - Throws: `TrainDataError.noImages` when none is usable.
    public init(folder: String, scale: Int, minimumSide: Int, limit: Int? = nil) throws {
        self.scale = scale
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: folder, isDirectory: &isDir), isDir.boolValue else {
            throw TrainDataError.noImages(folder: folder, detail: "it is not a folder")
        }
        let enumerator = FileManager.default.enumerator(atPath: folder)
        var files: [String] = []
        while let f = enumerator?.nextObject() as? String {
            if Self.extensions.contains((f as NSString).pathExtension.lowercased()) { files.append(f) }
        }
        files.sort()
        if let limit { files = Array(files.prefix(limit)) }
        pairs = []
        for f in files {
            let image: Image
            do { image = try ImageIO.decode(path: (folder as NSString).appendingPathComponent(f)) } catch {
                skipped.append((f, "\(error)"))
                continue
            }
            guard image.width >= minimumSide, image.height >= minimumSide else {
                skipped.append((f, "\(image.width)x\(image.height) is smaller than \(minimumSide) px"))
                continue
            }
            let hr = SRProtocol.modCrop(Self.rgb(image), scale: scale)
            pairs.append(Pair(name: f, hr: hr, lr: SRProtocol.lowResolution(hr, scale: scale)))
        }
        guard !pairs.isEmpty else {
            throw TrainDataError.noImages(folder: folder, detail: files.isEmpty ? "no image files"
                                          : "all \(files.count) images are undecodable or smaller than \(minimumSide) px")
        }
    }

    /// Splits off the last `count` pairs (by name) as a validation set.
    public mutating func holdOut(_ count: Int) -> [Pair] {
        let n = min(count, pairs.count - 1)
        guard n > 0 else { return [] }
        let held = Array(pairs.suffix(n))
        pairs.removeLast(n)
        return held
    }

    /// The colour planes on 0...255 as RGB (gray repeated, alpha dropped).
    static func rgb(_ image: Image) -> PlanarImage {
        let n = image.width * image.height
        var data = [Float](repeating: 0, count: 3 * n)
        for c in 0..<3 {
            let source = image.colorChannels == 1 ? 0 : c
            for i in 0..<n { data[c * n + i] = (image.pixels[source * n + i] * 255).rounded() }
        }
        return PlanarImage(channels: 3, height: image.height, width: image.width, data: data)
    }
}

/// A batch of aligned patches, NCHW, values 0...1.
public struct TrainingBatch: Sendable {
    public var count: Int
    public var channels: Int
    public var lrSize: Int
    public var hrSize: Int
    public var lr: [Float]
    public var hr: [Float]
}

/// Random aligned patch pairs with flips and 90-degree rotations; batch `k` depends only on (seed, k).
public struct PatchSampler: Sendable {
    public let dataset: PairedDataset
    public let batchSize: Int
    /// HR patch side (a multiple of the scale).
    public let patch: Int
    public let seed: UInt64
    /// When set, each LR patch is made from its HR patch by these random degradations instead of being cut from
    /// the clean bicubic LR image.
    public let degradation: DegradationConfig?

    public init(dataset: PairedDataset, batchSize: Int, patch: Int, seed: UInt64, degradation: DegradationConfig? = nil) {
        precondition(patch % dataset.scale == 0, "patch must be a multiple of the scale")
        self.dataset = dataset
        self.batchSize = batchSize
        self.patch = patch
        self.seed = seed
        self.degradation = degradation
    }

    public func batch(_ k: Int) -> TrainingBatch {
        var g = SeededGenerator(seed: seed &* 0x9E37_79B9_7F4A_7C15 &+ UInt64(k) &* 0xD1B5_4A32_D192_ED03 &+ 1)
        let s = dataset.scale, lp = patch / s
        var lr = [Float](repeating: 0, count: batchSize * 3 * lp * lp)
        var hr = [Float](repeating: 0, count: batchSize * 3 * patch * patch)
        for b in 0..<batchSize {
            let pair = dataset.pairs[Int.random(in: 0..<dataset.pairs.count, using: &g)]
            let ly = Int.random(in: 0...(pair.lr.height - lp), using: &g)
            let lx = Int.random(in: 0...(pair.lr.width - lp), using: &g)
            let hflip = Bool.random(using: &g), vflip = Bool.random(using: &g), transpose = Bool.random(using: &g)
            Self.copy(pair.hr, y: ly * s, x: lx * s, side: patch, hflip: hflip, vflip: vflip, transpose: transpose,
                      into: &hr, at: b * 3 * patch * patch)
            if let degradation {
                let start = b * 3 * patch * patch
                let hrPatch = PlanarImage(channels: 3, height: patch, width: patch,
                                          data: hr[start..<(start + 3 * patch * patch)].map { $0 * 255 })
                let degraded = degradation.apply(hrPatch, scale: s, using: &g)
                for i in 0..<(3 * lp * lp) { lr[b * 3 * lp * lp + i] = degraded.data[i] / 255 }
            } else {
                Self.copy(pair.lr, y: ly, x: lx, side: lp, hflip: hflip, vflip: vflip, transpose: transpose,
                          into: &lr, at: b * 3 * lp * lp)
            }
        }
        return TrainingBatch(count: batchSize, channels: 3, lrSize: lp, hrSize: patch, lr: lr, hr: hr)
    }

    /// Copies a `side` x `side` window at (y, x), flipped/transposed, scaled to 0...1, into `out` at `offset`.
    static func copy(_ image: PlanarImage, y: Int, x: Int, side: Int, hflip: Bool, vflip: Bool, transpose: Bool,
                     into out: inout [Float], at offset: Int) {
        for c in 0..<3 {
            for i in 0..<side {
                for j in 0..<side {
                    var r = transpose ? j : i, q = transpose ? i : j
                    if vflip { r = side - 1 - r }
                    if hflip { q = side - 1 - q }
                    out[offset + (c * side + i) * side + j] = image[c, y + r, x + q] / 255
                }
            }
        }
    }
}

/// Prepares batches on background threads so training never waits on data: batch k is `sampler.batch(k)`,
/// handed out in order from a bounded queue.
public final class BatchLoader: @unchecked Sendable {
    private let sampler: PatchSampler
    private let condition = NSCondition()
    private var ready: [Int: TrainingBatch] = [:]
    private var nextToMake: Int
    private var nextToTake: Int
    private let prefetch: Int
    private var stopped = false
    private var threads: [Thread] = []

    public init(sampler: PatchSampler, startingAt first: Int = 0, prefetch: Int = 4, workers: Int = 1) {
        self.sampler = sampler
        self.nextToMake = first
        self.nextToTake = first
        self.prefetch = prefetch
        for _ in 0..<max(1, workers) {
            let t = Thread { [weak self] in self?.work() }
            t.name = "enhance-batches"
            threads.append(t)
            t.start()
        }
    }

    private func work() {
        while true {
            condition.lock()
            while !stopped && nextToMake - nextToTake >= prefetch { condition.wait() }
            if stopped { condition.unlock(); return }
            let k = nextToMake
            nextToMake += 1
            condition.unlock()
            let b = sampler.batch(k)
            condition.lock()
            ready[k] = b
            condition.broadcast()
            condition.unlock()
        }
    }

    /// The next batch in order (waits while it is being made).
    public func next() -> TrainingBatch {
        condition.lock()
        defer { condition.unlock() }
        while ready[nextToTake] == nil { condition.wait() }
        let b = ready.removeValue(forKey: nextToTake)!
        nextToTake += 1
        condition.broadcast()
        return b
    }

    public func stop() {
        condition.lock()
        stopped = true
        condition.broadcast()
        condition.unlock()
    }

    deinit { stop() }
}
