import Testing
import SREngine

@Suite("Option text forms shared by the CLI and the server")
struct OptionTextTests {
    @Test("byte sizes use binary units, counts decimal ones")
    func sizes() {
        #expect(OptionText.bytes("512M") == 512 << 20)
        #expect(OptionText.bytes(" 1.5gb ") == 3 << 29)
        #expect(OptionText.bytes("64k") == 65536)
        #expect(OptionText.bytes("1000") == 1000)
        #expect(OptionText.bytes("100B") == 100)
        for bad in ["", "M", "-1M", "1e30G", "twelve", "5X"] { #expect(OptionText.bytes(bad) == nil, "\(bad)") }
        #expect(OptionText.count("16M") == 16_000_000)
        #expect(OptionText.count("2.5k") == 2500)
        #expect(OptionText.count("7") == 7)
        #expect(OptionText.count("1MB") == nil)
    }

    @Test("colours and booleans")
    func coloursAndBooleans() {
        #expect(OptionText.colour("#ff8000")! == (1, Float(128) / 255, 0))
        #expect(OptionText.colour("0, 255 ,0")! == (0, 1, 0))
        #expect(OptionText.colour("White")! == (1, 1, 1))
        for bad in ["#ff80", "1,2", "1,2,3,4", "256,0,0", "purple", ""] { #expect(OptionText.colour(bad) == nil, "\(bad)") }
        #expect(OptionText.bool("Yes") == true && OptionText.bool("0") == false && OptionText.bool("") == false)
        #expect(OptionText.bool("maybe") == nil)
    }
}
