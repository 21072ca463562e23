// libFuzzer target `ncnn`: the ncnn `.param` text parser and `.bin` weight reader (`NCNNModel.parse`).
//
// Input layout: u32 LE n, then n bytes of `.param` text (n is clamped to what is left), then the `.bin` bytes.
// Inputs shorter than 4 bytes are all `.param` text with an empty `.bin`.
// A parsed model's shapes are then inferred for 1-4 x 8 x 8 inputs (SRCore's shape rules), as the engine does on load.
// Built by scripts/fuzz.sh with the SRWeights and SRCore modules; any trap is a finding, thrown errors are not.
import SRCore
import SRWeights

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = UnsafeBufferPointer(start: data, count: size)
    var paramBytes = bytes[...], bin: [UInt8] = []
    if size >= 4 {
        let n = Int(bytes[0]) | Int(bytes[1]) << 8 | Int(bytes[2]) << 16 | Int(bytes[3]) << 24
        let end = 4 + min(n, size - 4)
        paramBytes = bytes[4..<end]
        bin = Array(bytes[end...])
    }
    let param = String(decoding: paramBytes, as: UTF8.self)
    guard let model = try? NCNNModel.parse(param: param, bin: bin) else { return 0 }
    // What the engine does next with a loaded model: infer the shapes for an input (c x 8 x 8; seeds use 2 or 4).
    for c in 1...4 { _ = try? model.graph.inferShapes(inputs: [Shape(c: c, h: 8, w: 8)]) }
    return 0
}
