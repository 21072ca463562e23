public import SRCore
import Foundation

/// An ncnn model turned into a graph: `.param` gives the layers, `.bin` their weights.
public struct NCNNModel: Sendable {
    public var graph: Graph
    /// The ncnn blob names of the graph's input and output.
    public var inputName: String
    public var outputName: String

    /// Reads `paramPath` and `binPath`.
    public static func load(param paramPath: String, bin binPath: String,
                            output: String? = nil) throws(NCNNError) -> NCNNModel {
        let text: String
        let bytes: [UInt8]
        do { text = try String(contentsOfFile: paramPath, encoding: .utf8) } catch {
            throw .io(path: paramPath, reason: FileManager.default.fileExists(atPath: paramPath)
                      ? "not UTF-8 text (binary .param files are not supported)" : "no such file")
        }
        guard let data = FileManager.default.contents(atPath: binPath) else {
            throw .io(path: binPath, reason: FileManager.default.fileExists(atPath: binPath) ? "unreadable" : "no such file")
        }
        bytes = [UInt8](data)
        return try parse(param: text, bin: bytes, output: output)
    }

    /// Builds the graph from the `.param` text and `.bin` bytes. `output` names the output blob; by default the
    /// single blob that no layer reads.
    public static func parse(param: String, bin: [UInt8], output: String? = nil) throws(NCNNError) -> NCNNModel {
        let layers = try NCNNParamParser.parse(param)
        var builder = NCNNGraphBuilder(reader: NCNNBinReader(bytes: bin))
        for layer in layers { try builder.add(layer) }
        guard builder.reader.remaining == 0 else { throw .trailingWeights(bytes: builder.reader.remaining) }
        guard let inputName = builder.inputNames.first else { throw .noInput }
        guard builder.inputNames.count == 1 else {
            throw .unsupported(layer: builder.inputNames[1], type: "Input", detail: "more than one input")
        }
        let outputName: String
        if let output {
            guard builder.blobs[output] != nil else { throw .undefinedBlob(name: output, layer: "<output>") }
            outputName = output
        } else {
            let unread = builder.producedOrder.filter { !builder.consumed.contains($0) }
            guard let last = unread.last else { throw .noOutput }
            outputName = last
        }
        var graph = builder.graph
        graph.outputs = [builder.blobs[outputName]!]
        return NCNNModel(graph: graph, inputName: inputName, outputName: outputName)
    }
}

/// Turns ncnn layers into graph nodes, reading each layer's weights in file order.
struct NCNNGraphBuilder {
    var reader: NCNNBinReader
    var graph = Graph()
    var blobs: [String: ValueID] = [:]
    var producedOrder: [String] = []
    var consumed = Set<String>()
    var inputNames: [String] = []

    init(reader: NCNNBinReader) { self.reader = reader }

    private mutating func inputs(of layer: NCNNLayer) throws(NCNNError) -> [ValueID] {
        var ids: [ValueID] = []
        for name in layer.inputs {
            guard let id = blobs[name] else { throw .undefinedBlob(name: name, layer: layer.name) }
            consumed.insert(name)
            ids.append(id)
        }
        return ids
    }

    private mutating func produce(_ layer: NCNNLayer, _ id: ValueID) throws(NCNNError) {
        for name in layer.outputs {
            guard blobs[name] == nil else { throw .duplicateBlob(name: name, layer: layer.name) }
            blobs[name] = id
            producedOrder.append(name)
        }
    }

    private func expectArity(_ layer: NCNNLayer, inputs: Int, outputs: Int = 1) throws(NCNNError) {
        guard layer.inputs.count == inputs, layer.outputs.count == outputs else {
            throw .malformedLayer(line: layer.line, reason: "\(layer.type) '\(layer.name)' needs \(inputs) input(s) and \(outputs) output(s)")
        }
    }

    /// ncnn `activation_type` (9) with `activation_params` (10).
    private func activation(_ layer: NCNNLayer) throws(NCNNError) -> Activation? {
        let p = layer.params.array(10)
        switch layer.params.int(9, 0) {
        case 0: return nil
        case 1: return .relu
        case 2: return .leakyRelu(slope: p.first ?? 0)
        case 3:
            guard p.count >= 2 else { throw .malformedLayer(line: layer.line, reason: "clip activation needs 2 params") }
            return .clip(min: p[0], max: p[1])
        case 4: return .sigmoid
        case let t: throw .unsupported(layer: layer.name, type: layer.type, detail: "activation_type \(t)")
        }
    }

    mutating func add(_ layer: NCNNLayer) throws(NCNNError) {
        let ins = try inputs(of: layer)
        let p = layer.params
        let name = layer.name
        func node(_ op: Op, _ inputs: [ValueID]) -> ValueID { graph.add(op, inputs, name: name) }

        switch layer.type {
        case "Input":
            try expectArity(layer, inputs: 0)
            inputNames.append(layer.outputs[0])
            try produce(layer, node(.input, []))

        case "Split", "Noop", "Dropout":
            guard ins.count == 1 else { throw .malformedLayer(line: layer.line, reason: "\(layer.type) needs 1 input") }
            try produce(layer, ins[0])

        case "Convolution", "ConvolutionDepthWise":
            try expectArity(layer, inputs: 1)
            let groups = layer.type == "ConvolutionDepthWise" ? p.int(7, 1) : 1
            guard p.int(8, 0) == 0 else { throw .unsupported(layer: name, type: layer.type, detail: "int8 scales") }
            guard p.int(19, 0) == 0 else { throw .unsupported(layer: name, type: layer.type, detail: "dynamic weights") }
            if let v = p.scalars[18], v != 0 { throw .unsupported(layer: name, type: layer.type, detail: "non-zero pad_value") }
            guard groups > 0 else { throw .weightShape(layer: name, detail: "group \(groups)") }
            let k = try readKernel(layer)
            let conv = Conv2d(weight: k.weight, bias: k.bias, stride: k.stride, padding: k.padding, dilation: k.dilation,
                              groups: groups, activation: k.activation)
            try produce(layer, node(.conv2d(conv), ins))

        case "Deconvolution", "DeconvolutionDepthWise":
            try expectArity(layer, inputs: 1)
            if layer.type == "DeconvolutionDepthWise", p.int(7, 1) != 1 {
                throw .unsupported(layer: name, type: layer.type, detail: "grouped deconvolution")
            }
            guard p.int(20, 0) == 0, p.int(21, 0) == 0 else {
                throw .unsupported(layer: name, type: layer.type, detail: "explicit output size")
            }
            let outPadR = p.int(18, 0), outPadB = p.int(19, outPadR)
            let k = try readKernel(layer)
            let deconv = Deconv2d(weight: k.weight, bias: k.bias, stride: k.stride, padding: k.padding,
                                  outputPadding: (outPadB, outPadR), dilation: k.dilation, activation: k.activation)
            try produce(layer, node(.deconv2d(deconv), ins))

        case "InnerProduct":
            try expectArity(layer, inputs: 1)
            let out = p.int(0, 0), size = p.int(2, 0)
            guard p.int(8, 0) == 0 else { throw .unsupported(layer: name, type: layer.type, detail: "int8 scales") }
            guard out > 0, size > 0, size % out == 0 else {
                throw .weightShape(layer: name, detail: "weight_data_size \(size) is not a multiple of \(out)")
            }
            let act = try activation(layer)
            let w = try reader.tagged(size, layer: name, type: layer.type)
            let b = p.int(1, 0) != 0 ? try reader.raw(out, layer: name) : nil
            let linear = Linear(weight: Tensor(dims: [out, size / out], data: w), bias: b, activation: act)
            try produce(layer, node(.linear(linear), ins))

        case "ReLU":
            try expectArity(layer, inputs: 1)
            let slope = p.float(0, 0)
            try produce(layer, node(.activation(slope == 0 ? .relu : .leakyRelu(slope: slope)), ins))

        case "PReLU":
            try expectArity(layer, inputs: 1)
            let n = p.int(0, 0)
            guard n > 0 else { throw .weightShape(layer: name, detail: "num_slope \(n)") }
            let slopes = try reader.raw(n, layer: name)
            try produce(layer, node(.activation(.prelu(slopes: slopes)), ins))

        case "Sigmoid":
            try expectArity(layer, inputs: 1)
            try produce(layer, node(.activation(.sigmoid), ins))

        case "Swish":
            try expectArity(layer, inputs: 1)
            try produce(layer, node(.activation(.swish), ins))

        case "Clip":
            try expectArity(layer, inputs: 1)
            try produce(layer, node(.activation(.clip(min: p.float(0, -.greatestFiniteMagnitude),
                                                      max: p.float(1, .greatestFiniteMagnitude))), ins))

        case "BinaryOp":
            try produce(layer, try binaryOp(layer, ins))

        case "Eltwise":
            guard ins.count >= 2, layer.outputs.count == 1 else {
                throw .malformedLayer(line: layer.line, reason: "Eltwise needs at least 2 inputs")
            }
            let coeffs = p.array(1)
            switch p.int(0, 1) {
            case 1:
                guard coeffs.isEmpty || coeffs.count == ins.count else {
                    throw .malformedLayer(line: layer.line, reason: "Eltwise has \(coeffs.count) coefficients for \(ins.count) inputs")
                }
                try produce(layer, node(.weightedSum(coeffs.isEmpty ? Array(repeating: 1, count: ins.count) : coeffs), ins))
            case let kind:
                let op: BinaryOperator = kind == 0 ? .mul : .max
                guard kind == 0 || kind == 2 else { throw .unsupported(layer: name, type: layer.type, detail: "op_type \(kind)") }
                var acc = ins[0]
                for next in ins.dropFirst() { acc = node(.binary(op), [acc, next]) }
                try produce(layer, acc)
            }

        case "Concat":
            guard !ins.isEmpty, layer.outputs.count == 1 else { throw .malformedLayer(line: layer.line, reason: "Concat needs inputs") }
            guard p.int(0, 0) == 0 else {
                throw .unsupported(layer: name, type: layer.type, detail: "concatenation along axis \(p.int(0, 0))")
            }
            try produce(layer, node(.concat, ins))

        case "Crop":
            try expectArity(layer, inputs: 1)
            try produce(layer, node(.crop(try crop(layer)), ins))

        case "PixelShuffle":
            try expectArity(layer, inputs: 1)
            let r = p.int(0, 1)
            guard r >= 1 else { throw .malformedLayer(line: layer.line, reason: "upscale_factor \(r)") }
            try produce(layer, node(.pixelShuffle(factor: r, mode: p.int(1, 0) == 0 ? .channelsFirst : .depthFirst), ins))

        case "Interp":
            try expectArity(layer, inputs: 1)
            let mode: ResizeMode
            switch p.int(0, 0) {
            case 1: mode = .nearest
            case 2: mode = .bilinear
            case 3: mode = .bicubic
            case let t: throw .unsupported(layer: name, type: layer.type, detail: "resize_type \(t)")
            }
            guard p.int(5, 0) == 0 else { throw .unsupported(layer: name, type: layer.type, detail: "dynamic target size") }
            let oh = p.int(3, 0), ow = p.int(4, 0)
            let resize = Resize(mode: mode, scaleH: p.float(1, 1), scaleW: p.float(2, 1),
                                outputH: oh > 0 ? oh : nil, outputW: ow > 0 ? ow : nil, alignCorners: p.int(6, 0) != 0)
            try produce(layer, node(.resize(resize), ins))

        case "Pooling":
            try expectArity(layer, inputs: 1)
            let kind: Pool.Kind = p.int(0, 0) == 0 ? .max : .average
            if p.int(4, 0) != 0 {
                try produce(layer, node(.pool(.global(kind)), ins))
            } else {
                let kw = p.int(1, 0), kh = p.int(11, kw), sw = p.int(2, 1), sh = p.int(12, sw)
                let padL = p.int(3, 0), padR = p.int(14, padL), padT = p.int(13, padL), padB = p.int(15, padT)
                guard p.int(5, 0) == 1 || (padL == 0 && padR == 0 && padT == 0 && padB == 0 && p.int(5, 0) == 0) else {
                    throw .unsupported(layer: name, type: layer.type, detail: "pad_mode \(p.int(5, 0)) with padding")
                }
                guard p.int(7, 0) == 0 else { throw .unsupported(layer: name, type: layer.type, detail: "adaptive pooling") }
                let pool = Pool(kind: kind, kernelH: kh, kernelW: kw, strideH: sh, strideW: sw,
                                padding: Padding(top: padT, left: padL, bottom: padB, right: padR),
                                countIncludesPadding: p.int(6, 0) != 0)
                try produce(layer, node(.pool(pool), ins))
            }

        case "MemoryData":
            try expectArity(layer, inputs: 0)
            let w = p.int(0, 0), h = p.int(1, 0), c = p.int(2, 0)
            guard p.int(11, 0) == 0 else { throw .unsupported(layer: name, type: layer.type, detail: "4-D constant") }
            let dims = c > 0 ? [1, c, max(h, 1), max(w, 1)] : (h > 0 ? [1, 1, h, w] : [1, w, 1, 1])
            let data = try reader.raw(dims.reduce(1, *), layer: name)
            try produce(layer, node(.constant(Tensor(dims: dims, data: data)), []))

        default:
            throw .unknownLayerType(type: layer.type, layer: name, line: layer.line)
        }
    }

    /// The window, padding, activation and weights shared by ncnn's (de)convolution layers:
    /// `0 num_output, 1/11 kernel w/h, 2/12 dilation, 3/13 stride, 4/14/15/16 pad left/top/right/bottom,
    /// 5 bias_term, 6 weight_data_size, 9/10 activation`; weights `[out][in/groups][kh][kw]` (type 0), bias (type 1).
    private mutating func readKernel(_ layer: NCNNLayer) throws(NCNNError)
        -> (weight: Tensor, bias: [Float]?, stride: (Int, Int), padding: Padding, dilation: (Int, Int), activation: Activation?) {
        let p = layer.params
        let out = p.int(0, 0), kw = p.int(1, 0), kh = p.int(11, kw)
        let dw = p.int(2, 1), dh = p.int(12, dw), sw = p.int(3, 1), sh = p.int(13, sw)
        let padL = p.int(4, 0), padT = p.int(14, padL), padR = p.int(15, padL), padB = p.int(16, padT)
        let size = p.int(6, 0)
        guard padL >= 0, padT >= 0, padR >= 0, padB >= 0 else {
            throw .unsupported(layer: layer.name, type: layer.type, detail: "automatic SAME padding (\(padL))")
        }
        guard out > 0, kw > 0, kh > 0, size > 0, size % (out * kh * kw) == 0 else {
            throw .weightShape(layer: layer.name, detail: "weight_data_size \(size) is not a multiple of \(out)x\(kh)x\(kw)")
        }
        let act = try activation(layer)
        let w = try reader.tagged(size, layer: layer.name, type: layer.type)
        let b = p.int(5, 0) != 0 ? try reader.raw(out, layer: layer.name) : nil
        return (Tensor(dims: [out, size / (out * kh * kw), kh, kw], data: w), b, (sh, sw),
                Padding(top: padT, left: padL, bottom: padB, right: padR), (dh, dw), act)
    }

    /// ncnn BinaryOp: `0 add, 1 sub, 2 mul, 3 div, 4 max, 5 min, 6 pow, 7 rsub, 8 rdiv`; `1=1` uses scalar `2=b`.
    private mutating func binaryOp(_ layer: NCNNLayer, _ ins: [ValueID]) throws(NCNNError) -> ValueID {
        let p = layer.params
        let kind = p.int(0, 0)
        let name = layer.name
        if p.int(1, 0) != 0 {
            try expectArity(layer, inputs: 1)
            let b = p.float(2, 0)
            let act: Activation
            switch kind {
            case 0: act = .linear(scale: 1, shift: b)
            case 1: act = .linear(scale: 1, shift: -b)
            case 2: act = .linear(scale: b, shift: 0)
            case 3: act = .linear(scale: 1 / b, shift: 0)
            case 4: act = .clip(min: b, max: .greatestFiniteMagnitude)
            case 5: act = .clip(min: -.greatestFiniteMagnitude, max: b)
            case 7: act = .linear(scale: -1, shift: b)
            default: throw .unsupported(layer: name, type: layer.type, detail: "scalar op_type \(kind)")
            }
            return graph.add(.activation(act), ins, name: name)
        }
        try expectArity(layer, inputs: 2)
        switch kind {
        case 0: return graph.add(.binary(.add), ins, name: name)
        case 1: return graph.add(.binary(.sub), ins, name: name)
        case 2: return graph.add(.binary(.mul), ins, name: name)
        case 3: return graph.add(.binary(.div), ins, name: name)
        case 4: return graph.add(.binary(.max), ins, name: name)
        case 5: return graph.add(.binary(.min), ins, name: name)
        case 7: return graph.add(.binary(.sub), [ins[1], ins[0]], name: name)
        case 8: return graph.add(.binary(.div), [ins[1], ins[0]], name: name)
        default: throw .unsupported(layer: name, type: layer.type, detail: "op_type \(kind)")
        }
    }

    /// ncnn Crop: either `starts`/`ends`/`axes` arrays (keys 9/10/11, axes of a `c,h,w` blob; negative values count
    /// from the end), or offsets `0=woffset 1=hoffset 2=coffset` with sizes `3=outw 4=outh 5=outc`.
    private func crop(_ layer: NCNNLayer) throws(NCNNError) -> Crop {
        let p = layer.params
        var start = [0, 0, 0], end = [0, 0, 0]
        if p.arrays[9] != nil {
            let starts = p.ints(9), ends = p.ints(10)
            var axes = p.ints(11)
            if axes.isEmpty { axes = Array(0..<starts.count) }
            guard starts.count == axes.count, ends.isEmpty || ends.count == axes.count else {
                throw .malformedLayer(line: layer.line, reason: "Crop starts/ends/axes lengths differ")
            }
            for (i, axis) in axes.enumerated() {
                let a = axis < 0 ? axis + 3 : axis
                guard (0..<3).contains(a) else { throw .unsupported(layer: layer.name, type: layer.type, detail: "axis \(axis)") }
                guard starts[i] >= 0 else { throw .unsupported(layer: layer.name, type: layer.type, detail: "negative start") }
                start[a] = starts[i]
                if !ends.isEmpty {
                    let e = ends[i]
                    end[a] = e >= Int(Int32.max) ? 0 : e
                    if e > 0 && e < Int(Int32.max) { end[a] = e }
                }
            }
        } else {
            start = [p.int(2, 0), p.int(1, 0), p.int(0, 0)]
            let sizes = [p.int(5, 0), p.int(4, 0), p.int(3, 0)]
            let trailing = [p.int(8, 0), p.int(7, 0), p.int(6, 0)]
            for a in 0..<3 {
                if sizes[a] > 0 { end[a] = start[a] + sizes[a] } else { end[a] = -trailing[a] }
            }
        }
        return Crop(start: start, end: end)
    }
}
