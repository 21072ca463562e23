import Foundation
import Testing
@testable import SRWeights

@Suite("Restricted unpickler")
struct PickleTests {
    func load(_ parts: [Any]) throws(WeightsError) -> PickleValue {
        var unpickler = Unpickler(pickle(parts))
        return try unpickler.load()
    }

    func items(_ value: PickleValue) -> [String: PickleValue] {
        guard case .dict(let d) = value else { return [:] }
        var out: [String: PickleValue] = [:]
        for (k, v) in d.items { if case .string(let s) = k { out[s] = v } }
        return out
    }

    @Test("binary opcodes build plain values; a memoized list is shared, not copied")
    func values() throws {
        let big: [UInt8] = [0x8A, 9, 0, 0, 0, 0, 0, 0, 0, 0, 1]
        let value = try load([[0x80, 0x02, 0x7D, 0x71, 0x00, 0x28],
                              "int", [0x4B, 5], "neg", [0x4A, 0xFD, 0xFF, 0xFF, 0xFF], "u16", [0x4D, 0x34, 0x12],
                              "long", [0x8A, 2, 0x00, 0x80], "big", big,
                              "float", [0x47, 0x3F, 0xF8, 0, 0, 0, 0, 0, 0], "true", [0x88], "none", [0x4E],
                              "tuple", [0x4B, 1, 0x4B, 2, 0x86], "list", [0x5D, 0x71, 0x01, 0x4B, 7, 0x61],
                              "again", [0x68, 0x01],
                              [0x75, 0x68, 0x01, 0x4B, 8, 0x61, 0x30, 0x2E]])
        let d = items(value)
        guard case .int(5) = d["int"], case .int(-3) = d["neg"], case .int(0x1234) = d["u16"],
              case .int(-32768) = d["long"], case .bigInt(Array(big[2...])) = d["big"], case .float(1.5) = d["float"],
              case .bool(true) = d["true"], case .some(.none) = d["none"],
              case .tuple(let t) = d["tuple"], t.count == 2,
              case .list(let list) = d["list"], case .list(let again) = d["again"] else {
            Issue.record("unexpected values \(d.mapValues(\.kind))"); return
        }
        #expect(list === again)
        #expect(list.items.count == 2)
    }

    @Test("protocol 0 text opcodes and protocol 4 framing are understood")
    func textAndFraming() throws {
        let text = try load([Array("(lp0\nI5\naI01\naF1.5\naL12L\nag0\n0.".utf8)])
        guard case .list(let list) = text, list.items.count == 4, case .int(12) = list.items[3] else {
            Issue.record("unexpected \(text.kind)"); return
        }
        let framed = try load([[0x80, 0x04, 0x95, 9, 0, 0, 0, 0, 0, 0, 0, 0x8C, 3], Array("abc".utf8), [0x94, 0x68, 0, 0x86, 0x2E]])
        guard case .tuple(let t) = framed, t.count == 2, case .string("abc") = t[1] else {
            Issue.record("unexpected \(framed.kind)"); return
        }
    }

    @Test("OrderedDict through NEWOBJ with BUILD state, and through REDUCE with item pairs")
    func orderedDict() throws {
        let orderedDict = Array("ccollections\nOrderedDict\n".utf8)
        let built = try load([[0x80, 0x02], orderedDict, [0x29, 0x81, 0x7D, 0x62, 0x28], "a", [0x4B, 1, 0x75, 0x2E]])
        guard case .int(1) = items(built)["a"] else { Issue.record("unexpected \(built.kind)"); return }
        let reduced = try load([[0x80, 0x02], orderedDict, [0x5D], "x", [0x4B, 2, 0x86, 0x61, 0x85, 0x52, 0x2E]])
        guard case .int(2) = items(reduced)["x"] else { Issue.record("unexpected \(reduced.kind)"); return }
    }

    @Test("globals outside the allow-list are refused by name, whichever opcode names them")
    func forbidden() throws {
        #expect(throws: WeightsError.forbiddenGlobal("os.system")) {
            try load([[0x80, 0x02], Array("cos\nsystem\n".utf8), "id", [0x85, 0x52, 0x2E]])
        }
        #expect(throws: WeightsError.forbiddenGlobal("builtins.eval")) {
            try load([[0x80, 0x04, 0x8C, 8], Array("builtins".utf8), [0x8C, 4], Array("eval".utf8), [0x93, 0x2E]])
        }
        #expect(throws: WeightsError.forbiddenGlobal("subprocess.Popen")) {
            try load([[0x28], "ls", Array("isubprocess\nPopen\n.".utf8)])
        }
        #expect(throws: WeightsError.forbiddenGlobal("torch.nn.modules.conv.Conv2d")) {
            try load([[0x80, 0x02], Array("ctorch.nn.modules.conv\nConv2d\n".utf8), [0x29, 0x81, 0x2E]])
        }
    }

    @Test("self-containing and deeply nested values are refused instead of overflowing the stack")
    func hostileNesting() throws {
        var cycle = ZipBuilder()
        cycle.add("x/data.pkl", Array(pickle([[0x80, 0x02, 0x7D, 0x71, 0], "a", [0x5D, 0x71, 1, 0x68, 1, 0x61, 0x73, 0x2E]])))
        #expect(throws: WeightsError.notAStateDict(found: "containers nested more than 32 deep, or a container inside itself")) {
            try PyTorchCheckpoint.read(zip: cycle.build())
        }
        #expect(throws: WeightsError.malformedPickle(offset: 102, reason: "tuples nested deeper than 100")) {
            try load([[0x80, 0x02, 0x29], [UInt8](repeating: 0x85, count: 200_000), [0x2E]])
        }
        // 200 000 lists, each the only element of the next one, are freed without recursing once per list.
        var chain: [UInt8] = [0x80, 0x02, 0x5D, 0x71, 0, 0x30]                  // memo 0 = []
        for _ in 0..<200_000 {
            chain += [0x5D, 0x71, 1, 0x68, 0, 0x61, 0x30]                        // memo 1 = [memo 0]
            chain += [0x68, 1, 0x71, 0, 0x30]                                    // memo 0 = memo 1
        }
        chain += [0x68, 0]
        var unpickler = Unpickler(Data(chain + [0x2E]))
        defer { unpickler.dismantle() }
        guard case .list = try unpickler.load() else { Issue.record("expected a list"); return }
    }

    @Test("corrupt pickles each give their specific error")
    func corrupt() throws {
        #expect(throws: WeightsError.unknownOpcode(0xFF, offset: 2)) { try load([[0x80, 0x02, 0xFF]]) }
        #expect(throws: WeightsError.truncatedPickle(offset: 3)) { try load([[0x80, 0x02, 0x7D]]) }
        #expect(throws: WeightsError.truncatedPickle(offset: 9)) { try load([[0x80, 0x02, 0x58, 5, 0, 0, 0], Array("ab".utf8)]) }
        #expect(throws: WeightsError.unsupportedOpcode("EXT1", offset: 2)) { try load([[0x80, 0x02, 0x82, 0x01, 0x2E]]) }
        #expect(throws: WeightsError.unsupportedOpcode("NEXT_BUFFER", offset: 2)) { try load([[0x80, 0x05, 0x97, 0x2E]]) }
        #expect(throws: WeightsError.malformedPickle(offset: 2, reason: "stack underflow")) { try load([[0x80, 0x02, 0x61]]) }
        #expect(throws: WeightsError.malformedPickle(offset: 2, reason: "memo key 5 was never stored")) {
            try load([[0x80, 0x02, 0x68, 5, 0x2E]])
        }
        #expect(throws: WeightsError.malformedPickle(offset: 4, reason: "persistent id outside a PyTorch checkpoint")) {
            try load([[0x80, 0x02, 0x4B, 1, 0x51, 0x2E]])
        }
        #expect(throws: WeightsError.malformedPickle(offset: 6, reason: "STOP with 2 values on the stack")) {
            try load([[0x80, 0x02, 0x4B, 1, 0x4B, 2, 0x2E]])
        }
        #expect(throws: WeightsError.malformedPickle(offset: 0, reason: "unsupported pickle protocol 6")) { try load([[0x80, 0x06]]) }
        #expect(throws: WeightsError.malformedPickle(offset: 2, reason: "string is not valid UTF-8")) {
            try load([[0x80, 0x02, 0x8C, 2, 0xC3, 0x28, 0x2E]])
        }
    }
}
