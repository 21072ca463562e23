/// The element type of a graph value. Host tensors always hold `Float`s; a `bf16` value holds floats that are
/// exactly representable in bfloat16 (rounded to nearest even), and backends may store it in two bytes.
public enum ElementType: String, Sendable, Hashable, CaseIterable, Codable {
    case f32
    case bf16

    /// Bytes per element in a backend's memory.
    public var byteCount: Int {
        switch self {
        case .f32: 4
        case .bf16: 2
        }
    }

    /// `x` rounded to this type (round to nearest, ties to even; NaN stays NaN).
    @inlinable
    public func round(_ x: Float) -> Float {
        switch self {
        case .f32: return x
        case .bf16:
            guard !x.isNaN else { return x }
            let bits = x.bitPattern
            let rounded = bits &+ 0x7FFF &+ ((bits >> 16) & 1)
            return Float(bitPattern: rounded & 0xFFFF_0000)
        }
    }
}

/// What the axes of a value mean. Ops check the layouts they rely on; element-wise ops keep their input's.
public enum Layout: String, Sendable, Hashable, Codable {
    /// An image batch `[n, c, h, w]` (rank 4).
    case nchw
    /// An image batch channels-last `[n, h, w, c]` (rank 4), as the window ops of transformer models use it.
    case nhwc
    /// A batch of token sequences `[n, l, c]` (rank 3).
    case tokens
    /// No particular meaning (attention scores, reshaped intermediates, weights).
    case plain

    /// The rank this layout requires, if any.
    public var rank: Int? {
        switch self {
        case .nchw, .nhwc: 4
        case .tokens: 3
        case .plain: nil
        }
    }
}

/// The type of a graph value: its dimensions (rank 1 to 6, row-major), their layout and the element type.
///
/// Images are rank 4 in `nchw`, with the `n`, `c`, `h`, `w` accessors; vectors are `[n, c, 1, 1]`.
public struct Shape: Hashable, Sendable, CustomStringConvertible {
    /// The largest rank a value may have.
    public static let maximumRank = 6

    public private(set) var dims: [Int]
    public var layout: Layout
    public var elementType: ElementType

    /// A 4-D image shape in NCHW.
    public init(n: Int = 1, c: Int, h: Int, w: Int, elementType: ElementType = .f32) {
        self.dims = [n, c, h, w]
        self.layout = .nchw
        self.elementType = elementType
    }

    /// A value of any rank from 1 to 6. Rank 4 defaults to `nchw`, rank 3 to `tokens`, other ranks to `plain`.
    public init(_ dims: [Int], layout: Layout? = nil, elementType: ElementType = .f32) {
        precondition((1...Shape.maximumRank).contains(dims.count), "rank \(dims.count) is outside 1...\(Shape.maximumRank)")
        let layout = layout ?? Shape.defaultLayout(rank: dims.count)
        precondition(layout.rank == nil || layout.rank == dims.count, "layout \(layout) needs rank \(layout.rank!), got \(dims)")
        self.dims = dims
        self.layout = layout
        self.elementType = elementType
    }

    public static func defaultLayout(rank: Int) -> Layout {
        switch rank {
        case 4: .nchw
        case 3: .tokens
        default: .plain
        }
    }

    public var rank: Int { dims.count }
    public var count: Int { dims.reduce(1, *) }
    /// Bytes of one value of this shape in a backend's memory.
    public var byteCount: Int { count * elementType.byteCount }

    /// The size of `axis`; negative axes count from the end (`-1` is the last).
    public subscript(axis: Int) -> Int {
        get { dims[normalised(axis)] }
        set { dims[normalised(axis)] = newValue }
    }

    /// `axis` in `0..<rank` (negative axes count from the end); traps when out of range.
    public func normalised(_ axis: Int) -> Int {
        let a = axis < 0 ? axis + rank : axis
        precondition(a >= 0 && a < rank, "axis \(axis) is out of range for rank \(rank)")
        return a
    }

    /// Row-major element strides of `dims` (the last axis has stride 1).
    public static func rowMajorStrides(_ dims: [Int]) -> [Int] {
        var s = [Int](repeating: 1, count: dims.count)
        for i in stride(from: dims.count - 2, through: 0, by: -1) { s[i] = s[i + 1] * dims[i + 1] }
        return s
    }

    /// The same dimensions with another layout and element type.
    public func with(layout: Layout? = nil, elementType: ElementType? = nil) -> Shape {
        Shape(dims, layout: layout ?? self.layout, elementType: elementType ?? self.elementType)
    }

    // Image accessors: meaningful for rank-4 values (`nchw`); the engine's image paths only see those.
    public var n: Int {
        get { dims[0] }
        set { dims[0] = newValue }
    }
    public var c: Int {
        get { rank4("c"); return dims[1] }
        set { rank4("c"); dims[1] = newValue }
    }
    public var h: Int {
        get { rank4("h"); return dims[2] }
        set { rank4("h"); dims[2] = newValue }
    }
    public var w: Int {
        get { rank4("w"); return dims[3] }
        set { rank4("w"); dims[3] = newValue }
    }

    @inline(__always)
    private func rank4(_ axis: String) {
        precondition(dims.count == 4, "'\(axis)' of a rank-\(dims.count) shape \(self)")
    }

    public var description: String {
        let base = "[" + dims.map(String.init).joined(separator: ", ") + "]"
        var notes: [String] = []
        if layout != Shape.defaultLayout(rank: rank) { notes.append(layout.rawValue) }
        if elementType != .f32 { notes.append(elementType.rawValue) }
        return notes.isEmpty ? base : base + " " + notes.joined(separator: " ")
    }
}
