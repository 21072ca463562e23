public import SRModels
public import SRWeights

/// A network on the training tape whose parameters (and buffers) are named exactly like the PyTorch state dict of
/// its architecture in SRModels, so `stateDict()` is a weight file that `enhance upscale -m` detects and runs, and
/// `load(_:)` takes files written by PyTorch.
public protocol TrainableNetwork: AnyObject {
    /// The trainable tensors and buffers, keyed like the state dict.
    var parameters: ParameterSet { get }
    /// The architecture's tensors (`stateDictSpec` of its SRModels architecture).
    var specs: [TensorSpec] { get }
    /// The network on a batch `x`, recorded on `tape`.
    func forward(_ x: Variable, tape: Tape) throws -> Variable
}

extension TrainableNetwork {
    /// Parameters and buffers under their PyTorch names, fp32.
    public func stateDict() -> StateDict { parameters.stateDict(specs: specs) }

    /// Replaces parameters and buffers with those of `dict` (e.g. from `WeightFile.load(path:)`).
    /// - Throws: `TrainError.parameter` naming the first missing or mis-shaped tensor.
    public func load(_ dict: StateDict) throws { try parameters.load(dict, specs: specs) }
}
