/// The closed set of differentiable operations of the training engine. Forward and backward rules for every case
/// live in `Tape` (`Tape+Rules.swift`), one switch each: adding a case makes the compiler list both places.
public enum TrainOp: Sendable {
    /// 2-D convolution of input 0 by weights 1 (OIHW) plus optional bias 2; square kernel, stride and padding.
    case conv2d(stride: Int, padding: Int)
    case relu
    case leakyRelu(slope: Float)
    /// Per-channel PReLU: input 0, slopes 1 (`[c]` or `[1]`).
    case prelu
    case sigmoid
    /// Per-channel `scale[c] * x + shift[c]` (e.g. ImageNet normalisation in front of VGG).
    case channelAffine(scale: [Float], shift: [Float])
    /// Element-wise `a * inputs[0] + b * inputs[1]`.
    case axpby(a: Float, b: Float)
    /// PyTorch-order pixel shuffle `[n, c*r*r, h, w] -> [n, c, h*r, w*r]`.
    case pixelShuffle(factor: Int)
    /// Batch normalisation with batch statistics (training mode): input 0, weight 1, bias 2.
    case batchNorm(epsilon: Float)
    /// Fully connected: input 0 flattened per sample `[n, k]`, weight 1 `[o, k]`, bias 2 `[o]`; output `[n, o, 1, 1]`.
    case linear
    /// 2x2 max pooling with stride 2.
    case maxPool2
    /// Mean of |input 0 - input 1| over all elements (L1 loss).
    case l1Loss
    /// Mean of (input 0 - input 1)^2 (MSE loss).
    case mseLoss
    /// Mean of sqrt((a - b)^2 + eps^2) (Charbonnier loss).
    case charbonnierLoss(epsilon: Float)
    /// Mean binary cross-entropy of logits (input 0) against a constant target, numerically stable.
    case bceWithLogits(target: Float)

    public var name: String {
        switch self {
        case .conv2d: "conv2d"
        case .relu: "relu"
        case .leakyRelu: "leakyRelu"
        case .prelu: "prelu"
        case .sigmoid: "sigmoid"
        case .channelAffine: "channelAffine"
        case .axpby: "axpby"
        case .pixelShuffle: "pixelShuffle"
        case .batchNorm: "batchNorm"
        case .linear: "linear"
        case .maxPool2: "maxPool2"
        case .l1Loss: "l1Loss"
        case .mseLoss: "mseLoss"
        case .charbonnierLoss: "charbonnierLoss"
        case .bceWithLogits: "bceWithLogits"
        }
    }
}
