/// The shape of a batch of activations, NCHW. Other tensors use it too: convolution weights are OIHW as
/// `(n: out, c: in, h: kh, w: kw)`, linear weights `(n: out, c: in, h: 1, w: 1)`, vectors `(n: k, c: 1, h: 1, w: 1)`.
public struct TShape: Sendable, Equatable, CustomStringConvertible {
    public var n: Int, c: Int, h: Int, w: Int
    public init(n: Int, c: Int, h: Int, w: Int) {
        self.n = n
        self.c = c
        self.h = h
        self.w = w
    }
    public var count: Int { n * c * h * w }
    public var description: String { "[\(n), \(c), \(h), \(w)]" }
}

/// A value on the training tape: a dense float tensor (NCHW for activations, OIHW for convolution weights, `[k]`
/// for vectors) with its gradient, accumulated by `Tape.backward`.
public final class Variable {
    public let shape: TShape
    public var data: [Float]
    /// d(loss)/d(self) after `Tape.backward`; nil until something flows into it.
    public var grad: [Float]?
    /// Whether gradients flow into this value (parameters and everything computed from them). A parameter is
    /// frozen by clearing it (the discriminator during a generator step, a perceptual network always).
    public var requiresGrad: Bool

    public init(_ shape: TShape, data: [Float], requiresGrad: Bool = false) {
        precondition(data.count == shape.count, "Variable data count \(data.count) does not match \(shape)")
        self.shape = shape
        self.data = data
        self.requiresGrad = requiresGrad
    }

    public convenience init(zeros shape: TShape, requiresGrad: Bool = false) {
        self.init(shape, data: [Float](repeating: 0, count: shape.count), requiresGrad: requiresGrad)
    }

    /// The loss value of a scalar variable.
    public var scalar: Float { data[0] }

    /// Adds `g` into the gradient (the first contribution is kept as is, without a copy).
    func accumulate(_ g: [Float]) {
        guard grad != nil else { grad = g; return }
        ElementWise.add(g, into: &grad!)
    }

    /// Forgets the gradient (before the next step's `Tape.backward`).
    public func zeroGrad() { grad = nil }
}
