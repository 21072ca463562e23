import Foundation
import Testing
import SRCore
import SRImageIO
import SRMetrics
import SRTestSupport
@testable import SRTrainData

@Suite("Training data: pairs, patches, loader")
struct TrainDataTests {
    @Test("LR images are the protocol's bicubic LR of the mod-cropped HR; small images are skipped; empty folders fail")
    func dataset() throws {
        let dir = try TrainDataSupport.scratch()
        try TrainDataSupport.writeImages(dir, count: 3, side: 30)
        try TrainDataSupport.writeImages(dir + "/small", count: 1, side: 8)
        let d = try PairedDataset(folder: dir, scale: 4, minimumSide: 16)
        #expect(d.pairs.count == 3 && d.skipped.count == 1)
        let p = d.pairs[0]
        #expect(p.hr.height == 28 && p.hr.width == 36 && p.lr.height == 7 && p.lr.width == 9)
        #expect(p.lr == SRProtocol.lowResolution(p.hr, scale: 4))
        let empty = try TrainDataSupport.scratch()
        #expect(throws: TrainDataError.self) { try PairedDataset(folder: empty, scale: 4, minimumSide: 16) }
        #expect(throws: TrainDataError.self) { try PairedDataset(folder: dir + "/missing", scale: 4, minimumSide: 16) }
        #expect(throws: TrainDataError.self) { try PairedDataset(folder: dir, scale: 4, minimumSide: 100) }
    }

    @Test("patches: deterministic per (seed, k); LR and HR stay aligned through flips and rotations")
    func patches() throws {
        let dir = try TrainDataSupport.scratch()
        try TrainDataSupport.writeImages(dir, count: 2, side: 40)
        let d = try PairedDataset(folder: dir, scale: 2, minimumSide: 16)
        let s = PatchSampler(dataset: d, batchSize: 6, patch: 16, seed: 9)
        #expect(s.batch(3).hr == s.batch(3).hr && s.batch(3).lr == s.batch(3).lr)
        #expect(s.batch(3).hr != s.batch(4).hr)
        #expect(PatchSampler(dataset: d, batchSize: 6, patch: 16, seed: 10).batch(3).hr != s.batch(3).hr)
        // Every LR patch equals the pixel-aligned box average-free check: the LR patch must be the crop of the
        // LR image under the same flip/rotation as the HR patch; verify by locating the HR patch in the HR image.
        let b = s.batch(0)
        #expect(b.lr.count == 6 * 3 * 8 * 8 && b.hr.count == 6 * 3 * 16 * 16)
        for k in 0..<b.count {
            let hrPatch = Array(b.hr[(k * 768)..<((k + 1) * 768)]), lrPatch = Array(b.lr[(k * 192)..<((k + 1) * 192)])
            var found = false
            search: for pair in d.pairs {
                for y in stride(from: 0, through: pair.hr.height - 16, by: 2) {
                    for x in stride(from: 0, through: pair.hr.width - 16, by: 2) {
                        for t in 0..<8 {
                            var h = [Float](repeating: 0, count: 768), l = [Float](repeating: 0, count: 192)
                            PatchSampler.copy(pair.hr, y: y, x: x, side: 16, hflip: t & 1 != 0, vflip: t & 2 != 0,
                                              transpose: t & 4 != 0, into: &h, at: 0)
                            guard h == hrPatch else { continue }
                            PatchSampler.copy(pair.lr, y: y / 2, x: x / 2, side: 8, hflip: t & 1 != 0, vflip: t & 2 != 0,
                                              transpose: t & 4 != 0, into: &l, at: 0)
                            found = l == lrPatch
                            break search
                        }
                    }
                }
            }
            #expect(found, "patch \(k): no aligned HR/LR placement reproduces it")
        }
    }

    @Test("the background loader hands out exactly the synchronous batches, in order")
    func loader() throws {
        let dir = try TrainDataSupport.scratch()
        try TrainDataSupport.writeImages(dir, count: 2, side: 24)
        let d = try PairedDataset(folder: dir, scale: 2, minimumSide: 16)
        let s = PatchSampler(dataset: d, batchSize: 2, patch: 8, seed: 3)
        let loader = BatchLoader(sampler: s, startingAt: 5, prefetch: 2, workers: 2)
        defer { loader.stop() }
        for k in 5..<15 { #expect(loader.next().hr == s.batch(k).hr) }
    }
}

@Suite("Real-world degradations")
struct DegradationTests {
    @Test("degraded LR patches: deterministic, whole 8-bit levels, different from the clean LR; blur keeps a flat image flat")
    func degradations() throws {
        let dir = try TrainDataSupport.scratch()
        try TrainDataSupport.writeImages(dir, count: 2, side: 40)
        let d = try PairedDataset(folder: dir, scale: 2, minimumSide: 16)
        var config = DegradationConfig()
        config.jpegProbability = 1
        config.noiseProbability = 1
        let clean = PatchSampler(dataset: d, batchSize: 4, patch: 16, seed: 5)
        let dirty = PatchSampler(dataset: d, batchSize: 4, patch: 16, seed: 5, degradation: config)
        let a = dirty.batch(2), b = dirty.batch(2)
        #expect(a.lr == b.lr)
        #expect(a.lr != clean.batch(2).lr)
        #expect(a.lr.allSatisfy { (0...1).contains($0) && abs($0 * 255 - ($0 * 255).rounded()) < 1e-3 })
        // The first sample is drawn before any degradation draws random numbers: the same HR patch.
        let n = 3 * 16 * 16
        let sameFirst = Array(a.hr[0..<n]) == Array(clean.batch(2).hr[0..<n])
        #expect(sameFirst)
        let flat = PlanarImage(channels: 3, height: 9, width: 7, data: [Float](repeating: 100, count: 189))
        #expect(DegradationConfig.blur(flat, sigma: 1.5).data.allSatisfy { abs($0 - 100) < 1e-3 })
        let jpeg = try #require(DegradationConfig.jpeg(flat, quality: 50))
        #expect(jpeg.height == 9 && jpeg.width == 7)
    }
}
