// libFuzzer target `outputsize`: the output-size grammar `OutputSize(parsing:)`, the option combiner
// `OutputSize(scale:width:height:longSide:)` and `resolve(inputWidth:inputHeight:nativeScale:maxPixels:)`.
//
// Input layout: the size text up to the first '\n'; then one selector byte and up to six Int64 LE values:
// input width, input height, native scale, max pixels, a, b (missing values: 640, 480, 4, the default limit, 0, 0).
// `a`/`b` also build an `OutputSize` directly (case chosen by the selector; `a`'s bits are the factor), since
// library users can make values the grammar never yields. Checks beyond "never trap": a parsed value's
// `description` parses back to an equal value, and a resolved size is at least 1x1 and within max pixels.
// Built by scripts/fuzz.sh in one module with Sources/SREngine/OutputSize.swift (it imports nothing).

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = UnsafeBufferPointer(start: data, count: size)
    let newline = bytes.firstIndex(of: UInt8(ascii: "\n")) ?? bytes.endIndex
    let text = String(decoding: bytes[..<newline], as: UTF8.self)
    var tail = bytes[newline...].dropFirst()
    let selector = tail.popFirst() ?? 0
    var values = [640, 480, 4, OutputSize.defaultMaxPixels, 0, 0]
    for i in values.indices where tail.count >= 8 {
        values[i] = Int(tail.prefix(8).reversed().reduce(Int64(0)) { $0 << 8 | Int64($1) })
        tail = tail.dropFirst(8)
    }
    let (width, height, scale, maxPixels, a, b) = (values[0], values[1], values[2], values[3], values[4], values[5])

    func exercise(_ size: OutputSize) {
        do {
            let out = try size.resolve(inputWidth: width, inputHeight: height, nativeScale: scale, maxPixels: maxPixels)
            let (pixels, overflow) = out.width.multipliedReportingOverflow(by: out.height)
            guard out.width >= 1, out.height >= 1, !overflow, pixels <= maxPixels else {
                fatalError("\(size) resolved \(width)x\(height) x\(scale) to \(out.width)x\(out.height) (max \(maxPixels))")
            }
        } catch { _ = error.description }
    }

    do {
        let parsed = try OutputSize(parsing: text)
        let again: OutputSize
        do { again = try OutputSize(parsing: parsed.description) } catch {
            fatalError("'\(text)' parsed to \(parsed), whose description does not parse: \(error)")
        }
        guard again == parsed else { fatalError("'\(text)' parsed to \(parsed), which reparses as \(again)") }
        exercise(parsed)
    } catch { _ = error.description }

    let direct: OutputSize = switch selector % 8 {
    case 0: .native
    case 1: .factor(Double(bitPattern: UInt64(bitPattern: Int64(a))))
    case 2: .exact(width: a, height: b)
    case 3: .width(a)
    case 4: .height(a)
    case 5: .widthMultiple(a, of: b)
    case 6: .heightMultiple(a, of: b)
    default: .longSide(a)
    }
    _ = direct.description
    _ = direct == (try? OutputSize(parsing: text))
    exercise(direct)

    let given = selector >> 3
    do {
        exercise(try OutputSize(scale: given & 1 != 0 ? text : nil, width: given & 2 != 0 ? a : nil,
                                height: given & 4 != 0 ? b : nil, longSide: given & 8 != 0 ? a : nil))
    } catch { _ = error.description }
    return 0
}
