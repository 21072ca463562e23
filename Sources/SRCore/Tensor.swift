#if canImport(Glibc)
import Glibc
#endif

/// A dense tensor of floats in row-major order (weights use their own documented layout, e.g. OIHW).
///
/// `layout` and `elementType` say what the values are when the tensor is a graph input or output: a tensor made
/// from a `Shape` keeps it; one made from bare `dims` has no layout of its own and is seen as an NCHW activation
/// (ranks 1 to 3 gain leading ones, as biases and ncnn constants need). A `bf16` tensor holds floats that are exactly
/// representable in bfloat16.
public struct Tensor: Sendable, Equatable {
    public var dims: [Int]
    public var data: [Float]
    /// The layout given at creation (nil: an NCHW activation view).
    public var layout: Layout?
    public var elementType: ElementType

    public init(dims: [Int], data: [Float]) {
        precondition(dims.reduce(1, *) == data.count, "Tensor data count \(data.count) does not match dims \(dims)")
        self.dims = dims
        self.data = data
        self.layout = nil
        self.elementType = .f32
    }

    public init(zeros dims: [Int]) {
        self.init(dims: dims, data: [Float](repeating: 0, count: dims.reduce(1, *)))
    }

    /// A tensor of `shape` (dimensions, layout and element type); bf16 data is rounded to bf16.
    public init(shape: Shape, data: [Float]) {
        self.init(dims: shape.dims, data: shape.elementType == .f32 ? data : data.map(shape.elementType.round))
        self.layout = shape.layout
        self.elementType = shape.elementType
    }

    public var count: Int { data.count }

    /// The tensor's type as a graph value. Without an own layout, 1-D, 2-D and 3-D tensors become `[1, c, h, w]`
    /// with leading ones.
    public var shape: Shape {
        if let layout { return Shape(dims, layout: layout, elementType: elementType) }
        var d = dims
        while d.count < 4 { d.insert(1, at: 0) }
        return d.count == 4 ? Shape(n: d[0], c: d[1], h: d[2], w: d[3], elementType: elementType)
                            : Shape(d, layout: .plain, elementType: elementType)
    }

    /// Equal when the values and the types as graph values (`shape`) are.
    public static func == (a: Tensor, b: Tensor) -> Bool { a.data == b.data && a.shape == b.shape }

    /// The same values rounded to `type` (a no-op for f32).
    public func converted(to type: ElementType) -> Tensor {
        var t = Tensor(dims: dims, data: type == .f32 ? data : data.map(type.round))
        t.layout = layout
        t.elementType = type
        return t
    }
}

/// A small deterministic generator (SplitMix64) so tests and fixtures reproduce from a printed seed.
public struct SeededGenerator: RandomNumberGenerator, Sendable {
    private var state: UInt64
    public let seed: UInt64

    public init(seed: UInt64) {
        self.seed = seed
        self.state = seed
    }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

extension Tensor {
    /// Uniform random values in `range`, reproducible from `generator`'s seed.
    public static func random(dims: [Int], in range: ClosedRange<Float> = -1...1,
                              using generator: inout SeededGenerator) -> Tensor {
        let count = dims.reduce(1, *)
        var data = [Float](repeating: 0, count: count)
        for i in 0..<count { data[i] = Float.random(in: range, using: &generator) }
        return Tensor(dims: dims, data: data)
    }
}

extension SeededGenerator {
    /// A standard normal sample (Box-Muller), reproducible from the seed.
    public mutating func nextNormal() -> Float {
        let u1 = max(Float.random(in: 0..<1, using: &self), 1e-7), u2 = Float.random(in: 0..<1, using: &self)
        return (-2 * logf(u1)).squareRoot() * cosf(2 * .pi * u2)
    }
}

extension Tensor {
    /// The `height` x `width` region of a `[1, c, h, w]` tensor at (`y`, `x`), every channel.
    public func cropped(y: Int, x: Int, height: Int, width: Int) -> Tensor {
        let s = shape
        var out = [Float](repeating: 0, count: s.c * height * width)
        data.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for c in 0..<s.c {
                    for r in 0..<height {
                        let srow = (c * s.h + y + r) * s.w + x, drow = (c * height + r) * width
                        dst.baseAddress!.advanced(by: drow).update(from: src.baseAddress!.advanced(by: srow), count: width)
                    }
                }
            }
        }
        return Tensor(shape: Shape(n: 1, c: s.c, h: height, w: width, elementType: s.elementType), data: out)
    }
}
