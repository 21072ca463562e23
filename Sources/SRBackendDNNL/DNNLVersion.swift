internal import CDNNL

extension DNNLBackend {
    /// The version of the oneDNN library loaded at run time, e.g. "2.6.3" (`dnnl_version()`).
    public static var libraryVersion: String {
        let v = dnnl_version().pointee
        return "\(v.major).\(v.minor).\(v.patch)"
    }
}
