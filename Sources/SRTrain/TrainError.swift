/// Errors of the training engine: each says what was wrong and how to fix it.
public enum TrainError: Error, Equatable, CustomStringConvertible {
    /// Two tensors that an operation combines have incompatible shapes.
    case shapeMismatch(op: String, detail: String)
    /// A checkpoint or weight file lacks a parameter the network needs, or holds one of the wrong shape.
    case parameter(key: String, detail: String)
    /// A checkpoint or training option is unusable.
    case invalid(String)

    public var description: String {
        switch self {
        case .shapeMismatch(let op, let detail): "\(op): \(detail)"
        case .parameter(let key, let detail): "parameter '\(key)': \(detail)"
        case .invalid(let detail): detail
        }
    }
}
