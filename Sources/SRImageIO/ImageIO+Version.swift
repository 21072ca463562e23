import VipsShim

extension ImageIO {
    /// The version of the libvips library loaded at run time, e.g. "8.14.1" (`vips_version_string()`).
    public static var libvipsVersion: String { String(cString: enh_vips_version()) }
}
