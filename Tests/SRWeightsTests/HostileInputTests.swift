import Foundation
import Testing
@testable import SRWeights

/// Pickle ops for `torch._utils._rebuild_tensor_v2(storage "0", 0, size, stride)` of a `storage` storage
/// (a persistent id, so only inside a checkpoint).
func rebuildTensorOps(size: [UInt8], stride: [UInt8], storage: String = "FloatStorage") -> [Any] {
    [Array("ctorch._utils\n_rebuild_tensor_v2\n".utf8), [0x28, 0x28], "storage", Array("ctorch\n\(storage)\n".utf8),
     "0", "cpu", [0x4B, 1, 0x74, 0x51, 0x4B, 0], size, stride, [0x74, 0x52]]
}

/// A zip checkpoint with the pickle `parts` and one storage "0" of `storageBytes` bytes.
func checkpoint(_ parts: [Any], storageBytes: Int = 4) -> Data {
    var zip = ZipBuilder()
    zip.add("x/data.pkl", Array(pickle(parts)))
    zip.add("x/data/0", [UInt8](repeating: 0, count: storageBytes))
    return zip.build()
}

/// `{"a": L}` where L0 = [tensor] and each list L(k) holds L(k-1) `fanout` times (memo references, BINGET), up to
/// `levels` lists: `fanout ^ levels` tensor paths from a few hundred bytes.
func sharedListsCheckpoint(levels: Int, fanout: Int) -> Data {
    var parts: [Any] = [[0x80, 0x02, 0x7D, 0x5D, 0x71, 0]]
    parts += rebuildTensorOps(size: [0x4B, 1, 0x85], stride: [0x4B, 1, 0x85])
    parts.append([0x61, 0x30])
    for k in 1..<levels {
        parts.append([0x5D, 0x71, k, 0x28] + Array(repeating: [0x68, k - 1], count: fanout).flatMap { $0 } + [0x65, 0x30])
    }
    parts += ["a", [0x68, levels - 1, 0x73, 0x2E]]
    return checkpoint(parts)
}

/// Runs `body`, returning the error it threw and how long it took.
func timed(_ body: () throws -> Void) -> (error: (any Error)?, seconds: Double) {
    var caught: (any Error)?
    let elapsed = ContinuousClock().measure {
        do { try body() } catch { caught = error }
    }
    return (caught, Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18)
}

@Suite("Hostile PyTorch checkpoints")
struct HostileCheckpointTests {
    @Test("ten lists sharing the previous one ten times (10^9 tensor paths in under 700 bytes) are refused within a second")
    func sharedContainers() throws {
        let small = try PyTorchCheckpoint.read(zip: sharedListsCheckpoint(levels: 2, fanout: 3))
        #expect(small.names == ["a.0.0", "a.1.0", "a.2.0"], "shared containers within the budget still read")

        let hostile = sharedListsCheckpoint(levels: 10, fanout: 10)
        #expect(hostile.count < 700)
        let (error, seconds) = timed { _ = try PyTorchCheckpoint.read(zip: hostile) }
        guard case .workLimit(let what, _, _)? = error as? WeightsError else {
            Issue.record("expected a work limit, got \(String(describing: error))"); return
        }
        #expect(what.contains("container entries"))
        #expect(seconds < 1, "took \(seconds) s")
    }

    @Test("tuples sharing their children through the memo get their depth in O(1) each")
    func sharedTuples() throws {
        func tuples(_ levels: Int) -> Data {
            Data([0x80, 0x02, 0x29, 0x71, 0, 0x30]
                 + Array(repeating: [0x68, 0, 0x68, 0, 0x68, 0, 0x87, 0x71, 0, 0x30], count: levels).flatMap { $0 }
                 + [0x68, 0, 0x2E])
        }
        let (error, seconds) = timed {
            var unpickler = Unpickler(tuples(99))
            defer { unpickler.dismantle() }
            guard case .tuple(let t) = try unpickler.load(), t.count == 3 else { Issue.record("expected a 3-tuple"); return }
        }
        #expect(error == nil)
        #expect(seconds < 1, "took \(seconds) s")
        #expect(throws: WeightsError.malformedPickle(offset: 6 + 99 * 10 + 6, reason: "tuples nested deeper than 100")) {
            var unpickler = Unpickler(tuples(100))
            _ = try unpickler.load()
        }
    }

    @Test("an OrderedDict rebuilt again and again from one shared list of pairs runs out of budget")
    func sharedOrderedDictPairs() throws {
        let n = 1000
        var bytes: [UInt8] = [0x80, 0x02] + Array("ccollections\nOrderedDict\n".utf8) + [0x71, 0, 0x30, 0x5D, 0x71, 1, 0x28]
        bytes += Array(repeating: [0x4B, 0, 0x4B, 0, 0x86], count: n).flatMap { $0 } + [0x65, 0x30, 0x7D]
        for i in 0..<n { bytes += [0x4A] + u32(UInt32(i)) + [0x68, 0, 0x68, 1, 0x85, 0x52, 0x73] }
        let (error, seconds) = timed {
            var unpickler = Unpickler(Data(bytes + [0x2E]))
            defer { unpickler.dismantle() }
            _ = try unpickler.load()
        }
        guard case .workLimit(let what, _, let input)? = error as? WeightsError else {
            Issue.record("expected a work limit, got \(String(describing: error))"); return
        }
        #expect(what.contains("memo"))
        #expect(input == bytes.count + 1)
        #expect(seconds < 2, "took \(seconds) s")
    }

    @Test("strided views copied again and again stop at the copy budget")
    func repeatedCopies() throws {
        // One f64 element viewed as 2^20 elements (stride 0): 8 MiB per copy, referenced 40 times.
        let view = rebuildTensorOps(size: [0x4A] + u32(1 << 20) + [0x85], stride: [0x4B, 0, 0x85], storage: "DoubleStorage")
        var parts: [Any] = [[0x80, 0x02, 0x7D], "a", [0x28]]
        parts += view
        parts.append([0x71, 0] + Array(repeating: [0x68, 0], count: 39).flatMap { $0 } + [0x6C, 0x73, 0x2E])
        let (error, _) = timed { _ = try PyTorchCheckpoint.read(zip: checkpoint(parts, storageBytes: 8)) }
        guard case .workLimit(let what, _, _)? = error as? WeightsError else {
            Issue.record("expected a work limit, got \(String(describing: error))"); return
        }
        #expect(what.contains("copied"))
    }

    @Test("a strided copy whose stride overflows past its last element does not trap")
    func strideOverflow() throws {
        let storage = TorchStorage(key: "0", dtype: .f32, bytes: Data(f32([0, 1, 2, 3])))
        let view = TorchTensorView(storage: storage, offset: 1, shape: [1, 2], stride: [Int.max, 2])
        var copies = WorkBudget.copies(fileBytes: 16)
        #expect(try view.materialized(name: "t", copies: &copies).floats() == [1, 3])
    }

    @Test("a ZIP64 entry of Int.max bytes is truncation, not an overflow")
    func zip64Sizes() throws {
        var zip = ZipBuilder()
        zip.zip64 = true
        zip.add("x/data.pkl", Array(pickle([0x80, 0x02, 0x7D, 0x2E])))
        var bytes = [UInt8](zip.build())
        let central = try #require((0..<bytes.count - 4).first { bytes[$0..<$0 + 4] == [0x50, 0x4B, 0x01, 0x02] })
        let extra = central + 46 + "x/data.pkl".utf8.count
        let huge = withUnsafeBytes(of: UInt64(Int.max).littleEndian) { Array($0) }
        bytes.replaceSubrange((extra + 4)..<(extra + 20), with: huge + huge)
        #expect(throws: WeightsError.truncatedZip(reason: "entry 'x/data.pkl' needs \(Int.max) bytes from byte 40 but the file has \(bytes.count)")) {
            try PyTorchCheckpoint.read(zip: Data(bytes))
        }
    }

    @Test("a legacy storage view of a view is refused (chains of views would free recursively)")
    func legacyViewOfView() throws {
        let magic: [UInt8] = [0x8A, 10, 0x6C, 0xFC, 0x9C, 0x46, 0xF9, 0x20, 0x6A, 0xA8, 0x50, 0x19, 0x2E]
        func pid(_ key: String, view: String) -> [Any] {
            [[0x28], "storage", Array("ctorch\nFloatStorage\n".utf8), key, "cpu", [0x4B, 4, 0x28], view, [0x4B, 0, 0x4B, 1, 0x74, 0x74, 0x51]]
        }
        var parts: [Any] = [magic, [0x80, 0x02, 0x4D, 0xE9, 0x03, 0x2E], [0x80, 0x02, 0x7D, 0x2E], [0x80, 0x02, 0x28]]
        parts += pid("1", view: "2")
        parts += pid("2", view: "3")
        parts.append([0x6C, 0x2E])
        #expect(throws: WeightsError.legacyFormat(reason: "storage view '3' is taken of storage '2', which is itself a view")) {
            try PyTorchCheckpoint.read(legacy: pickle(parts))
        }
    }
}

@Suite("Hostile ncnn .param values")
struct HostileNCNNTests {
    let good = u32(0) + f32(tinyWeights) + f32(tinyBias)

    func expectRefusal(_ expected: NCNNError, conv: String, sourceLocation: SourceLocation = #_sourceLocation) {
        expectRefusal(expected, param: tinyParam.replacingOccurrences(of: "0=2 1=1 5=1 6=4", with: conv), bin: good,
                      sourceLocation: sourceLocation)
    }

    func expectRefusal(_ expected: NCNNError, param: String, bin: [UInt8] = [],
                       sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(throws: expected, sourceLocation: sourceLocation) { try NCNNModel.parse(param: param, bin: bin) }
    }

    func memoryData(_ params: String) -> String { "7767517\n2 2\nInput in0 0 1 in0\nMemoryData md 0 1 md0 \(params)\n" }

    @Test("0=1e30 is not a 32-bit integer")
    func hugeScalar() {
        expectRefusal(.invalidParameter(layer: "conv", key: 0, detail: "num_output = 1e+30 is not an integer in 1...2147483647"),
                      conv: "0=1e30 1=1 5=1 6=4")
    }

    @Test("0=nan is not an integer")
    func nanScalar() {
        expectRefusal(.invalidParameter(layer: "conv", key: 0, detail: "num_output = nan is not an integer in 1...2147483647"),
                      conv: "0=nan 1=1 5=1 6=4")
    }

    @Test("an array count of 1e30 is a bad array")
    func hugeArrayCount() {
        expectRefusal(.malformedLayer(line: 4, reason: "bad array parameter '-23310=1e30,1'"), conv: "0=2 1=1 5=1 6=4 -23310=1e30,1")
    }

    @Test("num_output x kernel_h x kernel_w overflowing is a weight-shape error")
    func kernelProductOverflow() {
        expectRefusal(.weightShape(layer: "conv", detail: "num_output x kernel_h x kernel_w = 2147483647x2147483647x2147483647 overflows"),
                      conv: "0=2147483647 1=2147483647 11=2147483647 5=1 6=4")
    }

    @Test("weight_data_size 2^62 is out of range, and 2e9 is more than the .bin holds")
    func hugeWeightDataSize() {
        expectRefusal(.invalidParameter(layer: "conv", key: 6, detail: "weight_data_size = 4611686018427387904 is not an integer in 1...2147483647"),
                      conv: "0=2 1=1 5=1 6=4611686018427387904")
        expectRefusal(.truncatedWeights(layer: "conv", needed: 8_000_000_000, available: 24), conv: "0=2 1=1 5=1 6=2000000000")
        expectRefusal(.truncatedWeights(layer: "conv", needed: 4_000_000_000, available: 24),
                      param: tinyParam.replacingOccurrences(of: "0=2 1=1 5=1 6=4", with: "0=2 1=1 5=1 6=2000000000"),
                      bin: u32(0x0130_6B47) + Array(good.dropFirst(4)))
    }

    @Test("zero strides, dilations, kernels and groups name the layer and key")
    func zeroWindows() {
        expectRefusal(.invalidParameter(layer: "conv", key: 3, detail: "stride_w = 0 is not an integer in 1...65536"),
                      conv: "0=2 1=1 3=0 5=1 6=4")
        expectRefusal(.invalidParameter(layer: "conv", key: 13, detail: "stride_h = -1 is not an integer in 1...65536"),
                      conv: "0=2 1=1 13=-1 5=1 6=4")
        expectRefusal(.invalidParameter(layer: "conv", key: 2, detail: "dilation_w = 0 is not an integer in 1...65536"),
                      conv: "0=2 1=1 2=0 5=1 6=4")
        expectRefusal(.invalidParameter(layer: "conv", key: 1, detail: "kernel_w = 0 is not an integer in 1...2147483647"),
                      conv: "0=2 1=0 5=1 6=4")
        expectRefusal(.invalidParameter(layer: "conv", key: 7, detail: "group = 0 is not an integer in 1...2147483647"),
                      param: tinyParam.replacingOccurrences(of: "Convolution      conv    1 1 data c 0=2 1=1 5=1 6=4",
                                                            with: "ConvolutionDepthWise conv 1 1 data c 0=2 1=1 5=1 6=4 7=0"))
        expectRefusal(.weightShape(layer: "conv", detail: "group 3 does not divide num_output 2"),
                      param: tinyParam.replacingOccurrences(of: "Convolution      conv    1 1 data c 0=2 1=1 5=1 6=4",
                                                            with: "ConvolutionDepthWise conv 1 1 data c 0=2 1=1 5=1 6=4 7=3"))
        expectRefusal(.invalidParameter(layer: "pool", key: 2, detail: "stride_w = 0 is not an integer in 1...65536"),
                      param: "7767517\n2 2\nInput in0 0 1 in0\nPooling pool 1 1 in0 out 0=0 1=2 2=0\n")
        expectRefusal(.invalidParameter(layer: "pool", key: 1, detail: "kernel_w = 0 is not an integer in 1...65536"),
                      param: "7767517\n2 2\nInput in0 0 1 in0\nPooling pool 1 1 in0 out 0=0\n")
        expectRefusal(.invalidParameter(layer: "up", key: 1, detail: "height_scale = 1e+39 is not a number in (0, 65536]"),
                      param: "7767517\n2 2\nInput in0 0 1 in0\nInterp up 1 1 in0 out 0=1 1=1e39\n")
    }

    @Test("MemoryData 0=-5 is refused")
    func negativeMemoryData() {
        expectRefusal(.invalidParameter(layer: "md", key: 0, detail: "w = -5 is not an integer in 0...2147483647"),
                      param: memoryData("0=-5"))
    }

    @Test("MemoryData dims of 2^32, or whose product overflows or exceeds the .bin, are refused")
    func hugeMemoryData() {
        expectRefusal(.invalidParameter(layer: "md", key: 0, detail: "w = 4294967296 is not an integer in 0...2147483647"),
                      param: memoryData("0=4294967296"))
        expectRefusal(.truncatedWeights(layer: "md", needed: 4 << 48, available: 0), param: memoryData("0=65536 1=65536 2=65536"))
        expectRefusal(.weightShape(layer: "md", detail: "c x h x w = 2147483647x2147483647x2147483647 overflows"),
                      param: memoryData("0=2147483647 1=2147483647 2=2147483647"))
        expectRefusal(.weightShape(layer: "md", detail: "no elements (w=0 h=0 c=0)"), param: memoryData("0=0"))
    }

    @Test("huge blob and layer counts, and keys that overflow when negated, are malformed")
    func hugeCounts() {
        expectRefusal(.malformedLayer(line: 3, reason: "declares 0 inputs and 9223372036854775807 outputs but lists fewer blobs"),
                      param: "7767517\n1 1\nInput in 0 9223372036854775807 in0\n")
        expectRefusal(.malformedLayer(line: 4, reason: "bad parameter key in '-9223372036854775808=1': keys are 0...31, or -23300 minus one of those for arrays"),
                      param: "7767517\n2 2\nInput in0 0 1 in0\nReLU r 1 1 in0 out -9223372036854775808=1\n")
        expectRefusal(.layerCountMismatch(declared: 4_611_686_018_427_387_904, found: 1),
                      param: "7767517\n4611686018427387904 1\nInput in 0 1 in0\n")
    }

    @Test("crop offsets of 1e30 are refused by key")
    func hugeCropArray() {
        expectRefusal(.invalidParameter(layer: "crop", key: -23309, detail: "starts = 1e+30 is not an integer in -2147483648...2147483647"),
                      param: "7767517\n2 2\nInput in0 0 1 in0\nCrop crop 1 1 in0 out -23309=1,1e30\n")
    }
}

@Suite("Hostile safetensors headers")
struct HostileSafetensorsTests {
    func expectError(_ error: WeightsError, _ data: Data, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(throws: error, sourceLocation: sourceLocation) { try Safetensors.read(data) }
    }

    @Test("shapes whose element or byte count overflows are invalid")
    func overflowingShapes() {
        expectError(.badHeader(reason: "tensor 'a' has an invalid shape [4611686018427387904, 4]"),
                    safetensors("{\(entry("a", "F32", [1 << 62, 4], 0, 16))}", Array(repeating: 0, count: 16)))
        expectError(.badHeader(reason: "tensor 'a' has an invalid shape [1152921504606846976, 4]"),
                    safetensors("{\(entry("a", "F32", [1 << 60, 4], 0, 16))}", Array(repeating: 0, count: 16)))
    }

    @Test("offsets beyond the end of the file are out of range, whatever lies before them")
    func offsetsBeyondEnd() {
        expectError(.tensorOutOfRange(tensor: "a", end: (1 << 62) + 4, available: 4),
                    safetensors("{\(entry("a", "F32", [1], 1 << 62, (1 << 62) + 4))}", Array(repeating: 0, count: 4)))
        expectError(.tensorOutOfRange(tensor: "a", end: Int.max, available: 0),
                    safetensors("{\(entry("a", "U8", [Int.max], 0, Int.max))}", []))
    }

    @Test("deeply nested header JSON is refused before parsing")
    func deepNesting() {
        let depth = 200_000
        let header = "{\"a\":" + String(repeating: "[", count: depth) + String(repeating: "]", count: depth) + "}"
        expectError(.badHeader(reason: "arrays and objects nest more than 64 deep"), safetensors(header, []))
        // Brackets inside strings do not count.
        expectError(.badHeader(reason: "__metadata__ must map strings to strings"),
                    safetensors("{\"__metadata__\":{\"k\":[\"" + String(repeating: "[", count: 100) + "\"]}}", []))
    }
}
