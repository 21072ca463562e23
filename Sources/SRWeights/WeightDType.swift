/// The element type of a stored weight tensor. Raw values are the safetensors dtype names.
public enum WeightDType: String, Sendable, CaseIterable, CustomStringConvertible {
    case bool = "BOOL"
    case u8 = "U8"
    case i8 = "I8"
    case u16 = "U16"
    case i16 = "I16"
    case f16 = "F16"
    case bf16 = "BF16"
    case u32 = "U32"
    case i32 = "I32"
    case f32 = "F32"
    case u64 = "U64"
    case i64 = "I64"
    case f64 = "F64"

    /// Bytes per element.
    public var size: Int {
        switch self {
        case .bool, .u8, .i8: 1
        case .u16, .i16, .f16, .bf16: 2
        case .u32, .i32, .f32: 4
        case .u64, .i64, .f64: 8
        }
    }

    /// Whether values are floating point (the types a weight can be converted to).
    public var isFloatingPoint: Bool {
        switch self {
        case .f16, .bf16, .f32, .f64: true
        default: false
        }
    }

    public var description: String { rawValue }

    /// The PyTorch storage class that holds this type (`torch.<name>` in a pickle).
    var torchStorageName: String {
        switch self {
        case .bool: "BoolStorage"
        case .u8: "ByteStorage"
        case .i8: "CharStorage"
        case .i16: "ShortStorage"
        case .i32: "IntStorage"
        case .i64: "LongStorage"
        case .f16: "HalfStorage"
        case .bf16: "BFloat16Storage"
        case .f32: "FloatStorage"
        case .f64: "DoubleStorage"
        // PyTorch has no typed storage for these unsigned types.
        case .u16: "UInt16Storage"
        case .u32: "UInt32Storage"
        case .u64: "UInt64Storage"
        }
    }

    /// Number of elements of `shape`, or nil when a dimension is negative or the product overflows.
    static func elementCount(_ shape: [Int]) -> Int? {
        var n = 1
        for d in shape {
            guard d >= 0 else { return nil }
            let (p, overflow) = n.multipliedReportingOverflow(by: d)
            guard !overflow else { return nil }
            n = p
        }
        return n
    }
}
