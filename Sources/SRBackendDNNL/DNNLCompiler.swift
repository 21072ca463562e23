internal import CDNNL
import SRCore
import SRBackendReference

/// A post-op fused into a convolution: element-wise math or a second operand.
enum PostOp {
    case eltwise(dnnl_alg_kind_t, Float, Float)
    case binary(dnnl_alg_kind_t, ValueID)
    case prelu([Float])

    init(_ a: Activation) {
        switch a {
        case .relu: self = .eltwise(dnnl_eltwise_relu, 0, 0)
        case .leakyRelu(let s): self = .eltwise(dnnl_eltwise_relu, s, 0)
        case .prelu(let s): self = s.count == 1 ? .eltwise(dnnl_eltwise_relu, s[0], 0) : .prelu(s)
        case .sigmoid: self = .eltwise(dnnl_eltwise_logistic, 0, 0)
        case .swish: self = .eltwise(dnnl_eltwise_swish, 1, 0)
        case .clip(let lo, let hi): self = .eltwise(dnnl_eltwise_clip, lo, hi)
        case .linear(let k, let b): self = .eltwise(dnnl_eltwise_linear, k, b)
        case .gelu(let approximate): self = .eltwise(approximate ? dnnl_eltwise_gelu_tanh : dnnl_eltwise_gelu_erf, 0, 0)
        }
    }

    /// Whether oneDNN 2.6's Winograd kernel accepts this post-op (plain ReLU only; no leaky slope, no operands).
    var winogradFusable: Bool {
        if case .eltwise(let alg, let alpha, _) = self { alg == dnnl_eltwise_relu && alpha == 0 } else { false }
    }
}

/// Where a memory object's bytes live: a planned arena slot (values and temporaries) or a permanent buffer.
enum Ref: Hashable {
    case value(ValueID)
    case temp(Int)
    case permanent(Int)
}

struct FusionFailed: Error {}

/// Lowers a graph to oneDNN primitives and plans its buffers.
///
/// Each node (or fused chain) is one *step*. A fused chain is a convolution followed by single-consumer element-wise
/// nodes (activations, `+ other`, `* other`, weighted sums); it runs at the position of its last node, so every
/// second operand already exists. Buffers are assigned by simulating the steps: a value's slot is freed after its last
/// reader, and element-wise steps may write in place over an input that dies there.
struct DNNLCompiler {
    let graph: Graph
    let shapes: [Shape]
    let algorithm: DNNLBackend.ConvolutionAlgorithm
    let precision: DNNLBackend.Precision
    /// Element type of convolution inputs, weights and outputs (and so of most activations).
    var computeType: dnnl_data_type_t { precision == .bf16 ? dnnl_bf16 : dnnl_f32 }

    var md: [ValueID: dnnl_memory_desc_t] = [:]
    var refSize: [Ref: Int] = [:]
    var defined: [[Ref]] = [[]]
    var lastUse: [Ref: Int] = [:]
    var inPlace: [Ref: Ref] = [:]
    var bindings: [(Memory, Ref)] = []
    var permanent: [AlignedBuffer] = []
    var scratchBindings: [Memory] = []
    var scratchSize = 0
    var actions: [Action] = []
    var step = 0
    var temps = 0
    /// Values and concatenations that live inside a shared concatenation buffer (see `planConcatGroups`): the
    /// buffer's ref, the byte offset of the value's first channel block, and the layout the value must have there.
    var aliases: [Ref: (base: Ref, offset: Int, desc: dnnl_memory_desc_t)] = [:]
    /// Concatenation buffers already defined (at the step of their first member).
    var definedBases: Set<Ref> = []
    /// Weights laid out by earlier executables of the same model.
    var weightCache: WeightCache?
    /// The largest scratchpad a Winograd convolution may use; larger ones run direct (`CompileLimits`).
    var scratchpadLimit = DNNLBackend.winogradScratchpadLimit
    /// With a row extension (`rowExtension`): the shapes the caller compiled for, while `shapes` are those the
    /// primitives run at, a few zero rows taller. Nil: no extension.
    var validShapes: [Shape]?
    /// Zero buffers read by `zeroExtension`, by dimensions and type.
    var zeroBuffers: [String: Memory] = [:]

    init(graph: Graph, shapes: [Shape], algorithm: DNNLBackend.ConvolutionAlgorithm, precision: DNNLBackend.Precision = .fp32) {
        self.graph = graph
        self.shapes = shapes
        self.algorithm = algorithm
        self.precision = precision
    }

    // MARK: - Driver

    mutating func compile() throws -> DNNLExecutable {
        let uses = graph.useCounts()
        var consumers = [[ValueID]](repeating: [], count: graph.nodes.count)
        for (id, node) in graph.nodes.enumerated() { for i in Set(node.inputs) { consumers[i].append(id) } }

        // Fusion plan: head -> (post-ops, tail), and which nodes are absorbed.
        var chains: [ValueID: (ops: [PostOp], tail: ValueID, absorbed: [ValueID])] = [:]
        var absorbedBy: [ValueID: ValueID] = [:]
        // Opt-in: only convolution heads start chains (`lowerHead`); any other op, new ones included, runs on its own.
        for (id, node) in graph.nodes.enumerated() where isChainHead(node) {
            let allowBinary: Bool = if case .linear = node.op { false } else { true }
            let chain = planChain(head: id, uses: uses, consumers: consumers, allowBinary: allowBinary)
            if !chain.absorbed.isEmpty {
                chains[id] = chain
                for a in chain.absorbed { absorbedBy[a] = id }
            }
        }
        var headAtTail: [ValueID: ValueID] = [:]
        for (head, chain) in chains { headAtTail[chain.tail] = head }

        if algorithm == .winograd, precision == .fp32 { try planConcatGroups() }

        var inputMemories: [Memory] = []
        for inputID in graph.inputs {
            // Host f32 (a bf16 input holds bf16-exact floats; readers reorder it to bf16 when they want it).
            let valid = validShapes?[inputID] ?? shapes[inputID]
            if valid == shapes[inputID] {
                let m = define(.value(inputID), try MD.host(shapes[inputID]))
                md[inputID] = m.desc
                inputMemories.append(m)
            } else {
                // The caller's rows go to the top of the taller value; the rows below are zero.
                let (_, host) = newTemp(try MD.host(valid))
                let m = define(.value(inputID), try MD.host(shapes[inputID]))
                md[inputID] = m.desc
                try reorder(from: host, to: view(.value(inputID), try MD.submemory(m.desc, dims: valid.dims, offsets: [0, 0, 0, 0])),
                            name: "input(\(graph.nodes[inputID].name))")
                try zeroExtension(inputID)
                inputMemories.append(host)
            }
        }

        for (id, node) in graph.nodes.enumerated() {
            if case .input = node.op { continue }
            if chains[id] != nil { continue }           // lowered at its tail
            step += 1
            defined.append([])
            if let head = headAtTail[id] {
                let chain = chains[head]!
                do {
                    try lowerHead(head, postOps: chain.ops, as: id)
                    try zeroExtension(id)
                } catch is FusionFailed {
                    // oneDNN has no fused kernel for this chain: run each node on its own.
                    try lowerHead(head, postOps: [], as: head)
                    try zeroExtension(head)
                    for k in chain.absorbed {
                        try lower(k)
                        try zeroExtension(k)
                    }
                }
            } else if absorbedBy[id] == nil {
                try lower(id)
                try zeroExtension(id)
            }
        }

        // Outputs in plain NCHW, kept alive to the end.
        step += 1
        defined.append([])
        var outputMemories: [Memory] = []
        for out in graph.outputs {
            // In the value's own element type first (a bf16 value computed in f32 is rounded here), then f32.
            let (ref, own) = try useRef(out, as: try MD.plain(shapes[out]))
            var m = own
            if let valid = validShapes?[out], valid != shapes[out] {
                // Only the caller's rows leave a row-extended executable.
                let (_, host) = newTemp(try MD.host(valid))
                try reorder(from: view(ref, try MD.submemory(own.desc, dims: valid.dims, offsets: [Int](repeating: 0, count: valid.rank))),
                            to: host, name: "output(\(graph.nodes[out].name))")
                m = host
            } else if shapes[out].elementType != .f32 {
                let (_, host) = newTemp(try MD.host(shapes[out]))
                try reorder(from: m, to: host, name: "output(\(graph.nodes[out].name))")
                m = host
            }
            for (bound, ref) in bindings where bound === m { lastUse[ref] = Int.max }
            lastUse[.value(out)] = Int.max
            outputMemories.append(m)
        }

        let (storage, arena) = plan()
        let callerShapes = validShapes ?? shapes
        return DNNLExecutable(inputShapes: graph.inputs.map { callerShapes[$0] }, outputShapes: graph.outputs.map { callerShapes[$0] },
                              actions: actions, inputs: inputMemories, outputs: outputMemories,
                              storage: storage + permanent, arenaBytes: arena)
    }

    // MARK: - Row extension

    /// Zero rows below a graph's image inputs that make every Winograd-eligible 3x3 convolution's tiles split well,
    /// for a graph whose every op keeps rows apart (`Op.rowDependence`: same-padded stride-1 convolutions,
    /// element-wise ops, concatenations, integer nearest upsamplings, pixel shuffles). Nil when no convolution needs
    /// it or the graph cannot take it.
    ///
    /// The executable then runs `k` rows taller (times each value's upsampling) and sets the extra rows of every value
    /// back to zero after each step (`zeroExtension`): a convolution at the last real row reads zeros below it,
    /// exactly the zero padding it has in the caller's shape, so the real rows come out as they would without the
    /// extension (only Winograd's rounding differs). Unlike reflecting more of the image (what the Real-ESRGAN
    /// pipeline did before), it never changes the result.
    static func rowExtension(_ graph: Graph, inputShapes: [Shape], shapes: [Shape]) -> (rows: Int, shapes: [Shape])? {
        for node in graph.nodes {
            if case .input = node.op { continue }
            if case .constant(let t) = node.op {
                guard t.shape.rank == 4, t.shape.h == 1 else { return nil }
                continue
            }
            guard node.op.rowDependence != nil else { return nil }
        }
        func needs(_ shapes: [Shape]) -> Bool {
            graph.nodes.indices.contains { id in
                guard case .conv2d(let p) = graph.nodes[id].op else { return false }
                return winogradEligible(p, output: shapes[id]) && !DNNLBackend.winogradTilesSplitWell(shapes[id])
            }
        }
        guard needs(shapes) else { return nil }
        for k in 1...12 {
            let taller = inputShapes.map { s -> Shape in
                guard s.rank == 4, s.layout == .nchw, s.h > 1 else { return s }
                var t = s
                t.h += k
                return t
            }
            if let extended = try? graph.inferShapes(inputs: taller), !needs(extended) { return (k, extended) }
        }
        return nil
    }

    /// Sets the rows of value `v` below the caller's shape back to zero (nothing without a row extension).
    mutating func zeroExtension(_ v: ValueID) throws {
        guard let valid = validShapes?[v], valid.rank == 4, shapes[v].rank == 4, valid.h < shapes[v].h,
              let desc = md[v] else { return }
        let extra = [shapes[v].n, shapes[v].c, shapes[v].h - valid.h, shapes[v].w]
        let key = "\(extra)-\(desc.data_type.rawValue)"
        if zeroBuffers[key] == nil {
            zeroBuffers[key] = try permanentMemory(try MD.tagged(extra, dnnl_nchw, desc.data_type), data: [])
        }
        let target = view(ref(of: v), try MD.submemory(desc, dims: extra, offsets: [0, 0, valid.h, 0]))
        try reorder(from: zeroBuffers[key]!, to: target, name: "zero(\(graph.nodes[v].name))")
    }

    /// Whether `node` is lowered by `lowerHead` and may absorb a post-op chain: convolutions, transposed
    /// convolutions and image linear layers.
    func isChainHead(_ node: Node) -> Bool {
        if case .conv2d = node.op { return true }
        if case .deconv2d = node.op { return true }
        if case .linear(let l) = node.op { return DNNLCompiler.isImageLinear(l, input: shapes[node.inputs[0]]) }
        return false
    }

    func planChain(head: ValueID, uses: [Int], consumers: [[ValueID]], allowBinary: Bool)
        -> (ops: [PostOp], tail: ValueID, absorbed: [ValueID]) {
        var v = head
        var ops: [PostOp] = []
        var absorbed: [ValueID] = []
        loop: while uses[v] == 1, !graph.outputs.contains(v), let k = consumers[v].first {
            let node = graph.nodes[k]
            // Opt-in: activations, binaries and two-term weighted sums join the chain; anything else ends it (always
            // correct, so a new op needs no decision here).
            if case .activation(let a) = node.op {
                ops.append(PostOp(a))
            } else if case .binary(let b) = node.op, allowBinary {
                let first = node.inputs[0] == v
                let other = first ? node.inputs[1] : node.inputs[0]
                guard other != v, shapes[k] == shapes[v] else { break loop }
                let alg: dnnl_alg_kind_t
                switch b {
                case .add: alg = dnnl_binary_add
                case .mul: alg = dnnl_binary_mul
                case .max: alg = dnnl_binary_max
                case .min: alg = dnnl_binary_min
                case .sub: if first { alg = dnnl_binary_sub } else { break loop }
                case .div: if first { alg = dnnl_binary_div } else { break loop }
                }
                ops.append(.binary(alg, other))
            } else if case .weightedSum(let c) = node.op, allowBinary, c.count == 2 {
                let first = node.inputs[0] == v
                let other = first ? node.inputs[1] : node.inputs[0]
                guard other != v else { break loop }
                let kv = first ? c[0] : c[1], ko = first ? c[1] : c[0]
                guard ko != 0 else { break loop }
                if ko == 1 {
                    if kv != 1 { ops.append(.eltwise(dnnl_eltwise_linear, kv, 0)) }
                    ops.append(.binary(dnnl_binary_add, other))
                } else {
                    ops.append(.eltwise(dnnl_eltwise_linear, kv / ko, 0))
                    ops.append(.binary(dnnl_binary_add, other))
                    ops.append(.eltwise(dnnl_eltwise_linear, ko, 0))
                }
            } else {
                break loop
            }
            absorbed.append(k)
            v = k
        }
        return (ops, v, absorbed)
    }

    // MARK: - Memory bookkeeping

    mutating func define(_ ref: Ref, _ desc: dnnl_memory_desc_t) -> Memory {
        let m = try! Memory(desc: desc, pointer: nil)
        if let a = aliases[ref] {
            if MD.equal(a.desc, desc) {
                // Written straight into its slice of the concatenation buffer, which lives from its first member on.
                if definedBases.insert(a.base).inserted {
                    defined[step].append(a.base)
                    lastUse[a.base] = step
                } else {
                    lastUse[a.base] = max(lastUse[a.base] ?? step, step)
                }
                bindings.append((m, ref))
                return m
            }
            // Another layout (e.g. nhwc from a direct kernel): its own buffer; the concatenation copies it.
            aliases[ref] = nil
        }
        refSize[ref] = max(refSize[ref] ?? 0, MD.size(desc))
        defined[step].append(ref)
        lastUse[ref] = step
        bindings.append((m, ref))
        return m
    }

    mutating func view(_ ref: Ref, _ desc: dnnl_memory_desc_t) -> Memory {
        let m = try! Memory(desc: desc, pointer: nil)
        if let a = aliases[ref] {
            lastUse[a.base] = max(lastUse[a.base] ?? step, step)
        } else if case .permanent = ref {} else { lastUse[ref] = max(lastUse[ref] ?? step, step) }
        bindings.append((m, ref))
        return m
    }

    mutating func newTemp(_ desc: dnnl_memory_desc_t) -> (Ref, Memory) {
        temps += 1
        let ref = Ref.temp(temps)
        return (ref, define(ref, desc))
    }

    func ref(of v: ValueID) -> Ref { constantRefs[v] ?? .value(v) }
    var constantRefs: [ValueID: Ref] = [:]

    /// A memory object reading value `v`, reordered into `wanted` when its layout differs.
    mutating func use(_ v: ValueID, as wanted: dnnl_memory_desc_t? = nil) throws -> Memory {
        try useRef(v, as: wanted).1
    }

    /// Like `use`, also returning where the bytes live, for further views of them.
    mutating func useRef(_ v: ValueID, as wanted: dnnl_memory_desc_t? = nil) throws -> (Ref, Memory) {
        let have = md[v]!
        let source = view(ref(of: v), have)
        guard let wanted, !MD.equal(have, wanted) else { return (ref(of: v), source) }
        let (tempRef, target) = newTemp(wanted)
        try reorder(from: source, to: target, name: "reorder(\(graph.nodes[v].name))")
        return (tempRef, target)
    }

    mutating func output(_ v: ValueID, _ desc: dnnl_memory_desc_t, inPlaceOf input: ValueID? = nil) -> Memory {
        md[v] = desc
        let m = define(.value(v), desc)
        if let input, aliases[.value(v)] == nil, aliases[.value(input)] == nil, case .value = ref(of: input),
           MD.equal(md[input]!, desc) {
            inPlace[.value(v)] = .value(input)
        }
        return m
    }

    mutating func permanentMemory(_ desc: dnnl_memory_desc_t, data: [Float]) throws -> Memory {
        let buffer = AlignedBuffer(size: MD.size(desc))
        if !data.isEmpty {
            data.withUnsafeBytes { buffer.pointer.copyMemory(from: $0.baseAddress!, byteCount: min($0.count, buffer.size)) }
        }
        permanent.append(buffer)
        return try Memory(desc: desc, pointer: buffer.pointer)
    }

    /// Copies plain `data` (described by `plain`) into a permanent buffer laid out as `wanted`.
    mutating func weights(_ data: [Float], plain: dnnl_memory_desc_t, wanted: dnnl_memory_desc_t) throws -> Memory {
        if let cache = weightCache {
            if let shared = cache.lookup(data, wanted) {
                permanent.append(shared)
                return try Memory(desc: wanted, pointer: shared.pointer)
            }
            let memory = try laidOut(data, plain: plain, wanted: wanted)
            cache.insert(data, wanted, permanent[permanent.count - 1])
            return memory
        }
        return try laidOut(data, plain: plain, wanted: wanted)
    }

    /// `weights` without the cache; the result's buffer is the last of `permanent`.
    private mutating func laidOut(_ data: [Float], plain: dnnl_memory_desc_t, wanted: dnnl_memory_desc_t) throws -> Memory {
        if MD.equal(plain, wanted) { return try permanentMemory(plain, data: data) }
        let staging = AlignedBuffer(size: MD.size(plain))
        data.withUnsafeBytes { staging.pointer.copyMemory(from: $0.baseAddress!, byteCount: min($0.count, staging.size)) }
        let source = try Memory(desc: plain, pointer: staging.pointer)
        let target = try permanentMemory(wanted, data: [])
        let pd = try reorderDescriptor(source.desc, target.desc)
        let p = try Primitive(descriptor: pd.handle, name: "weights reorder")
        let args = [dnnl_exec_arg_t(arg: DNNL_ARG_FROM, memory: source.handle),
                    dnnl_exec_arg_t(arg: DNNL_ARG_TO, memory: target.handle)]
        try check(dnnl_primitive_execute(p.handle, DNNLContext.shared.stream, 2, args), "weights reorder")
        try check(dnnl_stream_wait(DNNLContext.shared.stream), "dnnl_stream_wait")
        return target
    }

    func reorderDescriptor(_ from: dnnl_memory_desc_t, _ to: dnnl_memory_desc_t) throws -> PrimitiveDescriptor {
        var pd: dnnl_primitive_desc_t?
        var a = from, b = to
        let engine = DNNLContext.shared.engine
        try check(dnnl_reorder_primitive_desc_create(&pd, &a, engine, &b, engine, nil), "dnnl_reorder_primitive_desc_create")
        return PrimitiveDescriptor(pd!)
    }

    mutating func reorder(from: Memory, to: Memory, name: String) throws {
        let pd = try reorderDescriptor(from.desc, to.desc)
        let p = try Primitive(descriptor: pd.handle, name: name)
        actions.append(.primitive(p, [(DNNL_ARG_FROM, from), (DNNL_ARG_TO, to)]))
    }

    /// Creates the primitive, binds the shared scratchpad and appends the action.
    mutating func emit(_ pd: PrimitiveDescriptor, name: String, args: [(Int32, Memory)]) throws {
        let p = try Primitive(descriptor: pd.handle, name: name)
        var all = args
        let scratch = pd.scratchpad
        let size = MD.size(scratch)
        if size > 0 {
            scratchSize = max(scratchSize, size)
            let m = try Memory(desc: scratch, pointer: nil)
            scratchBindings.append(m)
            all.append((DNNL_ARG_SCRATCHPAD, m))
        }
        actions.append(.primitive(p, all))
    }

    // MARK: - Concatenation buffers

    /// Dense blocks (RRDBNet's `cat(x, c1)`, `cat(x, c1, c2)`, ...) without copies.
    ///
    /// For one image in nChw16c, channel block `k` of a tensor is one contiguous run of memory after block `k - 1`,
    /// so a concatenation of 16-multiple channel counts is its inputs laid end to end, and any prefix of it is a
    /// dense tensor of its own. Concatenations whose input lists are prefixes of one longest list form a group with
    /// one buffer: each input is written by its producer straight into its slice, and every concatenation of the
    /// group is a prefix view of the buffer. A value takes one place in one group; a producer that picks another
    /// layout (`define` checks) keeps its own buffer and the concatenation copies it.
    mutating func planConcatGroups() throws {
        let inputIDs = Set(graph.inputs), outputIDs = Set(graph.outputs)
        var roots: [[ValueID]] = []          // each group's longest input list
        var groupOf: [ValueID: Int] = [:]    // concatenation -> group
        for (id, node) in graph.nodes.enumerated() {
            guard case .concat = node.op, shapes[id].n == 1, !outputIDs.contains(id),
                  Set(node.inputs).count == node.inputs.count,
                  node.inputs.allSatisfy({ shapes[$0].c % 16 == 0 && !inputIDs.contains($0) && !outputIDs.contains($0) }),
                  node.inputs.allSatisfy({ if case .constant = graph.nodes[$0].op { false } else { true } })
            else { continue }
            if let g = roots.firstIndex(where: { $0.starts(with: node.inputs) || node.inputs.starts(with: $0) }) {
                if node.inputs.count > roots[g].count { roots[g] = node.inputs }
                groupOf[id] = g
            } else {
                roots.append(node.inputs)
                groupOf[id] = roots.count - 1
            }
        }
        var placed = Set<ValueID>()
        var bases: [Ref] = []
        for root in roots {
            temps += 1
            let base = Ref.temp(temps)
            bases.append(base)
            let total = root.reduce(0) { $0 + shapes[$1].c }
            let full = shapes[root[0]]
            refSize[base] = try MD.size(MD.tagged([1, total, full.h, full.w], dnnl_nChw16c))
            var channel = 0
            for v in root {
                let s = shapes[v]
                if placed.insert(v).inserted {
                    aliases[.value(v)] = (base, channel * s.h * s.w * 4, try MD.tagged(s.dims, dnnl_nChw16c))
                }
                channel += s.c
            }
        }
        for (id, g) in groupOf {
            aliases[.value(id)] = (bases[g], 0, try MD.tagged(shapes[id].dims, dnnl_nChw16c))
        }
    }

    /// Whether value `v` already sits in the concatenation buffer of `concat` at channel `channel`.
    func isInPlace(_ v: ValueID, in concat: ValueID, channel: Int) -> Bool {
        guard let a = aliases[.value(v)], let c = aliases[.value(concat)], a.base == c.base else { return false }
        let s = shapes[v]
        return a.offset == channel * s.h * s.w * 4
    }

    // MARK: - Buffer plan

    /// Assigns arena slots by simulating the steps, allocates them and binds every memory object.
    mutating func plan() -> ([AlignedBuffer], Int) {
        var capacity: [Int] = []
        var owner: [Ref?] = []
        var free: [Int] = []
        var slotOf: [Ref: Int] = [:]
        var dying: [Int: [Ref]] = [:]
        for (ref, last) in lastUse where last != Int.max { dying[last, default: []].append(ref) }

        for s in 0..<defined.count {
            for ref in defined[s] where slotOf[ref] == nil {
                let size = refSize[ref]!
                if let src = inPlace[ref], lastUse[src] == s, let slot = slotOf[src], owner[slot] == src,
                   capacity[slot] >= size {
                    slotOf[ref] = slot
                    owner[slot] = ref
                    continue
                }
                let fitting = free.filter { capacity[$0] >= size }.min { capacity[$0] < capacity[$1] }
                let slot: Int
                if let fitting {
                    slot = fitting
                } else if let largest = free.max(by: { capacity[$0] < capacity[$1] }) {
                    slot = largest
                    capacity[slot] = size
                } else {
                    capacity.append(size)
                    owner.append(nil)
                    slot = capacity.count - 1
                }
                free.removeAll { $0 == slot }
                slotOf[ref] = slot
                owner[slot] = ref
            }
            for ref in dying[s] ?? [] {
                if let slot = slotOf[ref], owner[slot] == ref {
                    owner[slot] = nil
                    free.append(slot)
                }
            }
        }
        let buffers = capacity.map { AlignedBuffer(size: $0) }
        for (m, ref) in bindings {
            switch ref {
            case .permanent(let i): dnnl_memory_set_data_handle(m.handle, permanent[i].pointer)
            default:
                if let a = aliases[ref] {
                    dnnl_memory_set_data_handle(m.handle, buffers[slotOf[a.base]!].pointer + a.offset)
                } else {
                    dnnl_memory_set_data_handle(m.handle, buffers[slotOf[ref]!].pointer)
                }
            }
        }
        var all = buffers
        if scratchSize > 0 {
            let scratch = AlignedBuffer(size: scratchSize)
            for m in scratchBindings { dnnl_memory_set_data_handle(m.handle, scratch.pointer) }
            all.append(scratch)
        }
        return (all, capacity.reduce(0, +) + scratchSize)
    }
}
