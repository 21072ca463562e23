public import Foundation
public import SRCore

/// One stored tensor: element type, shape and its contiguous row-major little-endian bytes.
///
/// `bytes` may be a slice of a memory-mapped file (index it from `bytes.startIndex`); the file stays mapped while
/// any tensor read from it is alive, and must not be truncated meanwhile.
public struct WeightTensor: Sendable, Equatable {
    public let dtype: WeightDType
    public let shape: [Int]
    public let bytes: Data

    /// A tensor over `bytes`, which must hold exactly `shape.product * dtype.size` bytes.
    public init(dtype: WeightDType, shape: [Int], bytes: Data) {
        let count = WeightDType.elementCount(shape)
        precondition(count.map { $0 * dtype.size == bytes.count } ?? false,
                     "WeightTensor: \(bytes.count) bytes do not hold a \(dtype) tensor of shape \(shape)")
        self.dtype = dtype
        self.shape = shape
        self.bytes = bytes
    }

    /// `values` stored as `dtype` (a floating-point type; f16 and bf16 round to nearest even).
    public init(shape: [Int], floats values: [Float], dtype: WeightDType = .f32) {
        precondition(dtype.isFloatingPoint, "WeightTensor(floats:) needs a floating-point dtype, not \(dtype)")
        var out = Data(count: values.count * dtype.size)
        out.withUnsafeMutableBytes { raw in
            for (i, v) in values.enumerated() {
                switch dtype {
                case .f32: raw.storeBytes(of: v.bitPattern.littleEndian, toByteOffset: i * 4, as: UInt32.self)
                case .f16: raw.storeBytes(of: Float16(v).bitPattern.littleEndian, toByteOffset: i * 2, as: UInt16.self)
                case .bf16: raw.storeBytes(of: Self.bfloat16Bits(v).littleEndian, toByteOffset: i * 2, as: UInt16.self)
                default: raw.storeBytes(of: Double(v).bitPattern.littleEndian, toByteOffset: i * 8, as: UInt64.self)
                }
            }
        }
        self.init(dtype: dtype, shape: shape, bytes: out)
    }

    /// An f32 copy of an engine tensor.
    public init(_ tensor: Tensor) {
        self.init(shape: tensor.dims, floats: tensor.data)
    }

    /// Number of elements.
    public var count: Int { bytes.count / dtype.size }

    /// The values as Float: f16/bf16/f64 convert exactly or round, integers convert, bool gives 0 or 1.
    public func floats() -> [Float] {
        let n = count
        return bytes.withUnsafeBytes { raw -> [Float] in
            func load<T: FixedWidthInteger>(_ i: Int, _: T.Type) -> T {
                T(littleEndian: raw.loadUnaligned(fromByteOffset: i * MemoryLayout<T>.size, as: T.self))
            }
            switch dtype {
            case .f32:
                #if _endian(little)
                return [Float](unsafeUninitializedCapacity: n) { out, initialized in
                    UnsafeMutableRawBufferPointer(out).copyMemory(from: raw)
                    initialized = n
                }
                #else
                return (0..<n).map { Float(bitPattern: load($0, UInt32.self)) }
                #endif
            case .f16: return (0..<n).map { Float(Float16(bitPattern: load($0, UInt16.self))) }
            case .bf16: return (0..<n).map { Float(bitPattern: UInt32(load($0, UInt16.self)) << 16) }
            case .f64: return (0..<n).map { Float(Double(bitPattern: load($0, UInt64.self))) }
            case .bool: return (0..<n).map { load($0, UInt8.self) != 0 ? 1 : 0 }
            case .u8: return (0..<n).map { Float(load($0, UInt8.self)) }
            case .i8: return (0..<n).map { Float(load($0, Int8.self)) }
            case .u16: return (0..<n).map { Float(load($0, UInt16.self)) }
            case .i16: return (0..<n).map { Float(load($0, Int16.self)) }
            case .u32: return (0..<n).map { Float(load($0, UInt32.self)) }
            case .i32: return (0..<n).map { Float(load($0, Int32.self)) }
            case .u64: return (0..<n).map { Float(load($0, UInt64.self)) }
            case .i64: return (0..<n).map { Float(load($0, Int64.self)) }
            }
        }
    }

    /// The values as an engine tensor with the same dims (a 0-d tensor has dims `[]` and one value).
    public func tensor() -> Tensor {
        Tensor(dims: shape, data: floats())
    }

    /// The same values stored as the floating-point type `dtype` (self when it already is).
    public func converted(to dtype: WeightDType) -> WeightTensor {
        dtype == self.dtype ? self : WeightTensor(shape: shape, floats: floats(), dtype: dtype)
    }

    /// bfloat16 bits of `v`, rounded to nearest even; NaN stays a quiet NaN.
    static func bfloat16Bits(_ v: Float) -> UInt16 {
        let bits = v.bitPattern
        if v.isNaN { return UInt16(bits >> 16) | 0x0040 }
        let rounded = bits &+ 0x7FFF &+ ((bits >> 16) & 1)
        return UInt16(rounded >> 16)
    }
}
