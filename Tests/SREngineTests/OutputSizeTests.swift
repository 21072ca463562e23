import Testing
import SREngine

@Suite("OutputSize: grammar, rounding, errors")
struct OutputSizeTests {
    func size(_ text: String, _ w: Int, _ h: Int, native: Int = 4,
              maxPixels: Int = OutputSize.defaultMaxPixels) throws -> String {
        let r = try OutputSize(parsing: text).resolve(inputWidth: w, inputHeight: h, nativeScale: native, maxPixels: maxPixels)
        return "\(r.width)x\(r.height)"
    }

    // MARK: Parsing

    @Test("every text form parses to its value", arguments: [
        ("native", OutputSize.native), ("NATIVE", .native), ("  native \n", .native),
        ("4", .factor(4)), ("2.5", .factor(2.5)), ("x3", .factor(3)), ("3x", .factor(3)), ("X3", .factor(3)),
        ("3X", .factor(3)), (".5", .factor(0.5)), ("5.", .factor(5)), ("1e-2", .factor(0.01)), ("16", .factor(16)),
        ("+2", .factor(2)), (" x1.5 ", .factor(1.5)),
        ("1920:1080", .exact(width: 1920, height: 1080)), ("1920 : 1080", .exact(width: 1920, height: 1080)),
        ("1920:0", .width(1920)), ("1920:-1", .width(1920)), ("1920:-0", .width(1920)),
        ("0:1080", .height(1080)), ("-1:1080", .height(1080)),
        ("1920:-2", .widthMultiple(1920, of: 2)), ("1920:-16", .widthMultiple(1920, of: 16)),
        ("-2:1080", .heightMultiple(1080, of: 2)), ("-8:1080", .heightMultiple(1080, of: 8)),
        ("long:2048", .longSide(2048)), ("LONG:2048", .longSide(2048)), ("long: 2048", .longSide(2048)),
    ])
    func parses(text: String, expected: OutputSize) throws {
        #expect(try OutputSize(parsing: text) == expected)
    }

    @Test("canonical text of each case", arguments: [
        (OutputSize.native, "native"), (.factor(4), "4"), (.factor(2.5), "2.5"), (.factor(0.01), "0.01"),
        (.factor(1e-5), "1e-05"), (.exact(width: 1920, height: 1080), "1920:1080"), (.width(1920), "1920:-1"),
        (.height(1080), "-1:1080"), (.widthMultiple(1920, of: 2), "1920:-2"), (.heightMultiple(1080, of: 4), "-4:1080"),
        (.widthMultiple(1920, of: 1), "1920:-1"), (.longSide(2048), "long:2048"),
    ])
    func canonicalText(value: OutputSize, text: String) throws {
        #expect(value.description == text)
        #expect(try OutputSize(parsing: text) == value)
    }

    @Test("a multiple of 1 is the plain aspect-keeping case")
    func multipleOfOne() {
        #expect(OutputSize.widthMultiple(7, of: 1) == .width(7))
        #expect(OutputSize.heightMultiple(7, of: 1) == .height(7))
        #expect(OutputSize.widthMultiple(7, of: 2) != .width(7))
        #expect(OutputSize.width(7) != .height(7))
        #expect(OutputSize.factor(4) != .native)
    }

    // MARK: Resolving

    @Test("640x480 input: the examples of the issue", arguments: [
        ("2.5", "1600x1200"), ("1920:0", "1920x1440"), ("1921:-2", "1921x1440"), ("0:1080", "1440x1080"),
        ("long:1000", "1000x750"), ("x4", "2560x1920"), ("native", "2560x1920"), ("1920:1080", "1920x1080"),
        ("-2:1081", "1442x1081"), ("0.5", "320x240"), ("1", "640x480"),
    ])
    func issueExamples(text: String, expected: String) throws {
        #expect(try size(text, 640, 480, native: 4) == expected)
    }

    @Test("native follows the model's scale")
    func native() throws {
        #expect(try size("native", 49, 38, native: 2) == "98x76")
        #expect(try size("native", 49, 38, native: 3) == "147x114")
    }

    @Test("factor: round half up of in x factor, taken as the decimal number it is written as, at least 1 px")
    func factorRounding() throws {
        #expect(try size("0.5", 5, 3) == "3x2")        // 2.5 -> 3, 1.5 -> 2
        #expect(try size("0.7", 15, 5) == "11x4")      // 10.5 -> 11, 3.5 -> 4
        #expect(try size("0.29", 50, 750) == "15x218")  // 14.5, 217.5: Double gives 14.499999999999998, 217.49999999999997
        #expect(try size("0.35", 90, 170) == "32x60")   // 31.5, 59.5: Double gives 31.499999999999996, 59.49999999999999
        #expect(try size("1.1", 5, 15) == "6x17")      // 5.5 -> 6, 16.5 -> 17
        #expect(try size("0.3", 5, 1) == "2x1")        // 1.5 -> 2, 0.3 -> 1 (at least 1)
        #expect(try size("0.001", 640, 480) == "1x1")
        #expect(try size("1e-300", 640, 480) == "1x1")
        #expect(try size("2.25", 2, 6) == "5x14")      // 4.5 -> 5, 13.5 -> 14
        #expect(try size("1.49", 1, 1) == "1x1")
        #expect(try size("16", 1000, 10) == "16000x160")
        #expect(try size("3", 123_456, 7) == "370368x21")
    }

    @Test("factor rounding agrees with exact decimal arithmetic on random inputs")
    func factorRoundingRandom() throws {
        let seed = UInt64.random(in: 0...UInt64.max)
        var rng = SplitMix64(seed: seed)
        for _ in 0..<2000 {
            let hundredths = Int.random(in: 1...1600, using: &rng)         // factor hundredths/100
            let n = Int.random(in: 1...20_000, using: &rng)
            let text = "\(hundredths / 100).\(hundredths % 100 < 10 ? "0" : "")\(hundredths % 100)"
            let expected = max(1, (n * hundredths * 2 + 100) / 200)        // round half up of n*h/100
            let got = try OutputSize(parsing: text).resolve(inputWidth: n, inputHeight: 1, nativeScale: 4)
            #expect(got.width == expected, "factor \(text) x \(n) (seed \(seed))")
        }
    }

    @Test("one side given: the other keeps the aspect ratio, rounded half up, at least 1")
    func aspectRounding() throws {
        #expect(try size("3:0", 4, 2) == "3x2")        // 1.5 -> 2
        #expect(try size("5:0", 4, 2) == "5x3")        // 2.5 -> 3
        #expect(try size("1:0", 4, 2) == "1x1")        // 0.5 -> 1
        #expect(try size("1:0", 1000, 1) == "1x1")     // 0.001 -> at least 1
        #expect(try size("0:3", 2, 4) == "2x3")        // 1.5 -> 2
        #expect(try size("0:1000", 640, 480) == "1333x1000")   // 1333.33
        #expect(try size("1000:-1", 640, 480) == "1000x750")
        #expect(try size("100:0", 640, 480) == "100x75")
        #expect(try size("0:100", 3, 7) == "43x100")   // 42.857
    }

    @Test("-n: the nearest multiple of n (ties up), at least n")
    func multipleRounding() throws {
        #expect(try size("1921:-2", 640, 480) == "1921x1440")   // 1440.75 -> 720.375 x 2 -> 1440
        #expect(try size("1922:-4", 640, 480) == "1922x1440")   // 1441.5 -> 360.375 -> 1440
        #expect(try size("1924:-4", 640, 480) == "1924x1444")   // 1443 -> 360.75 -> 1444
        #expect(try size("8:-4", 640, 480) == "8x8")            // 6 -> 1.5 -> 2 x 4 (tie goes up)
        #expect(try size("1:-16", 640, 480) == "1x16")          // 0.75 -> at least 16
        #expect(try size("-2:1081", 640, 480) == "1442x1081")   // 1441.33 -> 720.67 -> 1442
        #expect(try size("-10:100", 640, 480) == "130x100")     // 133.3 -> 13.3 -> 130
        #expect(try size("1920:-1000", 640, 480) == "1920x1000") // 1440 -> 1.44 -> 1000
    }

    @Test("long side: the longer input side gets it, a square gives a square")
    func longSide() throws {
        #expect(try size("long:1000", 640, 480) == "1000x750")
        #expect(try size("long:1000", 480, 640) == "750x1000")
        #expect(try size("long:100", 500, 500) == "100x100")
        #expect(try size("long:10", 1000, 1) == "10x1")
        #expect(try size("long:320", 640, 480) == "320x240")    // downscale too
    }

    @Test("exact ignores the aspect ratio, downscale included")
    func exact() throws {
        #expect(try size("100:300", 640, 480) == "100x300")
        #expect(try size("1:1", 640, 480) == "1x1")
    }

    // MARK: Limits

    @Test("outputs above maxPixels are refused with the numbers")
    func tooLarge() throws {
        #expect(throws: OutputSizeError.tooLarge(width: 80_000, height: 80_000, maxPixels: 250_000_000)) {
            try size("16", 5000, 5000)
        }
        #expect(try size("15811:15811", 1, 1) == "15811x15811")   // 249,987,721 pixels: allowed
        #expect(throws: OutputSizeError.tooLarge(width: 15812, height: 15812, maxPixels: 250_000_000)) {
            try size("15812:15812", 1, 1)
        }
        #expect(throws: OutputSizeError.tooLarge(width: 2560, height: 1920, maxPixels: 1_000_000)) {
            try size("native", 640, 480, maxPixels: 1_000_000)
        }
        #expect(try size("native", 640, 480, maxPixels: 2560 * 1920) == "2560x1920")
        let message = OutputSizeError.tooLarge(width: 80_000, height: 80_000, maxPixels: 250_000_000).description
        #expect(message.contains("80000x80000") && message.contains("6400000000") && message.contains("250000000"))
    }

    @Test("sizes beyond Int are refused, not trapped on", arguments: [
        "9223372036854775807:9223372036854775807", "9223372036854775807:0", "0:9223372036854775807",
        "9223372036854775807:-9223372036854775807", "1:-9223372036854775807", "long:9223372036854775807", "16",
    ])
    func overflow(text: String) throws {
        let value = try OutputSize(parsing: text)
        #expect(throws: OutputSizeError.self) {
            try value.resolve(inputWidth: Int.max / 2, inputHeight: Int.max / 3, nativeScale: 4)
        }
        #expect(throws: OutputSizeError.self) {
            try OutputSize.native.resolve(inputWidth: Int.max / 2, inputHeight: 1, nativeScale: 4)
        }
        do {
            _ = try value.resolve(inputWidth: Int.max / 2, inputHeight: Int.max / 3, nativeScale: 4)
        } catch {
            guard case .tooLarge = error else { Issue.record("expected tooLarge, got \(error)"); return }
            #expect(error.description.contains("exceeds the limit"))
        }
    }

    // MARK: Errors

    @Test("parse errors are specific", arguments: [
        ("", OutputSizeError.empty), ("   ", .empty),
        ("abc", .malformed("abc")), ("x", .malformed("x")), ("xx4", .malformed("xx4")), ("4xx", .malformed("4xx")),
        ("x4x", .malformed("x4x")), ("1920x1080", .malformed("1920x1080")), ("0x10", .malformed("0x10")),
        ("1:2:3", .malformed("1:2:3")), ("4 4", .malformed("4 4")), ("1e", .malformed("1e")), (".", .malformed(".")),
        ("0", .badFactor("0")), ("0.0", .badFactor("0.0")), ("-2", .badFactor("-2")), ("17", .badFactor("17")),
        ("16.0001", .badFactor("16.0001")), ("x0", .badFactor("x0")), ("nan", .badFactor("nan")),
        ("inf", .badFactor("inf")), ("-inf", .badFactor("-inf")), ("1e400", .badFactor("1e400")),
        ("1e-400", .badFactor("1e-400")),
        ("0:0", .noFixedSide("0:0")), ("-1:-1", .noFixedSide("-1:-1")), ("0:-2", .noFixedSide("0:-2")),
        ("-4:-4", .noFixedSide("-4:-4")),
        ("1.5:100", .badSide("1.5:100", side: .width)), ("100:abc", .badSide("100:abc", side: .height)),
        (":100", .badSide(":100", side: .width)), ("100:", .badSide("100:", side: .height)),
        ("+5:100", .badSide("+5:100", side: .width)), ("99999999999999999999:1", .badSide("99999999999999999999:1", side: .width)),
        ("-9223372036854775808:100", .badSide("-9223372036854775808:100", side: .width)),
        ("100:-9223372036854775808", .badSide("100:-9223372036854775808", side: .height)),
        ("long:0", .badSide("long:0", side: .longSide)), ("long:-5", .badSide("long:-5", side: .longSide)),
        ("long:", .badSide("long:", side: .longSide)), ("long:2.5", .badSide("long:2.5", side: .longSide)),
    ])
    func parseErrors(text: String, expected: OutputSizeError) {
        #expect(throws: expected) { try OutputSize(parsing: text) }
    }

    @Test("every message names the bad text and says what is valid")
    func messages() {
        let cases: [(OutputSizeError, [String])] = [
            (.empty, ["1920:1080", "long:2048", "2.5"]),
            (.malformed("abc"), ["'abc'", "1920:1080", "long:2048", "2.5", "1920:-2"]),
            (.malformed("1920x1080"), ["'1920x1080'", "write 1920:1080"]),
            (.badFactor("17"), ["'17'", "at most 16", "1920:1080"]),
            (.badSide("1.5:100", side: .width), ["width in '1.5:100'", "whole number", "1920:0"]),
            (.badSide("long:0", side: .longSide), ["'long:0'", "long:2048"]),
            (.noFixedSide("0:0"), ["'0:0'", "1920:0"]),
            (.conflictingOptions(["scale 4", "width 1920"]), ["scale 4, width 1920", "only one"]),
            (.invalidInput(width: 0, height: 5), ["0x5", "at least 1"]),
            (.invalidNativeScale(0), ["scale 0", "at least 1"]),
        ]
        for (error, needles) in cases {
            for needle in needles {
                #expect(error.description.contains(needle), "\(error) should mention \(needle)")
            }
        }
        #expect(!OutputSizeError.malformed("abc").description.contains("write"))
    }

    @Test("resolve refuses bad inputs and out-of-range values built directly")
    func resolveErrors() {
        func resolve(_ s: OutputSize, _ w: Int = 640, _ h: Int = 480, native: Int = 4) throws(OutputSizeError) {
            _ = try s.resolve(inputWidth: w, inputHeight: h, nativeScale: native)
        }
        #expect(throws: OutputSizeError.invalidInput(width: 0, height: 480)) { try resolve(.native, 0, 480) }
        #expect(throws: OutputSizeError.invalidInput(width: 640, height: -1)) { try resolve(.factor(2), 640, -1) }
        #expect(throws: OutputSizeError.invalidNativeScale(0)) { try resolve(.native, native: 0) }
        #expect(throws: OutputSizeError.badFactor("-1")) { try resolve(.factor(-1)) }
        #expect(throws: OutputSizeError.badFactor("0")) { try resolve(.factor(0)) }
        #expect(throws: OutputSizeError.badFactor("nan")) { try resolve(.factor(.nan)) }
        #expect(throws: OutputSizeError.badFactor("inf")) { try resolve(.factor(.infinity)) }
        #expect(throws: OutputSizeError.badFactor("32")) { try resolve(.factor(32)) }
        #expect(throws: OutputSizeError.badSide("0:5", side: .width)) { try resolve(.exact(width: 0, height: 5)) }
        #expect(throws: OutputSizeError.badSide("5:-5", side: .height)) { try resolve(.exact(width: 5, height: -5)) }
        #expect(throws: OutputSizeError.badSide("0:-1", side: .width)) { try resolve(.width(0)) }
        #expect(throws: OutputSizeError.badSide("-1:-3", side: .height)) { try resolve(.height(-3)) }
        #expect(throws: OutputSizeError.badSide("10:-0", side: .height)) { try resolve(.widthMultiple(10, of: 0)) }
        #expect(throws: OutputSizeError.badSide("--2:10", side: .width)) { try resolve(.heightMultiple(10, of: -2)) }
        #expect(throws: OutputSizeError.badSide("long:0", side: .longSide)) { try resolve(.longSide(0)) }
    }

    // MARK: Separate options

    @Test("separate options (--scale, --width, --height, --long-side) combine into one size")
    func options() throws {
        #expect(try OutputSize() == .native)
        #expect(try OutputSize(scale: "2.5") == .factor(2.5))
        #expect(try OutputSize(scale: "1920:0") == .width(1920))
        #expect(try OutputSize(width: 1920) == .width(1920))
        #expect(try OutputSize(height: 1080) == .height(1080))
        #expect(try OutputSize(width: 1920, height: 1080) == .exact(width: 1920, height: 1080))
        #expect(try OutputSize(width: 1920, height: -2) == .widthMultiple(1920, of: 2))
        #expect(try OutputSize(width: 0, height: 1080) == .height(1080))
        #expect(try OutputSize(longSide: 2048) == .longSide(2048))

        #expect(throws: OutputSizeError.conflictingOptions(["scale 4", "width 1920"])) {
            try OutputSize(scale: "4", width: 1920)
        }
        #expect(throws: OutputSizeError.conflictingOptions(["height 10", "long side 2048"])) {
            try OutputSize(height: 10, longSide: 2048)
        }
        #expect(throws: OutputSizeError.badSide("0", side: .width)) { try OutputSize(width: 0) }
        #expect(throws: OutputSizeError.badSide("-2", side: .height)) { try OutputSize(height: -2) }
        #expect(throws: OutputSizeError.badSide("0", side: .longSide)) { try OutputSize(longSide: 0) }
        #expect(throws: OutputSizeError.noFixedSide("0:-1")) { try OutputSize(width: 0, height: -1) }
        #expect(throws: OutputSizeError.empty) { try OutputSize(scale: "") }
        #expect(throws: OutputSizeError.badSide("\(Int.min):5", side: .width)) { try OutputSize(width: .min, height: 5) }
    }

    // MARK: Round trip

    @Test("OutputSize(parsing: x.description) == x for random valid values", arguments: [0x5EED_0F_512E, UInt64.random(in: 0...UInt64.max)])
    func roundTrip(seed: UInt64) throws {
        var rng = SplitMix64(seed: seed)
        func side() -> Int {
            switch Int.random(in: 0..<4, using: &rng) {
            case 0: Int.random(in: 1...16, using: &rng)
            case 1: Int.random(in: 1...10_000, using: &rng)
            case 2: Int.random(in: 1...Int.max, using: &rng)
            default: [1, Int.max, 1920, 1080][Int.random(in: 0..<4, using: &rng)]
            }
        }
        func factor() -> Double {
            switch Int.random(in: 0..<4, using: &rng) {
            case 0: Double(Int.random(in: 1...16, using: &rng))
            case 1: Double(Int.random(in: 1...1600, using: &rng)) / 100
            case 2: Double.random(in: Double.leastNonzeroMagnitude...OutputSize.maxFactor, using: &rng)
            default: Double.random(in: 1e-9...1e-3, using: &rng)                // printed with an exponent
            }
        }
        for i in 0..<5000 {
            let value: OutputSize = switch Int.random(in: 0..<9, using: &rng) {
            case 0: .native
            case 1: .factor(factor())
            case 2: .exact(width: side(), height: side())
            case 3: .width(side())
            case 4: .height(side())
            case 5: .widthMultiple(side(), of: side())
            case 6: .heightMultiple(side(), of: side())
            case 7: .longSide(side())
            default: .factor(OutputSize.maxFactor)
            }
            let text = value.description
            do {
                let back = try OutputSize(parsing: text)
                #expect(back == value, "#\(i): \(value) -> '\(text)' -> \(back) (seed \(seed))")
                #expect(back.description == text, "#\(i): '\(text)' is not canonical (seed \(seed))")
                // Equal values resolve to the same size.
                let a = try? value.resolve(inputWidth: 640, inputHeight: 480, nativeScale: 4)
                let b = try? back.resolve(inputWidth: 640, inputHeight: 480, nativeScale: 4)
                #expect(a?.width == b?.width && a?.height == b?.height, "#\(i): '\(text)' (seed \(seed))")
            } catch {
                Issue.record("#\(i): \(value) -> '\(text)' does not parse: \(error) (seed \(seed))")
            }
        }
    }
}

/// A small seeded generator (SplitMix64), so a failing random case can be replayed from its printed seed.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
