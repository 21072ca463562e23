/// The size of an upscaled image, as the user asks for it: the one grammar shared by the CLI (`--scale`, `--width`,
/// `--height`, `--long-side`), the HTTP server (`scale=` …) and the library.
///
/// The model always runs at its native scale; a quality resampler then reaches the exact size this resolves to
/// (downscaling included).
///
/// ## Text forms (`init(parsing:)`, `description`)
///
/// | text                        | value                          | 640x480 input, x4 model |
/// |-----------------------------|--------------------------------|-------------------------|
/// | `native`                    | `.native`                      | 2560x1920               |
/// | `4`, `2.5`, `x3`, `3x`      | `.factor(4)`, …                | `2.5` → 1600x1200       |
/// | `1920:1080`                 | `.exact(width:height:)`        | 1920x1080               |
/// | `1920:0`, `1920:-1`         | `.width(1920)`                 | 1920x1440               |
/// | `0:1080`, `-1:1080`         | `.height(1080)`                | 1440x1080               |
/// | `1921:-2`                   | `.widthMultiple(1921, of: 2)`  | 1921x1440               |
/// | `-2:1081`                   | `.heightMultiple(1081, of: 2)` | 1442x1081               |
/// | `long:1000`                 | `.longSide(1000)`              | 1000x750                |
///
/// Keywords and the `x` of a factor are case-insensitive; surrounding whitespace is ignored. A factor is a decimal
/// number (`2`, `2.5`, `.5`, `1e-2`) above 0 and at most 16. In `W:H` each side is a whole number: a positive value is
/// that many pixels, `0` or `-1` keeps the aspect ratio (unlike FFmpeg, where `0` means "the input's size"), `-n`
/// keeps the aspect ratio rounded to the nearest multiple of `n`. At least one side must be a pixel count.
///
/// ## Rounding (`resolve`)
///
/// All of it is exact integer arithmetic; "round" is round half up.
/// - factor: each side is `round(in × factor)`, at least 1, where the factor is the decimal number its canonical
///   text shows (so 50 × `0.29` = 14.5 → 15, where binary floating point gives 14.499999999999998 → 14).
/// - one side given (`W:0`, `--width`, `long:`): the other side is `round(in_other × target / in_side)`, at least 1.
/// - `-n`: that value rounded to the nearest multiple of `n` (ties up), at least `n`.
/// - `long:L`: the longer input side becomes `L` (the width for a square input), the other side keeps the aspect.
/// - both sides given: exactly that size, aspect ratio ignored.
public enum OutputSize: Sendable, Equatable {
    /// The model's native scale (no resampling).
    case native
    /// Both sides multiplied by the factor; valid factors are above 0 and at most `maxFactor`.
    case factor(Double)
    /// Exactly this size, whatever the input's aspect ratio.
    case exact(width: Int, height: Int)
    /// This width; the height keeps the input's aspect ratio.
    case width(Int)
    /// This height; the width keeps the input's aspect ratio.
    case height(Int)
    /// This width; the height keeps the aspect ratio, rounded to the nearest multiple of `of` (`W:-n`).
    /// A multiple of 1 means the same as `.width` and compares equal to it.
    case widthMultiple(Int, of: Int)
    /// This height; the width keeps the aspect ratio, rounded to the nearest multiple of `of` (`-n:H`).
    /// A multiple of 1 means the same as `.height` and compares equal to it.
    case heightMultiple(Int, of: Int)
    /// The longer side of the input becomes this many pixels; the other keeps the aspect ratio.
    case longSide(Int)

    /// The largest scale factor accepted: beyond it, ask for a size in pixels.
    public static let maxFactor: Double = 16
    /// The default limit on output pixels (250 megapixels): `resolve` refuses anything larger.
    public static let defaultMaxPixels = 1_000_000_000 / 4

    /// Parses the text forms in the table above (CLI `--scale`, HTTP `scale=`).
    public init(parsing text: String) throws(OutputSizeError) {
        let t = Self.trimmed(text)
        if t.isEmpty { throw .empty }
        let lower = t.lowercased()
        if lower == "native" { self = .native; return }

        if t.contains(":") {
            let parts = t.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false).map { Self.trimmed(String($0)) }
            guard parts.count == 2 else { throw .malformed(text) }
            if parts[0].lowercased() == "long" {
                guard let l = Self.integer(parts[1]), l >= 1 else { throw .badSide(text, side: .longSide) }
                self = .longSide(l); return
            }
            guard let w = Self.integer(parts[0]) else { throw .badSide(text, side: .width) }
            guard let h = Self.integer(parts[1]) else { throw .badSide(text, side: .height) }
            self = try Self.sides(w, h, text: text)
            return
        }

        // A factor: a decimal number with at most one `x` before or after it.
        var number = Substring(lower)
        if number.hasPrefix("x") { number = number.dropFirst() } else if number.hasSuffix("x") { number = number.dropLast() }
        let n = String(number)
        guard Self.isDecimal(n), let f = Double(n) else {
            if let f = Double(n), !f.isFinite { throw .badFactor(text) }   // nan, inf
            throw .malformed(text)
        }
        guard Self.isValidFactor(f) else { throw .badFactor(text) }
        self = .factor(f)
    }

    /// Combines separate options (CLI `--scale` / `--width` / `--height` / `--long-side`, the HTTP query parameters of
    /// the same names) into one size; `nil` means "not given", and nothing given means `.native`.
    ///
    /// `width` and `height` together mean the text `W:H`, so `--width 1920 --height -2` is `1920:-2`; alone, each must be
    /// at least 1. Giving more than one of `scale`, `width`/`height` and `longSide` is an error.
    public init(scale: String? = nil, width: Int? = nil, height: Int? = nil, longSide: Int? = nil) throws(OutputSizeError) {
        var given: [String] = []
        if let scale { given.append("scale \(scale)") }
        if let width { given.append("width \(width)") }
        if let height { given.append("height \(height)") }
        if let longSide { given.append("long side \(longSide)") }
        let kinds = (scale != nil ? 1 : 0) + (width != nil || height != nil ? 1 : 0) + (longSide != nil ? 1 : 0)
        if kinds > 1 { throw .conflictingOptions(given) }

        if let scale { self = try OutputSize(parsing: scale); return }
        if let longSide {
            guard longSide >= 1 else { throw .badSide("\(longSide)", side: .longSide) }
            self = .longSide(longSide); return
        }
        switch (width, height) {
        case let (w?, h?): self = try Self.sides(w, h, text: "\(w):\(h)")
        case let (w?, nil):
            guard w >= 1 else { throw .badSide("\(w)", side: .width) }
            self = .width(w)
        case let (nil, h?):
            guard h >= 1 else { throw .badSide("\(h)", side: .height) }
            self = .height(h)
        case (nil, nil): self = .native
        }
    }

    /// Resolves to an exact pixel size for an input of `inputWidth` x `inputHeight` and a model of scale `nativeScale`,
    /// with the rounding rules in the type's documentation.
    ///
    /// - Throws: `.tooLarge` when the result has more than `maxPixels` pixels; `.invalidInput` / `.invalidNativeScale`
    ///   for sizes below 1; `.badFactor` / `.badSide` for a value built directly with out-of-range numbers.
    public func resolve(inputWidth: Int, inputHeight: Int, nativeScale: Int,
                        maxPixels: Int = OutputSize.defaultMaxPixels) throws(OutputSizeError) -> (width: Int, height: Int) {
        guard inputWidth >= 1, inputHeight >= 1 else { throw .invalidInput(width: inputWidth, height: inputHeight) }
        guard nativeScale >= 1 else { throw .invalidNativeScale(nativeScale) }
        let text = description
        let w: Int?, h: Int?
        switch self {
        case .native:
            w = Self.product(inputWidth, nativeScale)
            h = Self.product(inputHeight, nativeScale)
        case .factor(let f):
            guard Self.isValidFactor(f) else { throw .badFactor(text) }
            w = Self.scaled(inputWidth, by: f)
            h = Self.scaled(inputHeight, by: f)
        case .exact(let ew, let eh):
            guard ew >= 1 else { throw .badSide(text, side: .width) }
            guard eh >= 1 else { throw .badSide(text, side: .height) }
            (w, h) = (ew, eh)
        case .width(let tw), .widthMultiple(let tw, of: _):
            var m = 1
            if case .widthMultiple(_, let n) = self { m = n }
            guard tw >= 1 else { throw .badSide(text, side: .width) }
            guard m >= 1 else { throw .badSide(text, side: .height) }
            w = tw
            h = Self.keepAspect(other: inputHeight, target: tw, side: inputWidth, multiple: m)
        case .height(let th), .heightMultiple(let th, of: _):
            var m = 1
            if case .heightMultiple(_, let n) = self { m = n }
            guard th >= 1 else { throw .badSide(text, side: .height) }
            guard m >= 1 else { throw .badSide(text, side: .width) }
            h = th
            w = Self.keepAspect(other: inputWidth, target: th, side: inputHeight, multiple: m)
        case .longSide(let l):
            guard l >= 1 else { throw .badSide(text, side: .longSide) }
            if inputWidth >= inputHeight {
                w = l
                h = Self.keepAspect(other: inputHeight, target: l, side: inputWidth, multiple: 1)
            } else {
                h = l
                w = Self.keepAspect(other: inputWidth, target: l, side: inputHeight, multiple: 1)
            }
        }
        guard let w, let h, let pixels = Self.product(w, h), pixels <= maxPixels else {
            throw .tooLarge(width: w ?? Int.max, height: h ?? Int.max, maxPixels: maxPixels)
        }
        return (w, h)
    }

    public static func == (a: OutputSize, b: OutputSize) -> Bool {
        switch (a.canonical, b.canonical) {
        case (.native, .native): true
        case let (.factor(x), .factor(y)): x == y
        case let (.exact(w1, h1), .exact(w2, h2)): w1 == w2 && h1 == h2
        case let (.width(x), .width(y)), let (.height(x), .height(y)), let (.longSide(x), .longSide(y)): x == y
        case let (.widthMultiple(x, n1), .widthMultiple(y, n2)), let (.heightMultiple(x, n1), .heightMultiple(y, n2)):
            x == y && n1 == n2
        default: false
        }
    }

    /// Multiples of 1 written as the plain aspect-keeping cases.
    private var canonical: OutputSize {
        switch self {
        case .widthMultiple(let w, 1): .width(w)
        case .heightMultiple(let h, 1): .height(h)
        default: self
        }
    }

    // MARK: - Parsing helpers

    private static func trimmed(_ s: String) -> String {
        var t = Substring(s)
        while t.first?.isWhitespace == true { t.removeFirst() }
        while t.last?.isWhitespace == true { t.removeLast() }
        return String(t)
    }

    /// A whole number: ASCII digits with an optional leading `-`; `nil` when not one or out of `Int`'s range.
    private static func integer(_ s: String) -> Int? {
        let digits = s.hasPrefix("-") ? s.dropFirst() : Substring(s)
        guard !digits.isEmpty, digits.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
        return Int(s)
    }

    /// `[+-]? digits? (. digits?)? ([eE] [+-]? digits)?` with at least one mantissa digit: what `Double` would parse,
    /// minus hexadecimal, `nan` and `inf`. The sign is accepted so that `-2` is reported as an out-of-range factor.
    private static func isDecimal(_ s: String) -> Bool {
        var chars = Substring(s)
        if chars.first == "+" || chars.first == "-" { chars = chars.dropFirst() }
        let isDigit: (Character) -> Bool = { $0.isASCII && $0.isNumber }
        let intDigits = chars.prefix(while: isDigit)
        chars = chars.dropFirst(intDigits.count)
        var fracDigits = Substring("")
        if chars.first == "." {
            chars = chars.dropFirst()
            fracDigits = chars.prefix(while: isDigit)
            chars = chars.dropFirst(fracDigits.count)
        }
        guard !intDigits.isEmpty || !fracDigits.isEmpty else { return false }
        if chars.first == "e" || chars.first == "E" {
            chars = chars.dropFirst()
            if chars.first == "+" || chars.first == "-" { chars = chars.dropFirst() }
            let expDigits = chars.prefix(while: isDigit)
            guard !expDigits.isEmpty else { return false }
            chars = chars.dropFirst(expDigits.count)
        }
        return chars.isEmpty
    }

    private static func isValidFactor(_ f: Double) -> Bool { f > 0 && f <= maxFactor }   // false for NaN

    /// The value of `W:H` with whole numbers `w`, `h` (see the grammar); `text` names it in errors.
    private static func sides(_ w: Int, _ h: Int, text: String) throws(OutputSizeError) -> OutputSize {
        guard w != .min else { throw .badSide(text, side: .width) }    // -Int.min is not an Int
        guard h != .min else { throw .badSide(text, side: .height) }
        switch (w > 0, h > 0) {
        case (true, true): return .exact(width: w, height: h)
        case (true, false): return h >= -1 ? .width(w) : .widthMultiple(w, of: -h)
        case (false, true): return w >= -1 ? .height(h) : .heightMultiple(h, of: -w)
        case (false, false): throw .noFixedSide(text)
        }
    }

    // MARK: - Arithmetic (exact, overflow-checked; nil = beyond Int)

    private static func product(_ a: Int, _ b: Int) -> Int? {
        let (p, overflow) = a.multipliedReportingOverflow(by: b)
        return overflow ? nil : p
    }

    /// `round(num / den)`, ties up, for `num >= 0`, `den > 0`.
    private static func roundedQuotient(_ num: Int, _ den: Int) -> Int {
        let (q, r) = num.quotientAndRemainder(dividingBy: den)
        return r >= den - r ? q + 1 : q
    }

    /// `round(other × target / side)` to the nearest multiple of `multiple` (ties up), at least `multiple`.
    private static func keepAspect(other: Int, target: Int, side: Int, multiple: Int) -> Int? {
        guard let num = product(other, target) else { return nil }
        // A denominator beyond Int means a quotient below 1: the result is the minimum, `multiple`.
        guard let den = product(side, multiple) else { return multiple }
        return product(max(1, roundedQuotient(num, den)), multiple)
    }

    /// `round(n × f)`, ties up, at least 1, with `f` taken as the decimal number of its shortest text (`2.5` is 25/10).
    private static func scaled(_ n: Int, by f: Double) -> Int? {
        guard let (mantissa, scale) = decimalParts(f), scale >= 0, scale <= 19 else {
            // Only factors with more than 19 decimal places (below ~1e-3 with many digits) come here.
            let x = (Double(n) * f + 0.5).rounded(.down)
            return x < 9.2e18 ? max(1, Int(x)) : nil
        }
        var pow10: UInt64 = 1
        for _ in 0..<scale { pow10 *= 10 }
        let wide = UInt64(n).multipliedFullWidth(by: mantissa)
        guard wide.high < pow10 else { return nil }   // the quotient would not fit in 64 bits
        var (q, r) = pow10.dividingFullWidth(wide)
        if r >= pow10 - r {
            guard q < UInt64.max else { return nil }
            q += 1
        }
        return q <= UInt64(Int.max) ? max(1, Int(q)) : nil
    }

    /// `f == mantissa / 10^scale` from Swift's shortest round-trip text of `f` (`"2.5"`, `"16.0"`, `"1e-05"`).
    private static func decimalParts(_ f: Double) -> (mantissa: UInt64, scale: Int)? {
        let parts = f.description.split(separator: "e", omittingEmptySubsequences: false)
        guard parts.count <= 2, let digitsPart = parts.first else { return nil }
        let exponent = parts.count == 2 ? Int(parts[1]) : 0
        let pieces = digitsPart.split(separator: ".", omittingEmptySubsequences: false)
        guard let exponent, pieces.count <= 2,
              let mantissa = UInt64(pieces.joined()) else { return nil }
        let fraction = pieces.count == 2 ? pieces[1].count : 0
        return (mantissa, fraction - exponent)
    }
}

extension OutputSize: CustomStringConvertible {
    /// The canonical text, which parses back to an equal value: `native`, `2.5`, `4`, `1920:1080`, `1920:-1`,
    /// `-1:1080`, `1920:-2`, `-2:1080`, `long:2048`.
    public var description: String {
        switch canonical {
        case .native: "native"
        case .factor(let f):
            f.isFinite && f == f.rounded() && abs(f) < 1e15 ? String(Int(f)) : f.description
        case .exact(let w, let h): "\(w):\(h)"
        case .width(let w): "\(w):-1"
        case .height(let h): "-1:\(h)"
        case .widthMultiple(let w, let n): "\(w):-\(n)"
        case .heightMultiple(let h, let n): "-\(n):\(h)"
        case .longSide(let l): "long:\(l)"
        }
    }
}

/// Errors of `OutputSize`, each naming the bad text and saying what is valid.
public enum OutputSizeError: Error, Equatable, CustomStringConvertible {
    /// Which number of a size is wrong.
    public enum Side: String, Sendable {
        case width, height
        case longSide = "long side"
    }

    /// Nothing given.
    case empty
    /// The text is none of the forms.
    case malformed(String)
    /// A factor that is not a number above 0 and at most 16 (`0`, `-2`, `17`, `nan`, `inf`).
    case badFactor(String)
    /// A side that is not a whole number of pixels, or out of range (`1.5:100`, `long:0`).
    case badSide(String, side: Side)
    /// `W:H` where neither side is a pixel count (`0:0`, `-1:-1`, `0:-2`).
    case noFixedSide(String)
    /// More than one kind of option given at once (e.g. a scale and a width).
    case conflictingOptions([String])
    /// The result has more than `maxPixels` pixels (`Int.max` stands for a side beyond `Int`).
    case tooLarge(width: Int, height: Int, maxPixels: Int)
    /// An input image size below 1x1.
    case invalidInput(width: Int, height: Int)
    /// A model scale below 1.
    case invalidNativeScale(Int)

    /// The forms, for messages.
    public static let validForms = "a factor above 0 and at most 16 (4, 2.5, x3, 3x), 'native', "
        + "W:H in pixels (1920:1080), one side with the aspect ratio kept (1920:0, 0:1080, 1920:-1), "
        + "kept and rounded to a multiple of n (1920:-2), or the long side (long:2048)"

    public var description: String {
        switch self {
        case .empty:
            return "empty output size; valid forms: \(Self.validForms)"
        case .malformed(let t):
            var hint = ""
            let parts = t.lowercased().split(separator: "x", omittingEmptySubsequences: false)
            if parts.count == 2, parts.allSatisfy({ !$0.isEmpty && $0.allSatisfy(\.isNumber) }) {
                hint = " (for a size in pixels write \(parts[0]):\(parts[1]))"
            }
            return "'\(t)' is not an output size\(hint); valid forms: \(Self.validForms)"
        case .badFactor(let t):
            return "scale factor '\(t)' is out of range: it must be a number above 0 and at most 16 (e.g. 2, 2.5, x4); "
                + "for a larger output give its size in pixels (1920:1080, 4096:0, long:8192)"
        case .badSide(let t, .longSide):
            return "long side in '\(t)' must be a whole number of pixels, at least 1 (e.g. long:2048)"
        case .badSide(let t, let side):
            return "\(side.rawValue) in '\(t)' must be a whole number of pixels (at least 1), or on one side only 0 or -1 "
                + "to keep the aspect ratio, or -n to keep it rounded to a multiple of n (e.g. 1920:1080, 1920:0, 1920:-2)"
        case .noFixedSide(let t):
            return "'\(t)' gives neither side in pixels; give at least one (e.g. 1920:0 or 0:1080), or a factor (e.g. 2)"
        case .conflictingOptions(let given):
            return "conflicting output sizes (\(given.joined(separator: ", "))); give only one of: a scale, "
                + "a width and/or height, a long side"
        case .tooLarge(let w, let h, let maxPixels):
            let (pixels, overflow) = w.multipliedReportingOverflow(by: h)
            let size = w == Int.max || h == Int.max || overflow ? "an output beyond any size" : "output \(w)x\(h) (\(pixels) pixels)"
            return "\(size) exceeds the limit of \(maxPixels) pixels; ask for a smaller scale or size"
        case .invalidInput(let w, let h):
            return "input size \(w)x\(h) is not an image size: both sides must be at least 1 pixel"
        case .invalidNativeScale(let s):
            return "model scale \(s) is invalid: it must be at least 1 (check the model's manifest entry or .param file)"
        }
    }
}
