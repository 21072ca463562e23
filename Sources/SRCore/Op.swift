/// The closed set of operations a graph can hold. Adding a case makes the compiler list every place that must
/// learn it: shape inference, the reference kernel, each backend's lowering and the conformance suite.
public enum Op: Sendable {
    /// A graph input; its shape is given when the graph is compiled.
    case input
    /// A constant activation (ncnn MemoryData), broadcast by binary ops.
    case constant(Tensor)
    case conv2d(Conv2d)
    case deconv2d(Deconv2d)
    case activation(Activation)
    /// Element-wise binary op over two inputs with NumPy-style broadcasting of size-1 dimensions.
    case binary(BinaryOperator)
    /// `Σ coefficients[i] * inputs[i]` over same-shaped inputs (ncnn Eltwise sum).
    case weightedSum([Float])
    /// Concatenation along channels.
    case concat
    case crop(Crop)
    case pixelShuffle(factor: Int, mode: PixelShuffleMode)
    /// Inverse of PyTorch-order pixel shuffle: `[c, h*r, w*r] -> [c*r*r, h, w]`.
    case pixelUnshuffle(factor: Int)
    case resize(Resize)
    case pool(Pool)
    /// Fully connected layer: over each sample flattened (`[n, c, h, w] -> [n, out, 1, 1]`) or over the last axis of
    /// any rank (tokens `[n, l, c] -> [n, l, out]`), as `Linear.input` says.
    case linear(Linear)
    /// Matrix product over the last two axes, batched over the leading ones with NumPy broadcasting:
    /// `[..., m, k] x [..., k, n] -> [..., m, n]` (`transposeB`: the second operand is `[..., n, k]`).
    case matmul(MatMul)
    /// Layer normalisation over the last axis with learned per-feature `gamma` and `beta` (PyTorch `LayerNorm`).
    case layerNorm(LayerNorm)
    /// Softmax along one axis (negative axes count from the end).
    case softmax(axis: Int)
    /// The same values with new dimensions (ONNX `Reshape`: `0` keeps the input's size at that index, one `-1` is
    /// inferred).
    case reshape(Reshape)
    /// Axes reordered: output axis `i` is input axis `order[i]` (`torch.permute`).
    case permute(Permute)
    /// Cyclic shift along axes (`torch.roll`): the value at index `i` moves to `(i + shift) mod size`.
    case roll(Roll)
    /// Swin's window partition: `[n, h, w, c]` (nhwc) -> `[n * (h/s) * (w/s), s*s, c]` tokens, windows in row-major
    /// order of their position, pixels in row-major order inside each window.
    case windowPartition(size: Int)
    /// The inverse of `windowPartition`: input 0 is the windows, input 1 any value whose shape is the `[n, h, w, c]`
    /// image to rebuild (only its shape is read).
    case windowReverse(size: Int)
    /// The half-open range `start..<end` of one axis, every `step`-th element (rank-N; `crop` is the image form).
    case slice(Slice)
    /// Conversion to another element type (`bf16` rounds to nearest even).
    case convert(ElementType)
    /// PyTorch's `BatchNorm2d`: per channel `(x - mean) / sqrt(var + eps) * gamma + beta`. Inference (and a tape in
    /// evaluation mode) uses the running statistics; a training tape normalises with the batch statistics and
    /// updates the running ones (`momentum`). Inference builds fold it into the convolution before it; training
    /// builds keep it as a node.
    case batchNorm(BatchNorm)

    /// A short stable name for logs, errors and conformance reports.
    public var kind: String {
        switch self {
        case .input: "input"
        case .constant: "constant"
        case .conv2d: "conv2d"
        case .deconv2d: "deconv2d"
        case .activation(let a): "activation.\(a.kind)"
        case .binary(let b): "binary.\(b)"
        case .weightedSum: "weightedSum"
        case .concat: "concat"
        case .crop: "crop"
        case .pixelShuffle: "pixelShuffle"
        case .pixelUnshuffle: "pixelUnshuffle"
        case .resize(let r): "resize.\(r.mode)"
        case .pool(let p): "pool.\(p.kind)"
        case .linear: "linear"
        case .batchNorm: "batchNorm"
        case .matmul: "matmul"
        case .layerNorm: "layerNorm"
        case .softmax: "softmax"
        case .reshape: "reshape"
        case .permute: "permute"
        case .roll: "roll"
        case .windowPartition: "windowPartition"
        case .windowReverse: "windowReverse"
        case .slice: "slice"
        case .convert(let t): "convert.\(t)"
        }
    }
}

/// How the output rows of an op depend on its input rows (for running the end of a network in bands of rows,
/// `RowBandSplit`).
public struct RowDependence: Sendable, Equatable {
    /// Output rows per input row (1, or an upsampling factor).
    public var scale: Int
    /// Input rows needed above and below the rows an output row comes from.
    public var context: Int

    public init(scale: Int = 1, context: Int = 0) {
        self.scale = scale
        self.context = context
    }
}

// What the graph algorithms (row banding, cost) need to know about each op lives here, beside the op, so that a new
// op is described in this file, its shape rule, its kernels and its gradient rule, and nowhere else.
extension Op {
    /// How output rows depend on input rows; nil when an output row may depend on rows far away (attention,
    /// pooling, shape changes) or the op changes the height other than by an integer upsampling.
    public var rowDependence: RowDependence? {
        switch self {
        case .conv2d(let c):
            c.strideH == 1 && c.dilationH == 1 && c.padding.top == c.padding.bottom && c.kernelH == 2 * c.padding.top + 1
                ? RowDependence(context: c.padding.top) : nil
        case .activation, .binary, .weightedSum, .concat, .convert:
            RowDependence()
        case .resize(let r):
            r.mode == .nearest && r.outputH == nil && r.outputW == nil && !r.alignCorners && r.scaleH >= 1
                && r.scaleH == r.scaleH.rounded() ? RowDependence(scale: Int(r.scaleH)) : nil
        case .pixelShuffle(let f, _):
            RowDependence(scale: f)
        case .input, .constant, .deconv2d, .crop, .pixelUnshuffle, .pool, .batchNorm, .linear, .matmul, .layerNorm,
             .softmax, .reshape, .permute, .roll, .windowPartition, .windowReverse, .slice:
            nil
        }
    }

    /// Element counts of the tensors the op holds (weights, biases, PReLU slopes, normalisation scales and shifts,
    /// constants; 0 for a missing bias), for `enhance inspect`.
    public var parameterSizes: [Int] {
        switch self {
        case .conv2d(let p):
            var sizes = [p.weight.count, p.bias?.count ?? 0]
            if case .prelu(let s)? = p.activation { sizes.append(s.count) }
            return sizes
        case .deconv2d(let p): return [p.weight.count, p.bias?.count ?? 0]
        case .linear(let l):
            var sizes = [l.weight.count, l.bias?.count ?? 0]
            if case .prelu(let s)? = l.activation { sizes.append(s.count) }
            return sizes
        case .activation(.prelu(let s)): return [s.count]
        case .constant(let t): return [t.count]
        case .batchNorm(let b): return [b.gamma.count, b.beta.count]
        case .layerNorm(let p): return [p.gamma.count, p.beta.count]
        case .input, .activation, .binary, .weightedSum, .concat, .crop, .pixelShuffle, .pixelUnshuffle, .resize, .pool,
             .matmul, .softmax, .reshape, .permute, .roll, .windowPartition, .windowReverse, .slice, .convert:
            return []
        }
    }

    /// Multiply-accumulates of one application (the work figure behind GFLOP/s, 2 FLOP each); 0 for the
    /// memory-bound ops.
    public func multiplyAccumulates(inputs: [Shape], output out: Shape) -> Int {
        switch self {
        case .conv2d(let p): out.count * (p.inChannels / p.groups) * p.kernelH * p.kernelW
        case .deconv2d(let p): inputs[0].count * p.outChannels * p.kernelH * p.kernelW
        case .linear(let l): out.count * l.inFeatures
        case .matmul: out.count * inputs[0][-1]
        case .input, .constant, .activation, .binary, .weightedSum, .concat, .crop, .pixelShuffle, .pixelUnshuffle,
             .resize, .pool, .batchNorm, .layerNorm, .softmax, .reshape, .permute, .roll, .windowPartition,
             .windowReverse, .slice, .convert:
            0
        }
    }
}

/// Point-wise activations; also the fused post-op of convolutions and linear layers.
public enum Activation: Sendable, Equatable {
    case relu
    case leakyRelu(slope: Float)
    /// Per-channel slopes (a single slope is shared by all channels).
    case prelu(slopes: [Float])
    case sigmoid
    /// `x * sigmoid(x)` (SiLU).
    case swish
    case clip(min: Float, max: Float)
    /// `scale * x + shift`; scalar arithmetic (x*k, x+k, k-x) is lowered to this.
    case linear(scale: Float, shift: Float)
    /// Gaussian error linear unit: `x * Φ(x)` with the exact error function, or PyTorch's tanh approximation
    /// (`approximate = "tanh"`).
    case gelu(approximate: Bool)

    public var kind: String {
        switch self {
        case .relu: "relu"
        case .leakyRelu: "leakyRelu"
        case .prelu: "prelu"
        case .sigmoid: "sigmoid"
        case .swish: "swish"
        case .clip: "clip"
        case .linear: "linear"
        case .gelu(let approximate): approximate ? "gelu.tanh" : "gelu"
        }
    }

    /// Applies the activation to one value of channel `channel`.
    @inlinable
    public func apply(_ x: Float, channel: Int) -> Float {
        switch self {
        case .relu: return max(x, 0)
        case .leakyRelu(let slope): return x > 0 ? x : x * slope
        case .prelu(let slopes):
            let s = slopes.count == 1 ? slopes[0] : slopes[channel]
            return x > 0 ? x : x * s
        case .sigmoid: return 1 / (1 + expf(-x))
        case .swish: return x / (1 + expf(-x))
        case .clip(let lo, let hi): return min(max(x, lo), hi)
        case .linear(let scale, let shift): return scale * x + shift
        case .gelu(let approximate):
            if approximate {
                let k: Float = 0.7978845608028654   // sqrt(2 / pi)
                return 0.5 * x * (1 + tanhf(k * (x + 0.044715 * x * x * x)))
            }
            return 0.5 * x * (1 + erff(x * 0.7071067811865476))
        }
    }
}

public enum BinaryOperator: String, Sendable, CaseIterable {
    case add, sub, mul, div, max, min

    @inlinable
    public func apply(_ a: Float, _ b: Float) -> Float {
        switch self {
        case .add: a + b
        case .sub: a - b
        case .mul: a * b
        case .div: a / b
        case .max: Swift.max(a, b)
        case .min: Swift.min(a, b)
        }
    }
}

/// Padding of a spatial window, in pixels on each side.
public struct Padding: Sendable, Equatable {
    public var top: Int, left: Int, bottom: Int, right: Int
    public init(top: Int, left: Int, bottom: Int, right: Int) {
        self.top = top
        self.left = left
        self.bottom = bottom
        self.right = right
    }
    public static func uniform(_ p: Int) -> Padding { Padding(top: p, left: p, bottom: p, right: p) }
    public static let zero = Padding.uniform(0)
}

/// 2-D convolution. `weight` is `[outChannels, inChannels / groups, kernelH, kernelW]` (OIHW).
public struct Conv2d: Sendable {
    public var weight: Tensor
    public var bias: [Float]?
    public var strideH: Int, strideW: Int
    public var padding: Padding
    public var dilationH: Int, dilationW: Int
    public var groups: Int
    public var activation: Activation?

    public init(weight: Tensor, bias: [Float]?, stride: (Int, Int) = (1, 1), padding: Padding = .zero,
                dilation: (Int, Int) = (1, 1), groups: Int = 1, activation: Activation? = nil) {
        self.weight = weight
        self.bias = bias
        (self.strideH, self.strideW) = stride
        self.padding = padding
        (self.dilationH, self.dilationW) = dilation
        self.groups = groups
        self.activation = activation
    }

    public var outChannels: Int { weight.dims[0] }
    public var inChannels: Int { weight.dims[1] * groups }
    public var kernelH: Int { weight.dims[2] }
    public var kernelW: Int { weight.dims[3] }
}

/// Transposed 2-D convolution (no groups). `weight` is `[outChannels, inChannels, kernelH, kernelW]` and the
/// value of input pixel `(y, x)` is scattered to output `(y*stride + ky*dilation - padding.top, ...)`.
/// `padding` crops the full output; `outputPadding` extends the bottom/right edge.
public struct Deconv2d: Sendable {
    public var weight: Tensor
    public var bias: [Float]?
    public var strideH: Int, strideW: Int
    public var padding: Padding
    public var outputPaddingH: Int, outputPaddingW: Int
    public var dilationH: Int, dilationW: Int
    public var activation: Activation?

    public init(weight: Tensor, bias: [Float]?, stride: (Int, Int), padding: Padding = .zero,
                outputPadding: (Int, Int) = (0, 0), dilation: (Int, Int) = (1, 1), activation: Activation? = nil) {
        self.weight = weight
        self.bias = bias
        (self.strideH, self.strideW) = stride
        self.padding = padding
        (self.outputPaddingH, self.outputPaddingW) = outputPadding
        (self.dilationH, self.dilationW) = dilation
        self.activation = activation
    }

    public var outChannels: Int { weight.dims[0] }
    public var inChannels: Int { weight.dims[1] }
    public var kernelH: Int { weight.dims[2] }
    public var kernelW: Int { weight.dims[3] }
}

/// A crop on the channel, height and width axes. Each bound counts from the start (`>= 0`) or, for `end`, from the
/// end when negative or zero (`0` keeps up to the end).
public struct Crop: Sendable, Equatable {
    public var start: [Int]  // c, h, w
    public var end: [Int]    // c, h, w; values <= 0 count from the end

    public init(start: [Int] = [0, 0, 0], end: [Int] = [0, 0, 0]) {
        precondition(start.count == 3 && end.count == 3)
        self.start = start
        self.end = end
    }

    /// The kept half-open range of an axis of length `size`.
    public func range(axis: Int, size: Int) -> Range<Int> {
        let lo = start[axis]
        let hi = end[axis] <= 0 ? size + end[axis] : end[axis]
        return lo..<max(lo, min(hi, size))
    }
}

public enum PixelShuffleMode: Sendable, Equatable {
    /// PyTorch `PixelShuffle` / ONNX DepthToSpace CRD: input channel `c*r*r + i*r + j`.
    case channelsFirst
    /// ONNX DepthToSpace DCR: input channel `(i*r + j)*C + c`.
    case depthFirst
}

public enum ResizeMode: String, Sendable {
    case nearest
    case bilinear
    /// Keys cubic convolution with A = -0.75, border taps replicated (as ncnn and OpenCV).
    case bicubic
}

/// Spatial resize by a factor; the output side is `Int(Float(side) * scale)` (ncnn's rule), or a fixed size.
public struct Resize: Sendable, Equatable {
    public var mode: ResizeMode
    public var scaleH: Float, scaleW: Float
    public var outputH: Int?, outputW: Int?
    public var alignCorners: Bool

    public init(mode: ResizeMode, scaleH: Float, scaleW: Float, outputH: Int? = nil, outputW: Int? = nil,
                alignCorners: Bool = false) {
        self.mode = mode
        self.scaleH = scaleH
        self.scaleW = scaleW
        self.outputH = outputH
        self.outputW = outputW
        self.alignCorners = alignCorners
    }

    public func outputSize(h: Int, w: Int) -> (Int, Int) {
        (outputH ?? Int(Float(h) * scaleH), outputW ?? Int(Float(w) * scaleW))
    }
}

public struct Pool: Sendable, Equatable {
    public enum Kind: String, Sendable { case max, average }
    public var kind: Kind
    /// Pools the whole spatial extent to `[n, c, 1, 1]`.
    public var global: Bool
    public var kernelH: Int, kernelW: Int
    public var strideH: Int, strideW: Int
    public var padding: Padding
    /// For average pooling: whether padded positions count in the divisor.
    public var countIncludesPadding: Bool

    public static func global(_ kind: Kind) -> Pool {
        Pool(kind: kind, global: true, kernelH: 1, kernelW: 1, strideH: 1, strideW: 1, padding: .zero,
             countIncludesPadding: false)
    }

    public init(kind: Kind, global: Bool = false, kernelH: Int, kernelW: Int, strideH: Int, strideW: Int,
                padding: Padding = .zero, countIncludesPadding: Bool = false) {
        self.kind = kind
        self.global = global
        self.kernelH = kernelH
        self.kernelW = kernelW
        self.strideH = strideH
        self.strideW = strideW
        self.padding = padding
        self.countIncludesPadding = countIncludesPadding
    }
}

/// Fully connected layer: `weight` is `[outFeatures, inFeatures]`.
public struct Linear: Sendable {
    /// What the layer reads.
    public enum Input: Sendable, Equatable {
        /// Each sample flattened: `[n, c, h, w] -> [n, out, 1, 1]` (classifier heads).
        case flattened
        /// The last axis of any rank: `[..., in] -> [..., out]` (tokens, channels-last images).
        case lastAxis
    }

    public var weight: Tensor
    public var bias: [Float]?
    public var activation: Activation?
    public var input: Input

    public init(weight: Tensor, bias: [Float]?, activation: Activation? = nil, input: Input = .flattened) {
        self.weight = weight
        self.bias = bias
        self.activation = activation
        self.input = input
    }

    public var outFeatures: Int { weight.dims[0] }
    public var inFeatures: Int { weight.dims[1] }
}

/// `BatchNorm2d` parameters and running statistics (one value per channel each).
public struct BatchNorm: Sendable, Equatable {
    public var gamma: [Float]
    public var beta: [Float]
    public var runningMean: [Float]
    public var runningVar: [Float]
    public var epsilon: Float
    /// Weight of the batch statistics in the running-statistics update of a training step (PyTorch's 0.1).
    public var momentum: Float

    public init(gamma: [Float], beta: [Float], runningMean: [Float], runningVar: [Float], epsilon: Float = 1e-5,
                momentum: Float = 0.1) {
        self.gamma = gamma
        self.beta = beta
        self.runningMean = runningMean
        self.runningVar = runningVar
        self.epsilon = epsilon
        self.momentum = momentum
    }

    public var channels: Int { gamma.count }

    /// Per-channel `(scale, shift)` of the evaluation-mode transform `x * scale + shift`.
    public var evaluationAffine: (scale: [Float], shift: [Float]) {
        var scale = [Float](repeating: 0, count: channels), shift = scale
        for c in 0..<channels {
            scale[c] = gamma[c] / (runningVar[c] + epsilon).squareRoot()
            shift[c] = beta[c] - runningMean[c] * scale[c]
        }
        return (scale, shift)
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Batched matrix product; `scale` multiplies the product (attention's `1 / sqrt(d)`).
public struct MatMul: Sendable, Equatable {
    public var transposeB: Bool
    public var scale: Float

    public init(transposeB: Bool = false, scale: Float = 1) {
        self.transposeB = transposeB
        self.scale = scale
    }
}

/// `(x - mean) / sqrt(var + epsilon) * gamma + beta` over the last axis (biased variance, as PyTorch).
public struct LayerNorm: Sendable {
    public var gamma: [Float]
    public var beta: [Float]
    public var epsilon: Float

    public init(gamma: [Float], beta: [Float], epsilon: Float = 1e-5) {
        precondition(gamma.count == beta.count, "LayerNorm gamma and beta differ in length")
        self.gamma = gamma
        self.beta = beta
        self.epsilon = epsilon
    }

    public var features: Int { gamma.count }
}

/// Target dimensions of a reshape: `0` copies the input's size at that index, one `-1` takes what is left.
public struct Reshape: Sendable, Equatable {
    public var dims: [Int]
    /// The output's layout (nil: the default for its rank).
    public var layout: Layout?

    public init(_ dims: [Int], layout: Layout? = nil) {
        self.dims = dims
        self.layout = layout
    }
}

public struct Permute: Sendable, Equatable {
    /// Output axis `i` is input axis `order[i]`.
    public var order: [Int]
    /// The output's layout (nil: the default for its rank).
    public var layout: Layout?

    public init(_ order: [Int], layout: Layout? = nil) {
        self.order = order
        self.layout = layout
    }

    /// NCHW -> NHWC.
    public static let toChannelsLast = Permute([0, 2, 3, 1], layout: .nhwc)
    /// NHWC -> NCHW.
    public static let toChannelsFirst = Permute([0, 3, 1, 2], layout: .nchw)
}

public struct Roll: Sendable, Equatable {
    public var shifts: [Int]
    public var axes: [Int]

    public init(shifts: [Int], axes: [Int]) {
        precondition(shifts.count == axes.count, "Roll needs one shift per axis")
        self.shifts = shifts
        self.axes = axes
    }
}

public struct Slice: Sendable, Equatable {
    public var axis: Int
    public var start: Int
    /// Exclusive; clamped to the axis size.
    public var end: Int
    public var step: Int

    public init(axis: Int, start: Int, end: Int, step: Int = 1) {
        self.axis = axis
        self.start = start
        self.end = end
        self.step = step
    }
}
