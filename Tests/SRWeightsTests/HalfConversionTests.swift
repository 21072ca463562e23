import Testing
@testable import SRWeights

@Suite("ncnn half floats")
struct HalfConversionTests {
    @Test("the vectorised half-to-float conversion equals Float(Float16) for all 65536 bit patterns")
    func everyPattern() {
        var bytes: [UInt8] = []
        for h in 0...0xffff { bytes += [UInt8(h & 0xff), UInt8(h >> 8)] }
        bytes += [0x00, 0x3c]   // one more (1.0), so the scalar remainder runs too
        let converted = NCNNBinReader.halfs(bytes[...], count: 65537)
        var mismatches = 0
        for h in 0...0xffff {
            let expected = Float(Float16(bitPattern: UInt16(h)))
            let got = converted[h]
            if expected.isNaN ? !got.isNaN : got.bitPattern != expected.bitPattern { mismatches += 1 }
        }
        #expect(mismatches == 0)
        #expect(converted[65536] == 1)
    }
}
