/// A float image stored plane by plane (CHW): `data[(c * height + y) * width + x]`.
///
/// Metrics and resampling work on this layout because each channel is processed on its own; values keep whatever
/// range the caller uses (the evaluation protocol uses `0...1` RGB or `0...255` luma).
public struct PlanarImage: Sendable, Equatable {
    public var channels: Int
    public var height: Int
    public var width: Int
    public var data: [Float]

    public init(channels: Int, height: Int, width: Int, data: [Float]) {
        precondition(channels > 0 && height >= 0 && width >= 0, "PlanarImage needs channels > 0 and sides >= 0")
        precondition(data.count == channels * height * width,
                     "PlanarImage data count \(data.count) does not match \(channels)x\(height)x\(width)")
        self.channels = channels
        self.height = height
        self.width = width
        self.data = data
    }

    public init(zeros channels: Int, height: Int, width: Int) {
        self.init(channels: channels, height: height, width: width,
                  data: [Float](repeating: 0, count: channels * height * width))
    }

    /// The number of values in one channel plane.
    public var planeCount: Int { height * width }

    /// The value of channel `c` at row `y`, column `x`.
    @inlinable
    public subscript(c: Int, y: Int, x: Int) -> Float {
        get { data[(c * height + y) * width + x] }
        set { data[(c * height + y) * width + x] = newValue }
    }
}
