/// The work a reader may do for the bytes it was given: the one budget notion of every weight-file reader.
///
/// Every reader keeps its work and memory O(input bytes). Most steps consume input (a pickle opcode, a header entry,
/// a `.param` token, a weight array), so they are bounded by construction once their sizes are overflow-checked
/// against the bytes that remain. The steps that can revisit shared data without consuming input (a container reached
/// through many pickle memo references, an OrderedDict rebuilt from one shared list, a strided view copied again)
/// spend units of a `WorkBudget` instead: `perByte` units per input byte plus `floor`, never more than `cap`.
struct WorkBudget {
    /// Units for a budget over `inputBytes`: 16 per byte plus 16 Ki, at most 64 Mi. A unit is one value visited or
    /// built, or 16 bytes of a string hashed or copied; a real file needs at most a few units per byte.
    static func units(inputBytes: Int) -> WorkBudget {
        WorkBudget(inputBytes: inputBytes, perByte: 16, floor: 1 << 14, cap: 1 << 26)
    }

    /// Bytes that strided views of a file of `fileBytes` may copy: twice the file plus 64 MiB (a real checkpoint
    /// copies at most its own storages, the odd one twice when two views share it).
    static func copies(fileBytes: Int) -> WorkBudget {
        WorkBudget(inputBytes: fileBytes, perByte: 2, floor: 64 << 20, cap: Int.max)
    }

    let limit: Int
    let inputBytes: Int
    private(set) var spent = 0

    init(inputBytes: Int, perByte: Int, floor: Int, cap: Int) {
        let (scaled, overflow) = max(0, inputBytes).multipliedReportingOverflow(by: perByte)
        self.inputBytes = inputBytes
        limit = overflow || scaled > cap - floor ? cap : scaled + floor
    }

    /// Spends `units`; false (and the budget exhausted) when they are more than what is left.
    mutating func spend(_ units: Int) -> Bool {
        guard units >= 0, units <= limit - spent else {
            spent = limit
            return false
        }
        spent += units
        return true
    }

    /// The units for hashing or copying a string of `count` bytes.
    static func stringUnits(_ count: Int) -> Int { 1 + count / 16 }
}
