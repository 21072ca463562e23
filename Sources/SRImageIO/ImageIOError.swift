/// Why an image could not be read, written or resampled.
public enum ImageIOError: Error, Equatable, CustomStringConvertible {
    case fileNotFound(path: String)
    case notAnImage(source: String, detail: String)
    case decodeFailed(source: String, detail: String)
    case unsupportedOutputFormat(path: String)
    case encodeFailed(path: String, detail: String)
    case tooLarge(width: Int, height: Int, limit: Int)
    /// The image has an alpha channel, the output format cannot store one, and no background colour was given.
    case alphaNotSupported(format: ImageIO.Format)
    /// The format is known but this libvips was built without it (HEIF/AVIF need libvips' heif module).
    case formatUnavailable(format: ImageIO.Format)
    /// The input is in a format outside the untrusted-input policy (`ImageIO.loadersRestricted`), e.g. SVG or PDF.
    case formatNotAccepted(source: String, format: String)
    /// An encode option is out of range or does not apply to the format.
    case invalidOption(name: String, detail: String)
    /// Resampling was refused or failed.
    case resizeFailed(detail: String)

    public var description: String {
        switch self {
        case .fileNotFound(let path): "no such file: \(path)"
        case .notAnImage(let source, let detail):
            "\(source) is not an image Enhance can read (PNG, JPEG, WebP, TIFF, ...)\(detail.isEmpty ? "" : ": \(detail)")"
        case .decodeFailed(let source, let detail): "could not decode \(source): \(detail)"
        case .unsupportedOutputFormat(let path):
            "cannot tell the output format from '\(path)': use an extension such as .png, .jpg, .webp, .tif, .avif or .heic"
        case .encodeFailed(let path, let detail): "could not write \(path): \(detail)"
        case .tooLarge(let w, let h, let limit): "image is \(w)x\(h) = \(w * h) pixels, above the limit of \(limit)"
        case .alphaNotSupported(let format):
            "\(format.name) cannot store the image's alpha channel: write PNG, WebP or TIFF instead, "
                + "or pass a background colour to flatten onto"
        case .formatUnavailable(let format):
            "\(format.name) is not supported by this libvips (it was built without \(format.libvipsModule) support); "
                + "use PNG, JPEG, WebP or TIFF"
        case .formatNotAccepted(let source, let format):
            "\(source) is \(format), which Enhance does not accept: it reads \(ImageIO.acceptedFormats) "
                + "(convert it first; on the command line --allow-all-loaders opens it with libvips' other loaders)"
        case .invalidOption(let name, let detail): "invalid \(name): \(detail)"
        case .resizeFailed(let detail): "could not resize: \(detail)"
        }
    }
}
