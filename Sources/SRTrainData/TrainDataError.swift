/// Errors of the training data pipeline: each names the folder or file and says how to fix it.
public enum TrainDataError: Error, Equatable, CustomStringConvertible {
    /// The HR folder holds no decodable image of at least the patch size.
    case noImages(folder: String, detail: String)

    public var description: String {
        switch self {
        case .noImages(let folder, let detail): "no usable training images in '\(folder)': \(detail)"
        }
    }
}
