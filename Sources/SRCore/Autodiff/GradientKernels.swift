/// The heavy passes of training that a backend provides: convolution forward (on a batch, keeping nothing fused),
/// backward data and backward weights. The tape (`GraphTape`) calls them from the convolution's gradient rule; every
/// other op's rule runs the loops of `TrainingLoops` / `ElementWise`. `ReferenceGradientKernels`
/// (SRBackendReference) is the oracle, `DNNLGradientKernels` (SRBackendDNNL) the fast one.
///
/// Layouts: activations NCHW with any batch size, weights OIHW (`[out, in / groups, kh, kw]`). The convolution's
/// `activation` is ignored here: the tape applies it.
public protocol GradientKernels: AnyObject {
    /// `conv(x) + bias` for a batch `x`; the result has `output`'s shape.
    func convolutionForward(_ x: Tensor, _ conv: Conv2d, output: Shape) throws -> Tensor
    /// d(loss)/dx of the convolution from d(loss)/dy (`dy` has the output's shape, the result `input`'s).
    func convolutionBackwardData(_ dy: Tensor, _ conv: Conv2d, input: Shape) throws -> Tensor
    /// d(loss)/d(weight) and, when the convolution has a bias, d(loss)/d(bias), from `x` and d(loss)/dy.
    func convolutionBackwardWeights(_ x: Tensor, _ dy: Tensor, _ conv: Conv2d) throws -> (weight: [Float], bias: [Float]?)
}
