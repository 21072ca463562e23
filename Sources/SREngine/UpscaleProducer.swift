import SRCore
public import SRImageIO

/// The rows of an upscale, computed band by band as an encoder asks for them: only the bands not yet written
/// are held (as floats), never the whole output.
final class UpscaleProducer: RowProducer {
    let width: Int
    let height: Int
    let bands: Int
    let depth: Int
    let iccProfile: [UInt8]?
    let exif: [UInt8]?
    let xmp: [UInt8]?

    private let gray: Bool
    private let colorRows: TiledRun.Rows
    private let alphaRows: TiledRun.Rows?
    private let engine: Engine
    /// Called with the finished fraction of the output after each band.
    var progress: (@Sendable (Double) -> Void)?
    /// Finished bands not yet fully written: first row, colour planes (1 or 3), alpha plane.
    private var pending: [(first: Int, color: Tensor, alpha: Tensor?)] = []
    private var produced = 0

    init(image: Image, scale: Int, colorRows: @escaping TiledRun.Rows, alphaRows: TiledRun.Rows?, engine: Engine) {
        width = image.width * scale
        height = image.height * scale
        bands = image.channels
        depth = image.bitDepth
        iccProfile = image.iccProfile
        exif = image.exif
        xmp = image.xmp
        gray = image.colorChannels == 1
        self.colorRows = colorRows
        self.alphaRows = alphaRows
        self.engine = engine
    }

    func produce(firstRow: Int, count: Int, depth: Int, background: (r: Float, g: Float, b: Float)?,
                 into buffer: UnsafeMutableRawPointer) throws {
        pending.removeAll { $0.first + $0.color.shape.h <= firstRow }
        guard let start = pending.first?.first ?? (produced <= firstRow ? produced : nil), start <= firstRow else {
            throw EngineError.backend("the encoder asked for rows \(firstRow)... after they were released")
        }
        while produced < firstRow + count {
            let next: (Int, Tensor, Tensor?)? = try engine.runLock.withLock { _ in
                guard let (first, color) = try colorRows() else { return nil }
                let alpha = try alphaRows.map { rows -> Tensor in
                    guard let (alphaFirst, a) = try rows(), alphaFirst == first, a.shape.h == color.shape.h else {
                        throw EngineError.backend("colour and alpha bands went out of step at row \(first)")
                    }
                    return a
                }
                return (first, gray ? Engine.luma(color) : color, alpha)
            }
            guard let (first, color, alpha) = next else {
                throw EngineError.backend("the upscaler ended at row \(produced) of \(height)")
            }
            pending.append((first, color, alpha))
            produced = first + color.shape.h
            progress?(Double(produced) / Double(height))
        }
        write(firstRow: firstRow, count: count, depth: depth, background: background, into: buffer)
    }

    private func write(firstRow: Int, count: Int, depth: Int, background: (r: Float, g: Float, b: Float)?,
                       into buffer: UnsafeMutableRawPointer) {
        let colours = gray ? 1 : 3
        let hasAlpha = alphaRows != nil
        let outBands = hasAlpha && background == nil ? colours + 1 : colours
        let maxValue: Float = depth == 16 ? 65535 : 255
        let bg = background.map { ImageIO.backgroundPlanes($0, colours: colours) } ?? []
        var row = firstRow
        for band in pending where row < firstRow + count {
            let bandEnd = band.first + band.color.shape.h
            guard bandEnd > row else { continue }
            let plane = band.color.shape.h * width
            band.color.data.withUnsafeBufferPointer { c in
                for y in row..<min(bandEnd, firstRow + count) {
                    let local = (y - band.first) * width
                    let out = (y - firstRow) * width * outBands
                    for x in 0..<width {
                        let a = band.alpha.map { min(max($0.data[local + x], 0), 1) } ?? 1
                        for ch in 0..<colours {
                            var v = min(max(c[ch * plane + local + x], 0), 1)
                            if background != nil && hasAlpha { v = a * v + (1 - a) * bg[ch] }
                            store(v * maxValue + 0.5, depth, buffer, out + x * outBands + ch)
                        }
                        if outBands > colours { store(a * maxValue + 0.5, depth, buffer, out + x * outBands + colours) }
                    }
                    row = y + 1
                }
            }
        }
    }

    @inline(__always)
    private func store(_ v: Float, _ depth: Int, _ buffer: UnsafeMutableRawPointer, _ index: Int) {
        if depth == 8 {
            buffer.storeBytes(of: UInt8(min(max(v, 0), 255)), toByteOffset: index, as: UInt8.self)
        } else {
            buffer.storeBytes(of: UInt16(min(max(v, 0), 65535)), toByteOffset: index * 2, as: UInt16.self)
        }
    }
}
