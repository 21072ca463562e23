import Foundation

/// A restricted unpickler for the pickles `torch.save` writes (protocols 2 to 5; protocol 0/1 data opcodes too).
///
/// A pickle is a program for a stack machine: each opcode byte, followed by its operands, pushes values, pops them
/// into containers, stores them in a memo, or calls a callable. This unpickler builds only plain data:
/// `GLOBAL`/`STACK_GLOBAL`/`INST` resolve names through `PickleGlobal.allowList` and throw
/// `WeightsError.forbiddenGlobal` for anything else, and calling (`REDUCE`, `NEWOBJ`, `OBJ`, `INST`) an allowed
/// global builds an ordered dict, a tuple or a tensor view. Persistent ids (`BINPERSID`, `PERSID`) go to the
/// caller's `persistentLoad`, which turns them into storages. Extension registry opcodes and out-of-band buffers are
/// refused. All multi-byte operands are little-endian except `BINFLOAT` (big-endian double).
///
/// Hostile nesting cannot crash the reader: tuples nest at most `maxTupleDepth` deep (each tuple's depth comes from
/// its direct items, so tuples sharing children through the memo cost O(1) each), and every list, dict and set is
/// registered so that `dismantle()` can empty them all (cycles and deep chains are then freed without recursion).
///
/// Work and memory are O(input bytes): every opcode consumes at least one byte and pushes, stores or builds at most
/// one value, so the stack, marks, memo and containers hold at most one entry per byte, and every length operand
/// (strings, bytes, LONG4, FRAME) is checked against the bytes that remain before it is used. The operations that
/// can touch a memo-shared value again without consuming input (OrderedDict(list of pairs), tensor sizes and
/// strides, dict keys hashed, persistent ids and global names) spend a `WorkBudget.units` over the input bytes.
struct Unpickler {
    static let maxTupleDepth = 100

    typealias PersistentLoad = (PickleValue) throws(WeightsError) -> PickleValue

    let bytes: Data
    /// Where the next pickle starts once `load()` returns (files may hold several pickles back to back).
    private(set) var position: Int
    private let persistentLoad: PersistentLoad?
    private var stack: [PickleValue] = []
    private var marks: [Int] = []
    private var memo: [Int: PickleValue] = [:]
    private var opStart = 0
    private var containers: [any PickleContainer] = []
    private var budget: WorkBudget

    /// An unpickler for `bytes` (indexed from their start, which may be a slice of a mapped file).
    init(_ bytes: Data, position: Int = 0, persistentLoad: PersistentLoad? = nil) {
        self.bytes = bytes
        self.position = position
        self.persistentLoad = persistentLoad
        budget = .units(inputBytes: bytes.count - position)
    }

    /// Runs one pickle up to its STOP opcode and returns the value it built.
    mutating func load() throws(WeightsError) -> PickleValue {
        (stack, marks, memo) = ([], [], [:])
        while true {
            opStart = position
            let code = try byte()
            guard let op = PickleOpcode(rawValue: code) else { throw .unknownOpcode(code, offset: opStart) }
            if op == .stop {
                guard stack.count == 1, marks.isEmpty else { throw malformed("STOP with \(stack.count) values on the stack") }
                return stack[0]
            }
            try execute(op)
        }
    }

    private mutating func execute(_ op: PickleOpcode) throws(WeightsError) {
        switch op {
        case .proto:
            let version = try byte()
            guard version <= 5 else { throw malformed("unsupported pickle protocol \(version)") }
        case .frame: _ = try length(8)  // the frame's size; its opcodes are read as they come
        case .stop: break

        case .none: stack.append(.none)
        case .newTrue: stack.append(.bool(true))
        case .newFalse: stack.append(.bool(false))
        case .binInt: stack.append(.int(Int(Int32(bitPattern: UInt32(try uint(4))))))
        case .binInt1: stack.append(.int(Int(try byte())))
        case .binInt2: stack.append(.int(Int(try uint(2))))
        case .long1: stack.append(try long(Int(try byte())))
        case .long4: stack.append(try long(try length(4)))
        case .int:
            let text = try line()
            if text == "00" || text == "01" { stack.append(.bool(text == "01")); break }
            guard let v = Int(text) else { throw malformed("bad INT '\(text)'") }
            stack.append(.int(v))
        case .long:
            let text = try line()
            guard let v = Int(text.hasSuffix("L") ? String(text.dropLast()) : text) else { throw malformed("bad LONG '\(text)'") }
            stack.append(.int(v))
        case .binFloat: stack.append(.float(Double(bitPattern: try uint(8).byteSwapped)))
        case .float:
            let text = try line()
            guard let v = Double(text) else { throw malformed("bad FLOAT '\(text)'") }
            stack.append(.float(v))

        case .binUnicode: stack.append(.string(try utf8(try length(4))))
        case .shortBinUnicode: stack.append(.string(try utf8(Int(try byte()))))
        case .binUnicode8: stack.append(.string(try utf8(try length(8))))
        case .binString: stack.append(.string(latin1(try take(try length(4)))))
        case .shortBinString: stack.append(.string(latin1(try take(Int(try byte())))))
        case .binBytes: stack.append(.bytes(Array(try take(try length(4)))))
        case .shortBinBytes: stack.append(.bytes(Array(try take(Int(try byte())))))
        case .binBytes8, .byteArray8: stack.append(.bytes(Array(try take(try length(8)))))

        case .emptyTuple: stack.append(try tuple([]))
        case .tuple1, .tuple2, .tuple3:
            let n = Int(op.rawValue - PickleOpcode.tuple1.rawValue) + 1
            guard stack.count - n >= (marks.last ?? 0) else { throw malformed("TUPLE\(n) needs \(n) values") }
            let items = Array(stack.suffix(n))
            stack.removeLast(n)
            stack.append(try tuple(items))
        case .tuple: stack.append(try tuple(try popMark()))
        case .emptyList: stack.append(.list(register(PickleList())))
        case .list: stack.append(.list(register(PickleList(try popMark()))))
        case .emptyDict: stack.append(.dict(register(PickleDict())))
        case .dict:
            let dict = register(PickleDict())
            try setItems(dict, try popMark())
            stack.append(.dict(dict))
        case .emptySet: stack.append(.set(register(PickleList())))
        case .frozenSet: stack.append(.set(register(PickleList(try popMark()))))

        case .append:
            let value = try pop(), target = try top()
            guard case .list(let list) = target else { throw malformed("APPEND to \(target.kind)") }
            list.items.append(value)
        case .appends:
            let values = try popMark(), target = try top()
            guard case .list(let list) = target else { throw malformed("APPENDS to \(target.kind)") }
            list.items += values
        case .addItems:
            let values = try popMark(), target = try top()
            guard case .set(let set) = target else { throw malformed("ADDITEMS to \(target.kind)") }
            set.items += values
        case .setItem:
            let value = try pop(), key = try pop(), target = try top()
            guard case .dict(let dict) = target else { throw malformed("SETITEM on \(target.kind)") }
            try set(dict, key, value)
        case .setItems:
            let values = try popMark(), target = try top()
            guard case .dict(let dict) = target else { throw malformed("SETITEMS on \(target.kind)") }
            try setItems(dict, values)

        case .mark: marks.append(stack.count)
        case .pop:
            if let m = marks.last, m == stack.count { marks.removeLast() } else { _ = try pop() }
        case .popMark: _ = try popMark()
        case .dup: stack.append(try top())

        case .binPut: memo[Int(try byte())] = try top()
        case .longBinPut: memo[Int(try uint(4))] = try top()
        case .put: memo[try lineInt()] = try top()
        case .memoize: memo[memo.count] = try top()
        case .binGet: stack.append(try memoValue(Int(try byte())))
        case .longBinGet: stack.append(try memoValue(Int(try uint(4))))
        case .get: stack.append(try memoValue(try lineInt()))

        case .global:
            let module = try line(), name = try line()
            stack.append(.global(try Self.resolve(module, name)))
        case .stackGlobal:
            let name = try pop(), module = try pop()
            guard case .string(let m) = module, case .string(let n) = name else {
                throw malformed("STACK_GLOBAL needs two strings")
            }
            try spend(WorkBudget.stringUnits(m.utf8.count + n.utf8.count))
            stack.append(.global(try Self.resolve(m, n)))
        case .inst:
            let module = try line(), name = try line()
            let global = try Self.resolve(module, name)
            let value = try call(.global(global), try popMark())
            stack.append(value)
        case .obj:
            var items = try popMark()
            guard !items.isEmpty else { throw malformed("OBJ without a class") }
            let cls = items.removeFirst()
            let value = try call(cls, items)
            stack.append(value)
        case .reduce:
            let args = try pop(), callable = try pop()
            guard case .tuple(let a) = args else { throw malformed("REDUCE arguments are \(args.kind), not a tuple") }
            let value = try call(callable, a.items)
            stack.append(value)
        case .newObj:
            let args = try pop(), cls = try pop()
            guard case .tuple(let a) = args else { throw malformed("NEWOBJ arguments are \(args.kind), not a tuple") }
            let value = try call(cls, a.items)
            stack.append(value)
        case .newObjEx:
            let kwargs = try pop(), args = try pop(), cls = try pop()
            guard case .tuple(let a) = args, case .dict(let k) = kwargs, k.items.isEmpty else {
                throw malformed("NEWOBJ_EX needs a tuple and an empty dict")
            }
            let value = try call(cls, a.items)
            stack.append(value)
        case .build:
            let state = try pop()
            switch try top() {
            case .dict, .tensor: break  // OrderedDict attributes (_metadata) and tensor state carry no weights
            case let target: throw malformed("BUILD on \(target.kind) with \(state.kind)")
            }

        case .binPersId:
            let pid = try pop()
            stack.append(try persistent(pid))
        case .persId: stack.append(try persistent(.string(try line())))

        case .string, .unicode, .ext1, .ext2, .ext4, .nextBuffer, .readonlyBuffer:
            throw .unsupportedOpcode(op.name, offset: opStart)
        }
    }

    /// Empties every list, dict and set this unpickler built, so that they are freed one by one. Call it when done
    /// with the values `load()` returned.
    mutating func dismantle() {
        for container in containers { container.removeAll() }
        containers = []
        (stack, memo) = ([], [:])
    }

    private mutating func register<C: PickleContainer>(_ container: C) -> C {
        containers.append(container)
        return container
    }

    /// A tuple of `items`, refused when tuples would nest more than `maxTupleDepth` deep.
    private func tuple(_ items: [PickleValue]) throws(WeightsError) -> PickleValue {
        let tuple = PickleTuple(items)
        guard tuple.depth <= Self.maxTupleDepth else { throw malformed("tuples nested deeper than \(Self.maxTupleDepth)") }
        return .tuple(tuple)
    }

    /// Spends `units` of the budget, or throws once a hostile pickle rebuilds shared values too often.
    private mutating func spend(_ units: Int) throws(WeightsError) {
        guard budget.spend(units) else {
            throw .workLimit(what: "units of unpickling work (values rebuilt from shared memo entries)",
                             limit: budget.limit, inputBytes: budget.inputBytes)
        }
    }

    /// `dict[key] = value`, spending the cost of hashing the key.
    private mutating func set(_ dict: PickleDict, _ key: PickleValue, _ value: PickleValue) throws(WeightsError) {
        if case .string(let s) = key { try spend(WorkBudget.stringUnits(s.utf8.count)) } else { try spend(1) }
        dict.set(key, value)
    }

    /// Resolves `module.name` through the allow-list.
    static func resolve(_ module: String, _ name: String) throws(WeightsError) -> PickleGlobal {
        guard let global = PickleGlobal.allowList["\(module).\(name)"] else { throw .forbiddenGlobal("\(module).\(name)") }
        return global
    }

    /// The result of calling an allowed global with `args`.
    private mutating func call(_ callable: PickleValue, _ args: [PickleValue]) throws(WeightsError) -> PickleValue {
        guard case .global(let global) = callable else { throw malformed("cannot call \(callable.kind)") }
        switch global {
        case .orderedDict:
            let dict = PickleDict()
            containers.append(dict)
            if case .list(let pairs)? = args.first {
                try spend(pairs.items.count)
                for pair in pairs.items {
                    guard case .tuple(let kv) = pair, kv.count == 2 else { throw malformed("OrderedDict item is not a pair") }
                    try set(dict, kv[0], kv[1])
                }
            } else if !args.isEmpty {
                throw malformed("OrderedDict called with \(args[0].kind)")
            }
            return .dict(dict)
        case .torchSize:
            guard args.count == 1, case .tuple = args[0] else { throw malformed("torch.Size needs one tuple") }
            return args[0]
        case .rebuildTensorV2, .rebuildTensor:
            for case .tuple(let t) in args.prefix(4) { try spend(t.count) }
            guard args.count >= 4, case .storage(let storage) = args[0], case .int(let offset) = args[1],
                  let shape = Self.ints(args[2]), let stride = Self.ints(args[3]) else {
                throw malformed("\(global) needs (storage, offset, size, stride)")
            }
            return .tensor(TorchTensorView(storage: storage, offset: offset, shape: shape, stride: stride))
        case .rebuildParameter, .rebuildParameterWithState:
            guard case .tensor? = args.first else { throw malformed("\(global) needs a tensor") }
            return args[0]
        case .storageType:
            throw malformed("cannot call the storage type \(global)")
        }
    }

    private mutating func persistent(_ pid: PickleValue) throws(WeightsError) -> PickleValue {
        guard let persistentLoad else { throw malformed("persistent id outside a PyTorch checkpoint") }
        var units = 1
        if case .tuple(let t) = pid {
            for case .string(let s) in t.prefix(6) { units += WorkBudget.stringUnits(s.utf8.count) }
        }
        try spend(units)
        return try persistentLoad(pid)
    }

    private static func ints(_ value: PickleValue) -> [Int]? {
        guard case .tuple(let items) = value else { return nil }
        var out: [Int] = []
        for item in items {
            guard case .int(let i) = item else { return nil }
            out.append(i)
        }
        return out
    }

    // MARK: Stack and operands

    private func malformed(_ reason: String) -> WeightsError { .malformedPickle(offset: opStart, reason: reason) }

    private mutating func pop() throws(WeightsError) -> PickleValue {
        guard stack.count > (marks.last ?? 0) else { throw malformed("stack underflow") }
        return stack.removeLast()
    }

    private func top() throws(WeightsError) -> PickleValue {
        guard let value = stack.last, stack.count > (marks.last ?? 0) else { throw malformed("stack underflow") }
        return value
    }

    private mutating func popMark() throws(WeightsError) -> [PickleValue] {
        guard let m = marks.popLast() else { throw malformed("no MARK on the stack") }
        let items = Array(stack[m...])
        stack.removeSubrange(m...)
        return items
    }

    private mutating func setItems(_ dict: PickleDict, _ flat: [PickleValue]) throws(WeightsError) {
        guard flat.count % 2 == 0 else { throw malformed("odd number of values for dict items") }
        for i in stride(from: 0, to: flat.count, by: 2) { try set(dict, flat[i], flat[i + 1]) }
    }

    private func memoValue(_ key: Int) throws(WeightsError) -> PickleValue {
        guard let value = memo[key] else { throw malformed("memo key \(key) was never stored") }
        return value
    }

    private mutating func byte() throws(WeightsError) -> UInt8 {
        guard position < bytes.count else { throw .truncatedPickle(offset: bytes.count) }
        defer { position += 1 }
        return bytes[bytes.startIndex + position]
    }

    private mutating func take(_ n: Int) throws(WeightsError) -> Data {
        guard n >= 0, n <= bytes.count - position else { throw .truncatedPickle(offset: bytes.count) }
        defer { position += n }
        return bytes.slice(position, n)
    }

    /// An unsigned little-endian integer of `n` bytes.
    private mutating func uint(_ n: Int) throws(WeightsError) -> UInt64 {
        try take(n).reversed().reduce(0) { $0 << 8 | UInt64($1) }
    }

    /// A length operand of `n` bytes; lengths past the end of the input are truncation.
    private mutating func length(_ n: Int) throws(WeightsError) -> Int {
        let v = try uint(n)
        guard v <= UInt64(bytes.count) else { throw .truncatedPickle(offset: bytes.count) }
        return Int(v)
    }

    /// A two's-complement little-endian integer of `n` bytes (LONG1 / LONG4).
    private mutating func long(_ n: Int) throws(WeightsError) -> PickleValue {
        let raw = Array(try take(n))
        guard let last = raw.last else { return .int(0) }
        let fill: UInt8 = last & 0x80 != 0 ? 0xFF : 0
        if raw.count > 8, raw[8...].contains(where: { $0 != fill }) || (raw[7] & 0x80) != (fill & 0x80) {
            return .bigInt(raw)
        }
        var v: UInt64 = 0
        for i in (0..<8).reversed() { v = v << 8 | UInt64(i < raw.count ? raw[i] : fill) }
        return .int(Int(Int64(bitPattern: v)))
    }

    private mutating func utf8(_ n: Int) throws(WeightsError) -> String {
        guard let s = String(bytes: try take(n), encoding: .utf8) else { throw malformed("string is not valid UTF-8") }
        return s
    }

    private func latin1(_ raw: Data) -> String {
        String(String.UnicodeScalarView(raw.map { Unicode.Scalar($0) }))
    }

    /// A newline-terminated ASCII operand of the text opcodes.
    private mutating func line() throws(WeightsError) -> String {
        guard let newline = bytes[(bytes.startIndex + position)...].firstIndex(of: UInt8(ascii: "\n")) else {
            throw .truncatedPickle(offset: bytes.count)
        }
        let end = newline - bytes.startIndex
        defer { position = end + 1 }
        return latin1(bytes.slice(position, end - position))
    }

    private mutating func lineInt() throws(WeightsError) -> Int {
        let text = try line()
        guard let v = Int(text) else { throw malformed("bad memo key '\(text)'") }
        return v
    }
}
