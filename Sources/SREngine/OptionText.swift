import Foundation

/// Text forms of option values shared by the CLI and the HTTP server, each with a message that says what is
/// accepted.
public enum OptionText {
    /// A byte count such as `512M`, `2G`, `1.5GB`, `64K` or `1000` (binary units).
    public static func bytes(_ text: String) -> Int? {
        scaled(text, units: [("GB", 1_073_741_824), ("G", 1_073_741_824), ("MB", 1_048_576), ("M", 1_048_576),
                             ("KB", 1024), ("K", 1024), ("B", 1)])
    }

    /// A count such as `16M`, `4000000` or `2.5M` (decimal units: K = 1000, M = 10⁶, G = 10⁹).
    public static func count(_ text: String) -> Int? {
        scaled(text, units: [("G", 1e9), ("M", 1e6), ("K", 1e3)])
    }

    /// A non-negative decimal number with an optional unit suffix (the first that matches, so list longer first).
    private static func scaled(_ text: String, units: [(String, Double)]) -> Int? {
        let t = text.trimmingCharacters(in: .whitespaces).uppercased()
        var number = Substring(t), multiplier = 1.0
        for (suffix, m) in units where t.hasSuffix(suffix) {
            number = t.dropLast(suffix.count)
            multiplier = m
            break
        }
        guard let value = Double(number), value >= 0, value.isFinite, value * multiplier < 9e18 else { return nil }
        return Int(value * multiplier)
    }

    public static let colourForms = "#rrggbb, r,g,b with values 0-255, white or black"

    /// An sRGB colour as `#rrggbb`, `r,g,b` (0-255 each), `white` or `black`, as fractions 0…1.
    public static func colour(_ text: String) -> (r: Float, g: Float, b: Float)? {
        let t = text.trimmingCharacters(in: .whitespaces).lowercased()
        var parts: [Int] = []
        if t == "white" {
            parts = [255, 255, 255]
        } else if t == "black" {
            parts = [0, 0, 0]
        } else if t.hasPrefix("#"), t.count == 7, let v = Int(t.dropFirst(), radix: 16) {
            parts = [(v >> 16) & 255, (v >> 8) & 255, v & 255]
        } else {
            parts = t.split(separator: ",", omittingEmptySubsequences: false)
                .compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
            guard parts.count == 3, t.split(separator: ",", omittingEmptySubsequences: false).count == 3 else { return nil }
        }
        guard parts.count == 3, parts.allSatisfy({ (0...255).contains($0) }) else { return nil }
        return (Float(parts[0]) / 255, Float(parts[1]) / 255, Float(parts[2]) / 255)
    }

    /// `true`/`false` in the spellings forms and query strings use (`1`, `yes`, `on`, …).
    public static func bool(_ text: String) -> Bool? {
        switch text.trimmingCharacters(in: .whitespaces).lowercased() {
        case "1", "true", "yes", "on": true
        case "0", "false", "no", "off", "": false
        default: nil
        }
    }
}
