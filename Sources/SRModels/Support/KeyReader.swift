import SRWeights

/// Reads hyper-parameters from key names and tensor shapes during detection.
struct KeyReader {
    let architecture: String
    let weights: StateDict

    func has(_ key: String) -> Bool { weights[key] != nil }

    /// The shape of `key`, which must exist and have `rank` dimensions when given.
    func shape(_ key: String, rank: Int? = nil) throws(ModelsError) -> [Int] {
        guard let t = weights[key] else { throw .missingTensor(architecture: architecture, key: key) }
        if let rank, t.shape.count != rank {
            throw .shapeMismatch(architecture: architecture, key: key,
                                 expected: Array(repeating: -1, count: rank), actual: t.shape)
        }
        return t.shape
    }

    /// `(out, in, kh, kw)` of the convolution weight `key.weight`.
    func conv(_ key: String) throws(ModelsError) -> (out: Int, in: Int, kh: Int, kw: Int) {
        let s = try shape(key + ".weight", rank: 4)
        return (s[0], s[1], s[2], s[3])
    }

    /// The numbers `N` of the keys `prefix` + `N` + `suffix`, ascending.
    func indices(_ prefix: String, _ suffix: String) -> [Int] {
        var found: [Int] = []
        for name in weights.names where name.hasPrefix(prefix) && name.hasSuffix(suffix)
            && name.count > prefix.count + suffix.count {
            let middle = name.dropFirst(prefix.count).dropLast(suffix.count)
            if let n = Int(middle), n >= 0, String(n) == middle { found.append(n) }
        }
        return found.sorted()
    }

    /// The count of consecutive `prefix` + `N` + `suffix` keys from `N = start`; throws when numbering has gaps.
    func count(_ prefix: String, _ suffix: String, from start: Int = 0) throws(ModelsError) -> Int {
        let found = indices(prefix, suffix)
        for (i, n) in found.enumerated() where n != start + i {
            throw .missingTensor(architecture: architecture, key: "\(prefix)\(start + i)\(suffix)")
        }
        return found.count
    }

    /// The factor `s` of a pixel-shuffle convolution with `outputs` = `channels`·s², or nil when there is none.
    static func shuffleFactor(outputs: Int, channels: Int) -> Int? {
        guard channels > 0, outputs % channels == 0, outputs > 0 else { return nil }
        let s = Int(Double(outputs / channels).squareRoot().rounded())
        return s * s * channels == outputs ? s : nil
    }

    /// Throws unless `key` has `expected` shape.
    func expect(_ key: String, _ expected: [Int]) throws(ModelsError) {
        let s = try shape(key)
        guard s == expected else { throw .shapeMismatch(architecture: architecture, key: key, expected: expected, actual: s) }
    }
}

extension StateDict {
    /// A copy with keys renamed by `rename` (nil keeps the key); order and metadata are kept.
    func renamingKeys(_ rename: (String) -> String?) -> StateDict {
        var out = StateDict()
        for (name, tensor) in self { out[rename(name) ?? name] = tensor }
        out.metadata = metadata
        return out
    }
}
