import Foundation
import Testing
import SRCore
import SRBackendReference
@testable import SRWeights

/// Little-endian bytes of float32 values (type-1 arrays, or type-0 after a zero tag).
func f32(_ values: [Float]) -> [UInt8] {
    values.flatMap { v -> [UInt8] in withUnsafeBytes(of: v.bitPattern.littleEndian) { Array($0) } }
}

func u32(_ v: UInt32) -> [UInt8] { withUnsafeBytes(of: v.littleEndian) { Array($0) } }

/// fp16-tagged array, padded to 4 bytes.
func f16Tagged(_ values: [Float]) -> [UInt8] {
    var out = u32(0x0130_6B47)
    for v in values { out += withUnsafeBytes(of: Float16(v).bitPattern.littleEndian) { Array($0) } }
    while out.count % 4 != 0 { out.append(0) }
    return out
}

/// A 1x1 convolution 2 -> 2 channels with bias, then ReLU, then a scalar multiply.
let tinyParam = """
7767517
4 4
Input            in      0 1 data
Convolution      conv    1 1 data c 0=2 1=1 5=1 6=4
ReLU             relu    1 1 c r
BinaryOp         scale   1 1 r output 0=2 1=1 2=2.0
"""
let tinyWeights: [Float] = [1, -1, 0.5, 2]   // W[o][i]
let tinyBias: [Float] = [0.25, -3]

@Suite("ncnn importer")
struct NCNNImporterTests {
    func run(_ model: NCNNModel, _ input: Tensor) throws -> Tensor {
        try ReferenceBackend().compile(model.graph, inputShape: input.shape).run(input)
    }

    func expected(_ x: Tensor) -> [Float] {
        let plane = x.shape.h * x.shape.w
        var out = [Float](repeating: 0, count: 2 * plane)
        for o in 0..<2 { for i in 0..<plane {
            let v = tinyWeights[o * 2] * x.data[i] + tinyWeights[o * 2 + 1] * x.data[plane + i] + tinyBias[o]
            out[o * plane + i] = max(v, 0) * 2
        } }
        return out
    }

    @Test("fp32 (zero tag), fp16 tag and quantised-table weights give the same graph output",
          arguments: ["fp32", "fp16", "table"])
    func weightEncodings(encoding: String) throws {
        let weights: [UInt8]
        switch encoding {
        case "fp32": weights = u32(0) + f32(tinyWeights)
        case "fp16": weights = f16Tagged(tinyWeights)
        default:
            var table = [Float](repeating: 0, count: 256)
            for (i, v) in tinyWeights.enumerated() { table[i + 10] = v }
            weights = u32(0x0102_0304) + f32(table) + [10, 11, 12, 13]
        }
        let model = try NCNNModel.parse(param: tinyParam, bin: weights + f32(tinyBias))
        #expect(model.inputName == "data")
        #expect(model.outputName == "output")
        var rng = SeededGenerator(seed: 3)
        let x = Tensor.random(dims: [1, 2, 3, 4], using: &rng)
        let y = try run(model, x)
        for (a, b) in zip(y.data, expected(x)) { #expect(abs(a - b) < 1e-5) }
    }

    @Test("split outputs alias one value and the unread blob is the output")
    func splitAndOutput() throws {
        let param = """
        7767517
        3 4
        Input   in    0 1 data
        Split   sp    1 2 data a b
        BinaryOp add  2 1 a b sum
        """
        let model = try NCNNModel.parse(param: param, bin: [])
        let x = Tensor(dims: [1, 1, 1, 2], data: [1, 2])
        #expect(try run(model, x).data == [2, 4])
    }

    @Test("malformed and unsupported inputs each give their specific error")
    func errors() throws {
        let good = u32(0) + f32(tinyWeights) + f32(tinyBias)
        func expectError(_ expected: NCNNError, param: String = tinyParam, bin: [UInt8]? = nil,
                         sourceLocation: SourceLocation = #_sourceLocation) {
            #expect(throws: expected, sourceLocation: sourceLocation) {
                try NCNNModel.parse(param: param, bin: bin ?? good)
            }
        }
        expectError(.badMagic(found: "7767518"), param: tinyParam.replacingOccurrences(of: "7767517", with: "7767518"))
        expectError(.badMagic(found: ""), param: "")
        expectError(.malformedHeader("4"), param: tinyParam.replacingOccurrences(of: "\n4 4\n", with: "\n4\n"))
        expectError(.layerCountMismatch(declared: 5, found: 4),
                    param: tinyParam.replacingOccurrences(of: "\n4 4\n", with: "\n5 4\n"))
        expectError(.blobCountMismatch(declared: 9, found: 4),
                    param: tinyParam.replacingOccurrences(of: "\n4 4\n", with: "\n4 9\n"))
        expectError(.unknownLayerType(type: "Frobnicate", layer: "relu", line: 5),
                    param: tinyParam.replacingOccurrences(of: "ReLU ", with: "Frobnicate "))
        expectError(.undefinedBlob(name: "nope", layer: "relu"),
                    param: tinyParam.replacingOccurrences(of: "1 1 c r", with: "1 1 nope r"))
        expectError(.duplicateBlob(name: "c", layer: "relu"),
                    param: tinyParam.replacingOccurrences(of: "1 1 c r", with: "1 1 c c")
                        .replacingOccurrences(of: "r output", with: "c output").replacingOccurrences(of: "\n4 4\n", with: "\n4 3\n"))
        expectError(.malformedLayer(line: 4, reason: "bad value in '0=2=3'"),
                    param: tinyParam.replacingOccurrences(of: "0=2 1=1 5=1", with: "0=2=3 1=1 5=1"))
        expectError(.malformedLayer(line: 4, reason: "declares 1 inputs and 1 outputs but lists fewer blobs"),
                    param: "7767517\n2 1\nInput in 0 1 data\nReLU r 1 1\n")
        expectError(.truncatedWeights(layer: "conv", needed: 8, available: 4), bin: Array(good.prefix(good.count - 4)))
        expectError(.truncatedWeights(layer: "conv", needed: 4, available: 2), bin: [0, 0])
        expectError(.trailingWeights(bytes: 4), bin: good + [0, 0, 0, 0])
        expectError(.unsupported(layer: "conv", type: "Convolution", detail: "int8-quantised weights"),
                    bin: u32(0x000D_4B38) + [1, 2, 3, 4] + f32(tinyBias))
        expectError(.weightShape(layer: "conv", detail: "weight_data_size 5 is not a multiple of 2x1x1"),
                    param: tinyParam.replacingOccurrences(of: "6=4", with: "6=5"))
        expectError(.unsupported(layer: "conv", type: "Convolution", detail: "activation_type 5"),
                    param: tinyParam.replacingOccurrences(of: "6=4", with: "6=4 9=5"))
        expectError(.unsupported(layer: "scale", type: "BinaryOp", detail: "scalar op_type 6"),
                    param: tinyParam.replacingOccurrences(of: "0=2 1=1 2=2.0", with: "0=6 1=1 2=2.0"))
        expectError(.noInput, param: "7767517\n0 0\n", bin: [])
    }

    @Test("missing and non-text files are named errors")
    func files() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ncnn-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        #expect(throws: NCNNError.io(path: dir + "/none.param", reason: "no such file")) {
            try NCNNModel.load(param: dir + "/none.param", bin: dir + "/none.bin")
        }
        FileManager.default.createFile(atPath: dir + "/m.param", contents: Data(tinyParam.utf8))
        #expect(throws: NCNNError.io(path: dir + "/m.bin", reason: "no such file")) {
            try NCNNModel.load(param: dir + "/m.param", bin: dir + "/m.bin")
        }
        FileManager.default.createFile(atPath: dir + "/b.param", contents: Data([0xff, 0xfe, 0x00, 0x80]))
        #expect(throws: NCNNError.io(path: dir + "/b.param", reason: "not UTF-8 text (binary .param files are not supported)")) {
            try NCNNModel.load(param: dir + "/b.param", bin: dir + "/m.bin")
        }
    }

    @Test("Real-CUGAN style crop with negative ends, deconvolution and SE block import with the right shapes")
    func cuganLayers() throws {
        let param = """
        7767517
        8 9
        Input          in     0 1 in0
        Convolution    c1     1 1 in0 a 0=4 1=3 5=1 6=108 9=2 -23310=1,1.000000e-01
        Split          sp     1 2 a b d
        Pooling        gap    1 1 b g 0=1 4=1
        InnerProduct   fc     1 1 g s 0=4 1=1 2=16 9=4
        BinaryOp       mul    2 1 d s m 0=2
        Crop           crop   1 1 m k -23309=2,4,4 -23310=2,-4,-4 -23311=2,-2,-1
        Deconvolution  up     1 1 k out0 0=3 1=4 3=2 4=3 5=1 6=192
        """
        var rng = SeededGenerator(seed: 9)
        let bin = u32(0) + f32(Tensor.random(dims: [108], using: &rng).data) + f32([0, 0, 0, 0])
            + f16Tagged(Tensor.random(dims: [16], using: &rng).data) + f32([0, 0, 0, 0])
            + f16Tagged(Tensor.random(dims: [192], using: &rng).data) + f32([0, 0, 0])
        let model = try NCNNModel.parse(param: param, bin: bin)
        let shapes = try model.graph.inferShapes(inputs: [Shape(c: 3, h: 20, w: 22)])
        // conv valid 3x3: 18x20; crop 4 each side: 10x12; deconv k4 s2 p3: (10-1)*2+4-6 = 16, (12-1)*2+4-6 = 20.
        #expect(shapes[model.graph.outputs[0]] == Shape(c: 3, h: 16, w: 20))
    }
}
