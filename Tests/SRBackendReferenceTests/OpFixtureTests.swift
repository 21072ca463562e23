import Foundation
import Testing
import SRCore
import SRBackendReference

/// The reference backend (the oracle of every fast backend) against an independent implementation: the cases of
/// `Fixtures/ops.json`, computed with NumPy by `scripts/make_op_fixtures.py`.
@Suite("Reference kernels of the rank-N ops vs NumPy")
struct OpFixtureTests {
    struct FixtureTensor: Decodable {
        var dims: [Int]
        var layout: String?
        var data: [Float]

        var shape: Shape { Shape(dims, layout: layout.flatMap(Layout.init(rawValue:))) }
        var tensor: Tensor { Tensor(shape: shape, data: data) }
    }

    struct Case: Decodable, CustomTestStringConvertible {
        var name: String
        var op: String
        var attributes: [String: Attribute]
        var inputs: [FixtureTensor]
        var expected: FixtureTensor
        var testDescription: String { name }
    }

    enum Attribute: Decodable {
        case number(Double)
        case numbers([Double])
        case flag(Bool)
        case text(String)

        init(from decoder: any Decoder) throws {
            let c = try decoder.singleValueContainer()
            if let b = try? c.decode(Bool.self) { self = .flag(b) } else if let d = try? c.decode(Double.self) {
                self = .number(d)
            } else if let a = try? c.decode([Double].self) { self = .numbers(a) } else { self = .text(try c.decode(String.self)) }
        }

        var int: Int { if case .number(let d) = self { Int(d) } else { -999 } }
        var float: Float { if case .number(let d) = self { Float(d) } else { .nan } }
        var ints: [Int] { if case .numbers(let a) = self { a.map { Int($0) } } else { [] } }
        var floats: [Float] { if case .numbers(let a) = self { a.map { Float($0) } } else { [] } }
        var bool: Bool { if case .flag(let b) = self { b } else { false } }
        var text: String? { if case .text(let s) = self { s } else { nil } }
    }

    static let cases: [Case] = {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/ops.json")
        struct File: Decodable { var cases: [Case] }
        // A missing or unreadable fixture file fails the test below (zero cases), it is never skipped silently.
        guard let data = try? Data(contentsOf: url), let file = try? JSONDecoder().decode(File.self, from: data) else { return [] }
        return file.cases
    }()

    static func op(_ c: Case) -> Op? {
        let a = c.attributes
        switch c.op {
        case "matmul": return .matmul(MatMul(transposeB: a["transposeB"]!.bool, scale: a["scale"]!.float))
        case "layerNorm": return .layerNorm(LayerNorm(gamma: a["gamma"]!.floats, beta: a["beta"]!.floats, epsilon: a["epsilon"]!.float))
        case "softmax": return .softmax(axis: a["axis"]!.int)
        case "gelu": return .activation(.gelu(approximate: a["approximate"]!.bool))
        case "reshape": return .reshape(Reshape(a["dims"]!.ints))
        case "permute": return .permute(Permute(a["order"]!.ints, layout: a["layout"]?.text.flatMap(Layout.init(rawValue:))))
        case "roll": return .roll(Roll(shifts: a["shifts"]!.ints, axes: a["axes"]!.ints))
        case "windowPartition": return .windowPartition(size: a["size"]!.int)
        case "windowReverse": return .windowReverse(size: a["size"]!.int)
        case "slice": return .slice(Slice(axis: a["axis"]!.int, start: a["start"]!.int, end: a["end"]!.int, step: a["step"]!.int))
        case "linear":
            return .linear(Linear(weight: Tensor(dims: a["weightDims"]!.ints, data: a["weight"]!.floats),
                                  bias: a["bias"]!.floats, input: .lastAxis))
        case "add": return .binary(.add)
        case "convertBF16": return .convert(.bf16)
        default: return nil
        }
    }

    @Test("the fixture file holds every op family")
    func coverage() {
        let ops = Set(Self.cases.map(\.op))
        #expect(ops == ["matmul", "layerNorm", "softmax", "gelu", "reshape", "permute", "roll", "windowPartition",
                        "windowReverse", "slice", "linear", "add", "convertBF16"])
    }

    @Test("reference result equals NumPy's", arguments: OpFixtureTests.cases)
    func matches(_ c: Case) throws {
        let op = try #require(Self.op(c), "unknown op \(c.op) in the fixture")
        var g = Graph()
        let inputs = c.inputs.map { _ in g.add(.input) }
        g.outputs = [g.add(op, inputs)]
        let exe = try ReferenceBackend().compile(g, inputShapes: c.inputs.map(\.shape))
        let out = try exe.run(inputs: c.inputs.map(\.tensor))[0]
        #expect(out.dims == c.expected.dims)
        if let layout = c.expected.layout { #expect(out.shape.layout.rawValue == layout) }
        let scale = c.expected.data.map { abs($0) }.max() ?? 0
        let exact = c.op == "convertBF16" || c.op == "reshape" || c.op == "permute" || c.op == "roll"
            || c.op.hasPrefix("window") || c.op == "slice"
        var worst: Float = 0
        for (x, y) in zip(out.data, c.expected.data) { worst = max(worst, abs(x - y)) }
        #expect(out.count == c.expected.data.count)
        #expect(worst <= (exact ? 0 : 2e-6 + 2e-6 * scale), "max |diff| \(worst) in \(c.name)")
    }
}
