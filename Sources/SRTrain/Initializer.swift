#if canImport(Glibc)
import Glibc
#endif
public import SRCore
public import SRModels

/// How a new network's parameters are drawn. `ParameterSet` assigns every tensor a role from its key and its
/// siblings: weights of rank 2 or 4 use `weight(shape, fanIn)`; a `.bias` beside such a weight uses
/// `bias(count, fanIn)`; rank-1 `.weight`s with running statistics beside them are batch-norm scales (1) and their
/// `.bias` shifts (0); other rank-1 `.weight`s are PReLU slopes (`preluSlope`); `running_var` buffers start at 1,
/// other buffers at 0.
public struct Initializer: Sendable {
    public var weight: @Sendable (_ shape: [Int], _ fanIn: Int, _ generator: inout SeededGenerator) -> [Float]
    public var bias: @Sendable (_ count: Int, _ fanIn: Int, _ generator: inout SeededGenerator) -> [Float]
    /// PyTorch's `nn.PReLU` initial slope.
    public var preluSlope: Float = 0.25

    public init(weight: @escaping @Sendable ([Int], Int, inout SeededGenerator) -> [Float],
                bias: @escaping @Sendable (Int, Int, inout SeededGenerator) -> [Float], preluSlope: Float = 0.25) {
        self.weight = weight
        self.bias = bias
        self.preluSlope = preluSlope
    }

    /// BasicSR's `default_init_weights(module, scale)`: Kaiming-normal weights (fan-in, gain sqrt(2)) times `scale`,
    /// zero biases. MSRResNet uses scale 0.1 for every convolution, so each residual block starts near identity.
    public static func kaimingNormal(scale: Float) -> Initializer {
        Initializer(weight: { shape, fanIn, g in
            let std = (2 / Float(fanIn)).squareRoot() * scale
            return (0..<shape.reduce(1, *)).map { _ in g.nextNormal() * std }
        }, bias: { count, _, _ in [Float](repeating: 0, count: count) })
    }

    /// PyTorch's defaults for `nn.Conv2d` and `nn.Linear` (`kaiming_uniform_(a=sqrt(5))`): weights and biases uniform
    /// in ±1/sqrt(fanIn). Used by networks whose reference code keeps them (the SRGAN tutorial's SRResNet, BasicSR's
    /// VGG-style discriminator).
    public static let pytorchDefault = Initializer(weight: { shape, fanIn, g in
        let bound = 1 / Float(fanIn).squareRoot()
        return (0..<shape.reduce(1, *)).map { _ in Float.random(in: -bound...bound, using: &g) }
    }, bias: { count, fanIn, g in
        let bound = 1 / Float(fanIn).squareRoot()
        return (0..<count).map { _ in Float.random(in: -bound...bound, using: &g) }
    })
}

extension Initializer {
    /// The initializer of an architecture's declared scheme.
    public init(_ scheme: WeightInitialisation) {
        switch scheme {
        case .kaimingNormal(let scale): self = .kaimingNormal(scale: scale)
        case .pytorchDefault: self = .pytorchDefault
        }
    }
}
