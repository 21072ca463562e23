/// Everything that can be wrong with an ncnn `.param` / `.bin` pair, each case naming where and what.
public enum NCNNError: Error, Equatable, CustomStringConvertible {
    case badMagic(found: String)
    case malformedHeader(String)
    case malformedLayer(line: Int, reason: String)
    case unknownLayerType(type: String, layer: String, line: Int)
    case unsupported(layer: String, type: String, detail: String)
    case layerCountMismatch(declared: Int, found: Int)
    case blobCountMismatch(declared: Int, found: Int)
    case undefinedBlob(name: String, layer: String)
    case duplicateBlob(name: String, layer: String)
    case noInput
    case noOutput
    case truncatedWeights(layer: String, needed: Int, available: Int)
    case trailingWeights(bytes: Int)
    case weightShape(layer: String, detail: String)
    case invalidParameter(layer: String, key: Int, detail: String)
    case io(path: String, reason: String)

    public var description: String {
        switch self {
        case .badMagic(let found):
            "not an ncnn text .param file: the first line is '\(found)', expected 7767517"
        case .malformedHeader(let line):
            "malformed ncnn .param header '\(line)': expected '<layer count> <blob count>'"
        case .malformedLayer(let line, let reason):
            "malformed layer on line \(line) of the .param file: \(reason)"
        case .unknownLayerType(let type, let layer, let line):
            "unknown ncnn layer type '\(type)' (layer '\(layer)', line \(line)); Enhance cannot run this model"
        case .unsupported(let layer, let type, let detail):
            "layer '\(layer)' (\(type)) uses an unsupported feature: \(detail)"
        case .layerCountMismatch(let declared, let found):
            "the .param header declares \(declared) layers but the file has \(found)"
        case .blobCountMismatch(let declared, let found):
            "the .param header declares \(declared) blobs but the layers define \(found)"
        case .undefinedBlob(let name, let layer):
            "layer '\(layer)' reads blob '\(name)', which no earlier layer produces"
        case .duplicateBlob(let name, let layer):
            "layer '\(layer)' produces blob '\(name)', which an earlier layer already produced"
        case .noInput:
            "the model has no Input layer"
        case .noOutput:
            "the model has no output blob (every blob is consumed)"
        case .truncatedWeights(let layer, let needed, let available):
            "the .bin file is truncated: layer '\(layer)' needs \(needed) more bytes but only \(available) remain; re-download the model"
        case .trailingWeights(let bytes):
            "the .bin file has \(bytes) bytes left after the last layer: it does not belong to this .param"
        case .weightShape(let layer, let detail):
            "layer '\(layer)' has inconsistent weight sizes: \(detail)"
        case .invalidParameter(let layer, let key, let detail):
            "layer '\(layer)' has an invalid parameter \(key): \(detail)"
        case .io(let path, let reason):
            "cannot read '\(path)': \(reason)"
        }
    }
}
