// libFuzzer target `safetensors`: the safetensors reader (`Safetensors.read`).
//
// Input: a whole `.safetensors` file. Every tensor of an accepted file is then converted to floats and to an
// engine tensor, as the model loaders do.
import SRWeights
import Foundation

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard let dict = try? Safetensors.read(Data(bytes: data, count: size)) else { return 0 }
    for (_, tensor) in dict.canonicalised() { _ = tensor.tensor() }
    return 0
}
