/// The text `.param` format of ncnn.
///
/// ```
/// 7767517                                   magic
/// <layer count> <blob count>
/// <Type> <name> <#inputs> <#outputs> <input blobs...> <output blobs...> <key=value ...>
/// ```
/// Values are integers or floats (`.`/`e` present). A negative key `-23300 - k` holds an array for key `k`:
/// `-23310=2,0.1,0.2` is key 10 = `[0.1, 0.2]` (the first number is the count).
struct NCNNLayer {
    var type: String
    var name: String
    var inputs: [String]
    var outputs: [String]
    var params: NCNNParams
    var line: Int
}

struct NCNNParams {
    var scalars: [Int: Double] = [:]
    var arrays: [Int: [Double]] = [:]

    func int(_ key: Int, _ fallback: Int) -> Int { scalars[key].map { Int($0) } ?? fallback }
    func float(_ key: Int, _ fallback: Float) -> Float { scalars[key].map { Float($0) } ?? fallback }
    func array(_ key: Int) -> [Float] { (arrays[key] ?? []).map { Float($0) } }
    func ints(_ key: Int) -> [Int] { (arrays[key] ?? []).map { Int($0) } }
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

        var layers: [NCNNLayer] = []
        var blobs = Set<String>()
        for (number, text) in lines {
            let tokens = text.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
            guard tokens.count >= 4, let nIn = Int(tokens[2]), let nOut = Int(tokens[3]), nIn >= 0, nOut >= 0 else {
                throw .malformedLayer(line: number, reason: "expected '<type> <name> <#inputs> <#outputs> ...'")
            }
            guard tokens.count >= 4 + nIn + nOut else {
                throw .malformedLayer(line: number, reason: "declares \(nIn) inputs and \(nOut) outputs but lists fewer blobs")
            }
            let inputs = Array(tokens[4..<(4 + nIn)])
            let outputs = Array(tokens[(4 + nIn)..<(4 + nIn + nOut)])
            var params = NCNNParams()
            for token in tokens[(4 + nIn + nOut)...] {
                let kv = token.split(separator: "=", maxSplits: 1)
                guard kv.count == 2, let key = Int(kv[0]) else {
                    throw .malformedLayer(line: number, reason: "bad parameter '\(token)'")
                }
                if key <= -23300 {
                    let values = kv[1].split(separator: ",").map { Double($0) }
                    guard let n = values.first.flatMap({ $0 }).map({ Int($0) }), values.count == n + 1,
                          values.allSatisfy({ $0 != nil }) else {
                        throw .malformedLayer(line: number, reason: "bad array parameter '\(token)'")
                    }
                    params.arrays[-key - 23300] = values.dropFirst().map { $0! }
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
