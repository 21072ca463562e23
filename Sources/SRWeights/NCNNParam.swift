/// The text `.param` format of ncnn.
///
/// ```
/// 7767517                                   magic
/// <layer count> <blob count>
/// <Type> <name> <#inputs> <#outputs> <input blobs...> <output blobs...> <key=value ...>
/// ```
/// Values are integers or floats (`.`/`e` present). A negative key `-23300 - k` holds an array for key `k`:
/// `-23310=2,0.1,0.2` is key 10 = `[0.1, 0.2]` (the first number is the count). Keys are 0...31 (ncnn's
/// `NCNN_MAX_PARAM_COUNT`).
///
/// Work and memory are O(text length): each layer is a line and each blob or parameter a token; the declared layer
/// count is checked against the lines before they are parsed, a layer's blob counts against its tokens (never
/// summed unchecked), keys against their range. Values stay `Double` until a layer reads them through
/// `NCNNParams`, which refuses any value that is not a whole number in the asked range (`int`) or not a finite
/// 32-bit float (`float`), so no conversion can trap.
struct NCNNLayer {
    var type: String
    var name: String
    var inputs: [String]
    var outputs: [String]
    var params: NCNNParams
    var line: Int
}

/// A layer's parameters, read with the range each must lie in; errors name the layer, the key and the value.
struct NCNNParams {
    /// The layer's name, for errors.
    var layer = ""
    var scalars: [Int: Double] = [:]
    var arrays: [Int: [Double]] = [:]

    /// ncnn's integers are 32-bit.
    static let int32 = Int(Int32.min)...Int(Int32.max)
    static let positive = 1...Int(Int32.max)
    static let nonNegative = 0...Int(Int32.max)
    /// Strides, dilations, paddings, pooling windows: far beyond any model, yet small enough that their products with
    /// image and kernel sizes cannot overflow.
    static let window = 1...(1 << 16)
    /// Scalar keys 0...31 (ncnn's `NCNN_MAX_PARAM_COUNT`); array keys are `-23300 - key`.
    static let keys = 0...31

    /// Integer `key` (called `name` in errors), or `fallback` when absent; refused unless a whole number in `range`.
    func int(_ key: Int, _ name: String, _ fallback: Int, in range: ClosedRange<Int> = int32) throws(NCNNError) -> Int {
        let value = scalars[key] ?? Double(fallback)
        guard let i = Int(exactly: value), range.contains(i) else {
            throw invalid(key, name, value, "is not an integer in \(range)")
        }
        return i
    }

    /// Float `key`, or `fallback` when absent; refused unless finite as a 32-bit float.
    func float(_ key: Int, _ name: String, _ fallback: Float) throws(NCNNError) -> Float {
        guard let value = scalars[key] else { return fallback }
        guard Float(value).isFinite else { throw invalid(key, name, value, "is not a finite 32-bit float") }
        return Float(value)
    }

    /// A scale factor `key`, or `fallback` when absent; refused unless in (0, 65536].
    func scale(_ key: Int, _ name: String, _ fallback: Float) throws(NCNNError) -> Float {
        let value = scalars[key] ?? Double(fallback)
        guard value > 0, value <= 65536 else { throw invalid(key, name, value, "is not a number in (0, 65536]") }
        return Float(value)
    }

    /// Float array `key` (empty when absent); refused unless every value is finite as a 32-bit float.
    func array(_ key: Int, _ name: String) throws(NCNNError) -> [Float] {
        var out: [Float] = []
        for value in arrays[key] ?? [] {
            guard Float(value).isFinite else { throw invalid(-23300 - key, name, value, "is not a finite 32-bit float") }
            out.append(Float(value))
        }
        return out
    }

    /// Integer array `key` (empty when absent); refused unless every value is a 32-bit integer.
    func ints(_ key: Int, _ name: String) throws(NCNNError) -> [Int] {
        var out: [Int] = []
        for value in arrays[key] ?? [] {
            guard let i = Int(exactly: value), Self.int32.contains(i) else {
                throw invalid(-23300 - key, name, value, "is not an integer in \(Self.int32)")
            }
            out.append(i)
        }
        return out
    }

    /// The error for `name = value` at `key` (as written in the file), which `problem`.
    private func invalid(_ key: Int, _ name: String, _ value: Double, _ problem: String) -> NCNNError {
        .invalidParameter(layer: layer, key: key, detail: "\(name) = \(Self.text(value)) \(problem)")
    }

    /// `value` as written: whole numbers without a fraction, others as Swift prints them (`1e+30`, `nan`).
    static func text(_ value: Double) -> String { Int(exactly: value).map(String.init) ?? "\(value)" }
}

enum NCNNParamParser {
    static func parse(_ text: String) throws(NCNNError) -> [NCNNLayer] {
        var lines = text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).enumerated()
            .map { (number: $0.offset + 1, text: $0.element.trimmingCharacters()) }
            .filter { !$0.text.isEmpty }
        guard let magic = lines.first else { throw .badMagic(found: "") }
        guard magic.text == "7767517" else { throw .badMagic(found: String(magic.text.prefix(40))) }
        lines.removeFirst()
        guard let header = lines.first else { throw .malformedHeader("") }
        lines.removeFirst()
        let counts = header.text.split(separator: " ", omittingEmptySubsequences: true).compactMap { Int($0) }
        guard counts.count == 2, counts[0] >= 0, counts[1] >= 0 else { throw .malformedHeader(header.text) }
        // Every layer is a line: a larger count cannot match, whatever the lines hold.
        guard counts[0] <= lines.count else { throw .layerCountMismatch(declared: counts[0], found: lines.count) }

        var layers: [NCNNLayer] = []
        var blobs = Set<String>()
        for (number, text) in lines {
            let tokens = text.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
            guard tokens.count >= 4, let nIn = Int(tokens[2]), let nOut = Int(tokens[3]), nIn >= 0, nOut >= 0 else {
                throw .malformedLayer(line: number, reason: "expected '<type> <name> <#inputs> <#outputs> ...'")
            }
            guard nIn <= tokens.count - 4, nOut <= tokens.count - 4 - nIn else {
                throw .malformedLayer(line: number, reason: "declares \(nIn) inputs and \(nOut) outputs but lists fewer blobs")
            }
            let inputs = Array(tokens[4..<(4 + nIn)])
            let outputs = Array(tokens[(4 + nIn)..<(4 + nIn + nOut)])
            var params = NCNNParams(layer: tokens[1])
            for token in tokens[(4 + nIn + nOut)...] {
                let kv = token.split(separator: "=", maxSplits: 1)
                guard kv.count == 2, let key = Int(kv[0]) else {
                    throw .malformedLayer(line: number, reason: "bad parameter '\(token)'")
                }
                let id = key <= -23300 ? -23300 - key : key  // never overflows, unlike -key - 23300
                guard NCNNParams.keys.contains(id) else {
                    throw .malformedLayer(line: number, reason: "bad parameter key in '\(token)': keys are \(NCNNParams.keys), "
                                          + "or -23300 minus one of those for arrays")
                }
                if key <= -23300 {
                    let values = kv[1].split(separator: ",").map { Double($0) }
                    let count = values.first.flatMap { $0 }.flatMap { Int(exactly: $0) }
                    guard let count, count >= 0, values.count - 1 == count, values.allSatisfy({ $0 != nil }) else {
                        throw .malformedLayer(line: number, reason: "bad array parameter '\(token)'")
                    }
                    params.arrays[id] = values.dropFirst().map { $0! }
                } else {
                    guard let v = Double(kv[1]) else {
                        throw .malformedLayer(line: number, reason: "bad value in '\(token)'")
                    }
                    params.scalars[key] = v
                }
            }
            blobs.formUnion(outputs)
            layers.append(NCNNLayer(type: tokens[0], name: tokens[1], inputs: inputs, outputs: outputs,
                                    params: params, line: number))
        }
        guard layers.count == counts[0] else { throw .layerCountMismatch(declared: counts[0], found: layers.count) }
        guard blobs.count == counts[1] else { throw .blobCountMismatch(declared: counts[1], found: blobs.count) }
        return layers
    }
}

extension Substring {
    func trimmingCharacters() -> String {
        var s = self[...]
        while let f = s.first, f.isWhitespace { s.removeFirst() }
        while let l = s.last, l.isWhitespace { s.removeLast() }
        return String(s)
    }
}
