public import SRCore
import Foundation

/// An ncnn model turned into a graph: `.param` gives the layers, `.bin` their weights.
///
/// Work and memory are O(.param text + .bin bytes): the parser is linear in the text (see `NCNNParamParser`), every
/// integer a layer reads is range-checked before use (counts and kernel sizes positive, strides, dilations and
/// pooling windows in 1...65536, dims non-negative, all 32-bit), every weight count is a product checked for
/// overflow, and a weight array is read only once the .bin holds its bytes (`NCNNBinReader`), so a hostile value
/// becomes an `NCNNError` naming the layer and key, never a trap or an allocation the files do not back.
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
        let p = try layer.params.array(10, "activation_params")
        switch try layer.params.int(9, "activation_type", 0) {
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
            let groups = layer.type == "ConvolutionDepthWise" ? try p.int(7, "group", 1, in: NCNNParams.positive) : 1
            guard try p.int(8, "int8_scale_term", 0) == 0 else {
                throw .unsupported(layer: name, type: layer.type, detail: "int8 scales")
            }
            guard try p.int(19, "dynamic_weight", 0) == 0 else {
                throw .unsupported(layer: name, type: layer.type, detail: "dynamic weights")
            }
            if let v = p.scalars[18], v != 0 { throw .unsupported(layer: name, type: layer.type, detail: "non-zero pad_value") }
            let out = try p.int(0, "num_output", 0, in: NCNNParams.positive)
            guard out % groups == 0 else {
                throw .weightShape(layer: name, detail: "group \(groups) does not divide num_output \(out)")
            }
            let k = try readKernel(layer)
            let conv = Conv2d(weight: k.weight, bias: k.bias, stride: k.stride, padding: k.padding, dilation: k.dilation,
                              groups: groups, activation: k.activation)
            try produce(layer, node(.conv2d(conv), ins))

        case "Deconvolution", "DeconvolutionDepthWise":
            try expectArity(layer, inputs: 1)
            if layer.type == "DeconvolutionDepthWise", try p.int(7, "group", 1) != 1 {
                throw .unsupported(layer: name, type: layer.type, detail: "grouped deconvolution")
            }
            guard try p.int(20, "output_w", 0) == 0, try p.int(21, "output_h", 0) == 0 else {
                throw .unsupported(layer: name, type: layer.type, detail: "explicit output size")
            }
            let outPadR = try p.int(18, "output_pad_right", 0, in: 0...NCNNParams.window.upperBound)
            let outPadB = try p.int(19, "output_pad_bottom", outPadR, in: 0...NCNNParams.window.upperBound)
            let k = try readKernel(layer)
            let deconv = Deconv2d(weight: k.weight, bias: k.bias, stride: k.stride, padding: k.padding,
                                  outputPadding: (outPadB, outPadR), dilation: k.dilation, activation: k.activation)
            try produce(layer, node(.deconv2d(deconv), ins))

        case "InnerProduct":
            try expectArity(layer, inputs: 1)
            let out = try p.int(0, "num_output", 0, in: NCNNParams.positive)
            let size = try p.int(2, "weight_data_size", 0, in: NCNNParams.positive)
            guard try p.int(8, "int8_scale_term", 0) == 0 else {
                throw .unsupported(layer: name, type: layer.type, detail: "int8 scales")
            }
            guard size % out == 0 else {
                throw .weightShape(layer: name, detail: "weight_data_size \(size) is not a multiple of \(out)")
            }
            let act = try activation(layer)
            let w = try reader.tagged(size, layer: name, type: layer.type)
            let b = try p.int(1, "bias_term", 0) != 0 ? try reader.raw(out, layer: name) : nil
            let linear = Linear(weight: Tensor(dims: [out, size / out], data: w), bias: b, activation: act)
            try produce(layer, node(.linear(linear), ins))

        case "ReLU":
            try expectArity(layer, inputs: 1)
            let slope = try p.float(0, "slope", 0)
            try produce(layer, node(.activation(slope == 0 ? .relu : .leakyRelu(slope: slope)), ins))

        case "PReLU":
            try expectArity(layer, inputs: 1)
            let n = try p.int(0, "num_slope", 0, in: NCNNParams.positive)
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
            try produce(layer, node(.activation(.clip(min: try p.float(0, "min", -.greatestFiniteMagnitude),
                                                      max: try p.float(1, "max", .greatestFiniteMagnitude))), ins))

        case "BinaryOp":
            try produce(layer, try binaryOp(layer, ins))

        case "Eltwise":
            guard ins.count >= 2, layer.outputs.count == 1 else {
                throw .malformedLayer(line: layer.line, reason: "Eltwise needs at least 2 inputs")
            }
            let coeffs = try p.array(1, "coeffs")
            switch try p.int(0, "op_type", 1) {
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
            let axis = try p.int(0, "axis", 0)
            guard axis == 0 else {
                throw .unsupported(layer: name, type: layer.type, detail: "concatenation along axis \(axis)")
            }
            try produce(layer, node(.concat, ins))

        case "Crop":
            try expectArity(layer, inputs: 1)
            try produce(layer, node(.crop(try crop(layer)), ins))

        case "PixelShuffle":
            try expectArity(layer, inputs: 1)
            let r = try p.int(0, "upscale_factor", 1, in: NCNNParams.window)
            let mode: PixelShuffleMode = try p.int(1, "mode", 0) == 0 ? .channelsFirst : .depthFirst
            try produce(layer, node(.pixelShuffle(factor: r, mode: mode), ins))

        case "Interp":
            try expectArity(layer, inputs: 1)
            let mode: ResizeMode
            switch try p.int(0, "resize_type", 0) {
            case 1: mode = .nearest
            case 2: mode = .bilinear
            case 3: mode = .bicubic
            case let t: throw .unsupported(layer: name, type: layer.type, detail: "resize_type \(t)")
            }
            guard try p.int(5, "dynamic_target_size", 0) == 0 else {
                throw .unsupported(layer: name, type: layer.type, detail: "dynamic target size")
            }
            let oh = try p.int(3, "output_height", 0), ow = try p.int(4, "output_width", 0)
            // A scale is used only without an output size; an unbounded one would overflow the output's side.
            let scaleH = oh > 0 ? 1 : try p.scale(1, "height_scale", 1)
            let scaleW = ow > 0 ? 1 : try p.scale(2, "width_scale", 1)
            let resize = Resize(mode: mode, scaleH: scaleH, scaleW: scaleW, outputH: oh > 0 ? oh : nil,
                                outputW: ow > 0 ? ow : nil, alignCorners: try p.int(6, "align_corner", 0) != 0)
            try produce(layer, node(.resize(resize), ins))

        case "Pooling":
            try expectArity(layer, inputs: 1)
            let kind: Pool.Kind = try p.int(0, "pooling_type", 0) == 0 ? .max : .average
            if try p.int(4, "global_pooling", 0) != 0 {
                try produce(layer, node(.pool(.global(kind)), ins))
            } else {
                let window = NCNNParams.window, pads = 0...NCNNParams.window.upperBound
                let kw = try p.int(1, "kernel_w", 0, in: window), kh = try p.int(11, "kernel_h", kw, in: window)
                let sw = try p.int(2, "stride_w", 1, in: window), sh = try p.int(12, "stride_h", sw, in: window)
                let padL = try p.int(3, "pad_left", 0, in: pads), padR = try p.int(14, "pad_right", padL, in: pads)
                let padT = try p.int(13, "pad_top", padL, in: pads), padB = try p.int(15, "pad_bottom", padT, in: pads)
                let padMode = try p.int(5, "pad_mode", 0)
                guard padMode == 1 || (padL == 0 && padR == 0 && padT == 0 && padB == 0 && padMode == 0) else {
                    throw .unsupported(layer: name, type: layer.type, detail: "pad_mode \(padMode) with padding")
                }
                guard try p.int(7, "adaptive_pooling", 0) == 0 else {
                    throw .unsupported(layer: name, type: layer.type, detail: "adaptive pooling")
                }
                let pool = Pool(kind: kind, kernelH: kh, kernelW: kw, strideH: sh, strideW: sw,
                                padding: Padding(top: padT, left: padL, bottom: padB, right: padR),
                                countIncludesPadding: try p.int(6, "avgpool_count_include_pad", 0) != 0)
                try produce(layer, node(.pool(pool), ins))
            }

        case "MemoryData":
            try expectArity(layer, inputs: 0)
            let dim = NCNNParams.nonNegative
            let w = try p.int(0, "w", 0, in: dim), h = try p.int(1, "h", 0, in: dim), c = try p.int(2, "c", 0, in: dim)
            guard try p.int(11, "d", 0) == 0 else {
                throw .unsupported(layer: name, type: layer.type, detail: "4-D constant")
            }
            let dims = c > 0 ? [1, c, max(h, 1), max(w, 1)] : (h > 0 ? [1, 1, h, w] : [1, w, 1, 1])
            guard let count = WeightDType.elementCount(dims) else {
                throw .weightShape(layer: name, detail: "c x h x w = \(dims[1])x\(dims[2])x\(dims[3]) overflows")
            }
            guard count > 0 else { throw .weightShape(layer: name, detail: "no elements (w=\(w) h=\(h) c=\(c))") }
            let data = try reader.raw(count, layer: name)
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
        let positive = NCNNParams.positive, window = NCNNParams.window
        let out = try p.int(0, "num_output", 0, in: positive)
        let kw = try p.int(1, "kernel_w", 0, in: positive), kh = try p.int(11, "kernel_h", kw, in: positive)
        let dw = try p.int(2, "dilation_w", 1, in: window), dh = try p.int(12, "dilation_h", dw, in: window)
        let sw = try p.int(3, "stride_w", 1, in: window), sh = try p.int(13, "stride_h", sw, in: window)
        // Negative pads are ncnn's automatic SAME padding (-233, -234): refused below as unsupported.
        let pads = Int(Int32.min)...window.upperBound
        let padL = try p.int(4, "pad_left", 0, in: pads), padT = try p.int(14, "pad_top", padL, in: pads)
        let padR = try p.int(15, "pad_right", padL, in: pads), padB = try p.int(16, "pad_bottom", padT, in: pads)
        let size = try p.int(6, "weight_data_size", 0, in: positive)
        guard padL >= 0, padT >= 0, padR >= 0, padB >= 0 else {
            throw .unsupported(layer: layer.name, type: layer.type, detail: "automatic SAME padding (\(padL))")
        }
        guard let volume = WeightDType.elementCount([out, kh, kw]) else {
            throw .weightShape(layer: layer.name, detail: "num_output x kernel_h x kernel_w = \(out)x\(kh)x\(kw) overflows")
        }
        guard size % volume == 0 else {
            throw .weightShape(layer: layer.name, detail: "weight_data_size \(size) is not a multiple of \(out)x\(kh)x\(kw)")
        }
        let act = try activation(layer)
        let w = try reader.tagged(size, layer: layer.name, type: layer.type)
        let b = try p.int(5, "bias_term", 0) != 0 ? try reader.raw(out, layer: layer.name) : nil
        return (Tensor(dims: [out, size / volume, kh, kw], data: w), b, (sh, sw),
                Padding(top: padT, left: padL, bottom: padB, right: padR), (dh, dw), act)
    }

    /// ncnn BinaryOp: `0 add, 1 sub, 2 mul, 3 div, 4 max, 5 min, 6 pow, 7 rsub, 8 rdiv`; `1=1` uses scalar `2=b`.
    private mutating func binaryOp(_ layer: NCNNLayer, _ ins: [ValueID]) throws(NCNNError) -> ValueID {
        let p = layer.params
        let kind = try p.int(0, "op_type", 0)
        let name = layer.name
        if try p.int(1, "with_scalar", 0) != 0 {
            try expectArity(layer, inputs: 1)
            let b = try p.float(2, "b", 0)
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
            let starts = try p.ints(9, "starts"), ends = try p.ints(10, "ends")
            var axes = try p.ints(11, "axes")
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
            let offsets = NCNNParams.nonNegative
            start = [try p.int(2, "coffset", 0, in: offsets), try p.int(1, "hoffset", 0, in: offsets),
                     try p.int(0, "woffset", 0, in: offsets)]
            let sizes = [try p.int(5, "outc", 0), try p.int(4, "outh", 0), try p.int(3, "outw", 0)]
            let trailing = [try p.int(8, "coffset2", 0), try p.int(7, "hoffset2", 0), try p.int(6, "woffset2", 0)]
            for a in 0..<3 {
                if sizes[a] > 0 { end[a] = start[a] + sizes[a] } else { end[a] = -trailing[a] }
            }
        }
        return Crop(start: start, end: end)
    }
}
