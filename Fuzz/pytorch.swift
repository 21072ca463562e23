// libFuzzer target `pytorch`: the restricted unpickler and stored-zip reader behind `.pth` checkpoints.
//
// Input: a whole `.pth` file. Like `PyTorchCheckpoint.load`, `PK` at the start selects the zip format
// (`StoredZip` + `data.pkl`), anything else the legacy format (pickles back to back). Every tensor of an accepted
// checkpoint is then converted to floats and to an engine tensor, as the model loaders do.
import SRWeights
import Foundation

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let file = Data(bytes: data, count: size)
    let dict: StateDict
    do {
        dict = file.starts(with: [0x50, 0x4B]) ? try PyTorchCheckpoint.read(zip: file)
                                                : try PyTorchCheckpoint.read(legacy: file)
    } catch { return 0 }
    for (_, tensor) in dict.canonicalised().splittingDottedNames() { _ = tensor.tensor() }
    return 0
}
