/// The closed set of differentiable operations of the training engine. The forward rule of every case lives in
/// `Tape+Forward.swift` and its gradient rule in `Tape+Gradients.swift`, one switch each (tinygrad's "one table keyed
/// by op"): adding a case makes the compiler list both places.
///
/// Tensors are batched NCHW (`TShape`); convolution weights are OIHW; vectors are `[k, 1, 1, 1]`. Scalars (losses,
/// reductions) are `[1, 1, 1, 1]`.
public enum TrainOp: Sendable, Equatable {
    /// 2-D convolution of input 0 by weights 1 (OIHW, groups = 1) plus optional bias 2 (`[o]`); square kernel,
    /// the same stride and zero padding on both axes. Runs through the tape's `ConvolutionEngine`.
    case conv2d(stride: Int, padding: Int)
    case relu
    case leakyRelu(slope: Float)
    /// PyTorch's `PReLU`: input 0, learned slopes 1 (`[c]` per channel or `[1]` shared), with their gradient.
    case prelu
    case sigmoid
    /// `scale * x + shift` with constants (scalar multiply, e.g. a loss weight, or `2x - 1`).
    case affine(scale: Float, shift: Float)
    /// Per-channel `scale[c] * x + shift[c]` with constants (e.g. ImageNet normalisation in front of VGG).
    case channelAffine(scale: [Float], shift: [Float])
    /// Element-wise `a * inputs[0] + b * inputs[1]` of two tensors of one shape (`a = b = 1` is addition).
    case axpby(a: Float, b: Float)
    /// PyTorch-order pixel shuffle `[n, c*r*r, h, w] -> [n, c, h*r, w*r]`.
    case pixelShuffle(factor: Int)
    /// Bilinear upsampling by an integer factor with half-pixel centres (PyTorch's
    /// `F.interpolate(mode='bilinear', align_corners=False)`, MSRResNet's skip connection).
    case upsampleBilinear(factor: Int)
    /// Batch normalisation in training mode (batch statistics, biased variance): input 0, weight 1, bias 2. The
    /// running statistics are updated by `Tape.batchNorm(_:layer:in:training:momentum:)`, not by the op.
    case batchNorm(epsilon: Float)
    /// Batch normalisation in eval mode: input 0, weight 1, bias 2, running mean 3, running variance 4 (no
    /// gradient flows into the running statistics).
    case batchNormInference(epsilon: Float)
    /// `[n, c, h, w] -> [n, c*h*w, 1, 1]` (PyTorch's `x.view(n, -1)`).
    case flatten
    /// Fully connected: input 0 flattened per sample `[n, k]`, weight 1 `[o, k]`, optional bias 2 `[o]`; output
    /// `[n, o, 1, 1]`.
    case linear
    /// 2x2 max pooling with stride 2 (VGG); odd trailing rows and columns are dropped, as PyTorch does.
    case maxPool2
    /// Mean of all elements (a scalar).
    case mean
    /// Sum of all elements (a scalar).
    case sum
    /// Mean of |input 0 - input 1| over all elements (L1 loss).
    case l1Loss
    /// Mean of (input 0 - input 1)^2 (MSE loss).
    case mseLoss
    /// Mean of sqrt((a - b)^2 + eps^2) (Charbonnier loss).
    case charbonnierLoss(epsilon: Float)
    /// Mean binary cross-entropy of logits (input 0) against a constant target in 0...1, in the stable form
    /// `max(z, 0) - z t + log(1 + exp(-|z|))`.
    case bceWithLogits(target: Float)

    /// The op's name in errors, tests and profiles.
    public var name: String {
        switch self {
        case .conv2d: "conv2d"
        case .relu: "relu"
        case .leakyRelu: "leakyRelu"
        case .prelu: "prelu"
        case .sigmoid: "sigmoid"
        case .affine: "affine"
        case .channelAffine: "channelAffine"
        case .axpby: "axpby"
        case .pixelShuffle: "pixelShuffle"
        case .upsampleBilinear: "upsampleBilinear"
        case .batchNorm: "batchNorm"
        case .batchNormInference: "batchNormInference"
        case .flatten: "flatten"
        case .linear: "linear"
        case .maxPool2: "maxPool2"
        case .mean: "mean"
        case .sum: "sum"
        case .l1Loss: "l1Loss"
        case .mseLoss: "mseLoss"
        case .charbonnierLoss: "charbonnierLoss"
        case .bceWithLogits: "bceWithLogits"
        }
    }

    /// How many input tensors the op takes (`conv2d` and `linear`: 2 without bias, 3 with).
    var arity: ClosedRange<Int> {
        switch self {
        case .conv2d, .linear: 2...3
        case .prelu, .axpby, .l1Loss, .mseLoss, .charbonnierLoss: 2...2
        case .batchNorm: 3...3
        case .batchNormInference: 5...5
        default: 1...1
        }
    }

    /// Whether the op produces a scalar loss (the end of a tape).
    public var isLoss: Bool {
        switch self {
        case .l1Loss, .mseLoss, .charbonnierLoss, .bceWithLogits: true
        default: false
        }
    }
}
