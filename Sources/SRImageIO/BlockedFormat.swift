/// Recognises, by their first bytes, the formats that libvips could read but the untrusted-input policy blocks, so
/// the error names the format instead of "not an image".
enum BlockedFormat {
    /// The format's name, or nil when `head` is none of them.
    static func name(sniffing head: [UInt8]) -> String? {
        func starts(_ magic: [UInt8], at offset: Int = 0) -> Bool {
            head.count >= offset + magic.count && head[offset..<(offset + magic.count)].elementsEqual(magic)
        }
        func text(_ s: String, at offset: Int = 0) -> Bool { starts(Array(s.utf8), at: offset) }
        if text("%PDF") { return "PDF" }
        if text("%!") { return "PostScript" }
        if starts([0xC5, 0xD0, 0xD3, 0xC6]) { return "EPS" }
        if text("BM") && head.count >= 14 { return "BMP" }
        if text("8BPS") { return "Photoshop PSD" }
        if starts([0x00, 0x00, 0x00, 0x0C, 0x6A, 0x50, 0x20, 0x20]) || starts([0xFF, 0x4F, 0xFF, 0x51]) { return "JPEG 2000" }
        if starts([0xFF, 0x0A]) || starts([0x00, 0x00, 0x00, 0x0C, 0x4A, 0x58, 0x4C, 0x20]) { return "JPEG XL" }
        if starts([0x76, 0x2F, 0x31, 0x01]) { return "OpenEXR" }
        if text("SIMPLE  =") { return "FITS" }
        if text("#?RADIANCE") || text("#?RGBE") { return "Radiance HDR" }
        if starts([0x08, 0xF2, 0xA6, 0xB6]) || starts([0xB6, 0xA6, 0xF2, 0x08]) { return "libvips .v" }
        if text("MATLAB") { return "MATLAB" }
        if text("gimp xcf") { return "GIMP XCF" }
        if starts([0x00, 0x00, 0x01, 0x00]) { return "ICO" }
        if text("DICM", at: 128) { return "DICOM" }
        if head.count >= 3, head[0] == UInt8(ascii: "P"), "1234567Ff".utf8.contains(head[1]),
           [0x0A, 0x0D, 0x20, 0x09].contains(head[2]) {
            return "PNM"
        }
        // SVG (and other XML): skip a BOM and leading whitespace, then look for an <svg element near the start.
        var body = head[...]
        if body.starts(with: [0xEF, 0xBB, 0xBF]) { body = body.dropFirst(3) }
        while let c = body.first, [0x20, 0x09, 0x0A, 0x0D].contains(c) { body = body.dropFirst() }
        if body.first == UInt8(ascii: "<") {
            let lower = String(decoding: body.prefix(512), as: UTF8.self).lowercased()
            if lower.contains("<svg") || lower.hasPrefix("<?xml") || lower.hasPrefix("<!doctype svg") { return "SVG" }
        }
        if head.count >= 2, head[0] == 0x1F, head[1] == 0x8B { return "gzip-compressed (SVGZ?)" }
        return nil
    }
}
