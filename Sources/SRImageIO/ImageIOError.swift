/// Why an image could not be read or written.
public enum ImageIOError: Error, Equatable, CustomStringConvertible {
    case fileNotFound(path: String)
    case notAnImage(source: String, detail: String)
    case decodeFailed(source: String, detail: String)
    case unsupportedOutputFormat(path: String)
    case encodeFailed(path: String, detail: String)
    case tooLarge(width: Int, height: Int, limit: Int)

    public var description: String {
        switch self {
        case .fileNotFound(let path): "no such file: \(path)"
        case .notAnImage(let source, let detail):
            "\(source) is not an image Enhance can read (PNG, JPEG, WebP, TIFF, ...)\(detail.isEmpty ? "" : ": \(detail)")"
        case .decodeFailed(let source, let detail): "could not decode \(source): \(detail)"
        case .unsupportedOutputFormat(let path):
            "cannot tell the output format from '\(path)': use an extension such as .png, .jpg, .webp or .tif"
        case .encodeFailed(let path, let detail): "could not write \(path): \(detail)"
        case .tooLarge(let w, let h, let limit): "image is \(w)x\(h) = \(w * h) pixels, above the limit of \(limit)"
        }
    }
}
