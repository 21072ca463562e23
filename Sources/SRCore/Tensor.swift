#if canImport(Glibc)
import Glibc
#endif

/// A dense float32 tensor in row-major NCHW order (weights use their own documented layout, e.g. OIHW).
public struct Tensor: Sendable, Equatable {
    public var dims: [Int]
    public var data: [Float]

    public init(dims: [Int], data: [Float]) {
        precondition(dims.reduce(1, *) == data.count, "Tensor data count \(data.count) does not match dims \(dims)")
        self.dims = dims
        self.data = data
    }

    public init(zeros dims: [Int]) {
        self.init(dims: dims, data: [Float](repeating: 0, count: dims.reduce(1, *)))
    }

    public init(shape: Shape, data: [Float]) {
        self.init(dims: shape.dims, data: data)
    }

    public var count: Int { data.count }

    /// The tensor viewed as an activation; 1-D, 2-D and 3-D tensors become `[1, c, h, w]` with leading ones.
    public var shape: Shape {
        var d = dims
        while d.count < 4 { d.insert(1, at: 0) }
        precondition(d.count == 4, "Tensor of rank \(dims.count) is not an activation")
        return Shape(n: d[0], c: d[1], h: d[2], w: d[3])
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
        return Tensor(dims: [1, s.c, height, width], data: out)
    }
}
