import SRBackendDNNL
import SRImageIO

/// Enhance's version: `number` is the one place it is set (bump it when releasing); `enhance --version` prints
/// `line`.
public enum EnhanceVersion {
    /// The version of this program.
    public static let number = "0.2.0"

    /// "enhance 0.2.0 (oneDNN 2.6.3, libvips 8.14.1, Swift 6.3)": the program's version, the versions of the oneDNN
    /// and libvips libraries loaded at run time (asked from the libraries, not their headers), and the Swift
    /// compiler the binary was built with.
    public static var line: String {
        "enhance \(number) (oneDNN \(DNNLBackend.libraryVersion), libvips \(ImageIO.libvipsVersion), Swift \(swiftCompiler))"
    }

    /// The Swift compiler (major.minor) that built this binary.
    static var swiftCompiler: String {
        #if compiler(>=6.6)
        return "6.6 or later"
        #elseif compiler(>=6.5)
        return "6.5"
        #elseif compiler(>=6.4)
        return "6.4"
        #elseif compiler(>=6.3)
        return "6.3"
        #elseif compiler(>=6.2)
        return "6.2"
        #elseif compiler(>=6.1)
        return "6.1"
        #else
        return "6.0"
        #endif
    }
}
