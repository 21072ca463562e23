/// The shape of a 4-D activation in NCHW order. Vectors are `[n, c, 1, 1]`.
public struct Shape: Hashable, Sendable, CustomStringConvertible {
    public var n: Int
    public var c: Int
    public var h: Int
    public var w: Int

    public init(n: Int = 1, c: Int, h: Int, w: Int) {
        self.n = n
        self.c = c
        self.h = h
        self.w = w
    }

    public var count: Int { n * c * h * w }
    public var dims: [Int] { [n, c, h, w] }
    public var description: String { "[\(n), \(c), \(h), \(w)]" }
}
