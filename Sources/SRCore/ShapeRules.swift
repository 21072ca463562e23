/// Output-shape rules, one per op.
public enum ShapeRules {
    public static func output(of node: Node, inputs s: [Shape]) throws(GraphError) -> Shape {
        let op = node.op
        func arity(_ n: Int) throws(GraphError) {
            if s.count != n { throw .arity(node: node.name, op: op.kind, expected: "\(n)", actual: s.count) }
        }
        func fail(_ detail: String) -> GraphError { .shapeMismatch(node: node.name, op: op.kind, detail: detail) }
        /// Image ops read rank-4 NCHW values only.
        func images() throws(GraphError) {
            for x in s where x.rank != 4 || x.layout != .nchw { throw fail("expects an NCHW image, got \(x)") }
        }
        /// Multi-input ops take one element type.
        func sameType() throws(GraphError) {
            for x in s where x.elementType != s[0].elementType {
                throw fail("inputs differ in element type: \(s[0].elementType) vs \(x.elementType)")
            }
        }

        switch op {
        case .input:
            throw fail("input shapes come from the caller")
        case .constant(let t):
            try arity(0)
            return t.shape
        case .conv2d(let p):
            try arity(1)
            try images()
            let x = s[0]
            guard x.c == p.inChannels else { throw fail("expects \(p.inChannels) input channels, got \(x.c)") }
            guard p.outChannels % p.groups == 0, p.groups >= 1 else { throw fail("bad groups \(p.groups)") }
            if let b = p.bias, b.count != p.outChannels { throw fail("bias has \(b.count) values, expected \(p.outChannels)") }
            let eh = (p.kernelH - 1) * p.dilationH + 1, ew = (p.kernelW - 1) * p.dilationW + 1
            let oh = (x.h + p.padding.top + p.padding.bottom - eh) / p.strideH + 1
            let ow = (x.w + p.padding.left + p.padding.right - ew) / p.strideW + 1
            guard oh > 0, ow > 0, x.h + p.padding.top + p.padding.bottom >= eh,
                  x.w + p.padding.left + p.padding.right >= ew else {
                throw fail("input \(x) is smaller than the \(p.kernelH)x\(p.kernelW) kernel")
            }
            if case .prelu(let sl)? = p.activation, sl.count != 1, sl.count != p.outChannels {
                throw fail("prelu has \(sl.count) slopes for \(p.outChannels) channels")
            }
            return Shape(n: x.n, c: p.outChannels, h: oh, w: ow, elementType: x.elementType)
        case .deconv2d(let p):
            try arity(1)
            try images()
            let x = s[0]
            guard x.c == p.inChannels else { throw fail("expects \(p.inChannels) input channels, got \(x.c)") }
            let oh = (x.h - 1) * p.strideH + (p.kernelH - 1) * p.dilationH + 1 - p.padding.top - p.padding.bottom + p.outputPaddingH
            let ow = (x.w - 1) * p.strideW + (p.kernelW - 1) * p.dilationW + 1 - p.padding.left - p.padding.right + p.outputPaddingW
            guard oh > 0, ow > 0 else { throw fail("output would be empty for input \(x)") }
            return Shape(n: x.n, c: p.outChannels, h: oh, w: ow, elementType: x.elementType)
        case .activation(let a):
            try arity(1)
            if case .prelu(let sl) = a, sl.count != 1 {
                guard s[0].rank >= 2, sl.count == s[0].dims[1] else {
                    throw fail("prelu has \(sl.count) slopes for \(s[0]) (channels are axis 1)")
                }
            }
            return s[0]
        case .binary:
            try arity(2)
            try sameType()
            return try broadcast(s[0], s[1], fail)
        case .weightedSum(let coeffs):
            guard s.count == coeffs.count, s.count >= 1 else {
                throw .arity(node: node.name, op: op.kind, expected: "\(coeffs.count)", actual: s.count)
            }
            for x in s where x != s[0] { throw fail("inputs differ in shape: \(s[0]) vs \(x)") }
            return s[0]
        case .concat:
            guard s.count >= 1 else { throw .arity(node: node.name, op: op.kind, expected: ">= 1", actual: 0) }
            try images()
            try sameType()
            for x in s where x.n != s[0].n || x.h != s[0].h || x.w != s[0].w {
                throw fail("inputs differ outside the channel axis: \(s[0]) vs \(x)")
            }
            return Shape(n: s[0].n, c: s.reduce(0) { $0 + $1.c }, h: s[0].h, w: s[0].w, elementType: s[0].elementType)
        case .crop(let c):
            try arity(1)
            try images()
            let x = s[0]
            let rc = c.range(axis: 0, size: x.c), rh = c.range(axis: 1, size: x.h), rw = c.range(axis: 2, size: x.w)
            guard !rc.isEmpty, !rh.isEmpty, !rw.isEmpty else { throw fail("crop leaves nothing of \(x)") }
            return Shape(n: x.n, c: rc.count, h: rh.count, w: rw.count, elementType: x.elementType)
        case .pixelShuffle(let r, _):
            try arity(1)
            try images()
            guard r >= 1, s[0].c % (r * r) == 0 else { throw fail("\(s[0].c) channels not divisible by \(r * r)") }
            return Shape(n: s[0].n, c: s[0].c / (r * r), h: s[0].h * r, w: s[0].w * r, elementType: s[0].elementType)
        case .pixelUnshuffle(let r):
            try arity(1)
            try images()
            guard r >= 1, s[0].h % r == 0, s[0].w % r == 0 else { throw fail("\(s[0]) not divisible by \(r)") }
            return Shape(n: s[0].n, c: s[0].c * r * r, h: s[0].h / r, w: s[0].w / r, elementType: s[0].elementType)
        case .resize(let r):
            try arity(1)
            try images()
            let (oh, ow) = r.outputSize(h: s[0].h, w: s[0].w)
            guard oh > 0, ow > 0 else { throw fail("resize of \(s[0]) gives an empty image") }
            return Shape(n: s[0].n, c: s[0].c, h: oh, w: ow, elementType: s[0].elementType)
        case .pool(let p):
            try arity(1)
            try images()
            let x = s[0]
            if p.global { return Shape(n: x.n, c: x.c, h: 1, w: 1, elementType: x.elementType) }
            let oh = (x.h + p.padding.top + p.padding.bottom - p.kernelH) / p.strideH + 1
            let ow = (x.w + p.padding.left + p.padding.right - p.kernelW) / p.strideW + 1
            guard oh > 0, ow > 0 else { throw fail("input \(x) smaller than the pooling window") }
            return Shape(n: x.n, c: x.c, h: oh, w: ow, elementType: x.elementType)
        case .linear(let l):
            try arity(1)
            let x = s[0]
            if let b = l.bias, b.count != l.outFeatures { throw fail("bias has \(b.count) values, expected \(l.outFeatures)") }
            guard l.weight.dims.count == 2 else { throw fail("weight must be [out, in], got \(l.weight.dims)") }
            switch l.input {
            case .flattened:
                let features = x.count / x.n
                guard features == l.inFeatures else {
                    throw fail("expects \(l.inFeatures) features, got \(features) from \(x)")
                }
                return Shape(n: x.n, c: l.outFeatures, h: 1, w: 1, elementType: x.elementType)
            case .lastAxis:
                guard x[-1] == l.inFeatures else { throw fail("expects \(l.inFeatures) features on the last axis, got \(x)") }
                var out = x
                out[-1] = l.outFeatures
                return out
            }
        case .batchNorm(let b):
            try arity(1)
            try images()
            let x = s[0]
            guard b.beta.count == b.channels, b.runningMean.count == b.channels, b.runningVar.count == b.channels,
                  x.c == b.channels else {
                throw fail("\(b.channels) scales, \(b.beta.count) shifts, \(b.runningMean.count)/\(b.runningVar.count) running statistics for input \(x)")
            }
            return x
        case .matmul(let m):
            try arity(2)
            try sameType()
            let a = s[0], b = s[1]
            guard a.rank >= 2, b.rank >= 2 else { throw fail("operands must have rank >= 2, got \(a) and \(b)") }
            let k = a[-1], bk = m.transposeB ? b[-1] : b[-2], cols = m.transposeB ? b[-2] : b[-1]
            guard k == bk else { throw fail("inner sizes differ: \(a) x \(b)\(m.transposeB ? " transposed" : "")") }
            let batch = try broadcastDims(Array(a.dims.dropLast(2)), Array(b.dims.dropLast(2))) {
                fail("cannot broadcast the batch axes of \(a) and \(b)")
            }
            let dims = batch + [a[-2], cols]
            guard dims.count <= Shape.maximumRank else { throw fail("result rank \(dims.count) exceeds 6") }
            return Shape(dims, layout: .plain, elementType: a.elementType)
        case .layerNorm(let p):
            try arity(1)
            guard s[0][-1] == p.features else { throw fail("normalises \(p.features) features; the last axis of \(s[0]) differs") }
            return s[0]
        case .softmax(let axis):
            try arity(1)
            guard axis >= -s[0].rank, axis < s[0].rank else { throw fail("axis \(axis) is out of range for \(s[0])") }
            return s[0]
        case .reshape(let r):
            try arity(1)
            let x = s[0]
            guard (1...Shape.maximumRank).contains(r.dims.count) else { throw fail("target rank \(r.dims.count) is outside 1...6") }
            var dims = [Int]()
            var inferred: Int?
            for (i, d) in r.dims.enumerated() {
                switch d {
                case 0:
                    guard i < x.rank else { throw fail("0 at index \(i) copies no axis of \(x)") }
                    dims.append(x.dims[i])
                case -1:
                    guard inferred == nil else { throw fail("more than one -1 in \(r.dims)") }
                    inferred = i
                    dims.append(1)
                case let d where d > 0: dims.append(d)
                default: throw fail("bad size \(d) in \(r.dims)")
                }
            }
            let known = dims.reduce(1, *)
            if let i = inferred {
                guard known > 0, x.count % known == 0 else { throw fail("cannot infer -1: \(x) into \(r.dims)") }
                dims[i] = x.count / known
            }
            guard dims.reduce(1, *) == x.count else { throw fail("\(x) has \(x.count) values, \(dims) holds \(dims.reduce(1, *))") }
            let layout = r.layout ?? Shape.defaultLayout(rank: dims.count)
            guard layout.rank == nil || layout.rank == dims.count else { throw fail("layout \(layout) does not fit \(dims)") }
            return Shape(dims, layout: layout, elementType: x.elementType)
        case .permute(let p):
            try arity(1)
            let x = s[0]
            guard p.order.count == x.rank, Set(p.order) == Set(0..<x.rank) else {
                throw fail("order \(p.order) is not a permutation of the \(x.rank) axes of \(x)")
            }
            let layout = p.layout ?? Shape.defaultLayout(rank: x.rank)
            guard layout.rank == nil || layout.rank == x.rank else { throw fail("layout \(layout) does not fit rank \(x.rank)") }
            return Shape(p.order.map { x.dims[$0] }, layout: layout, elementType: x.elementType)
        case .roll(let r):
            try arity(1)
            guard r.shifts.count == r.axes.count else { throw fail("\(r.shifts.count) shifts for \(r.axes.count) axes") }
            for a in r.axes where a < -s[0].rank || a >= s[0].rank { throw fail("axis \(a) is out of range for \(s[0])") }
            return s[0]
        case .windowPartition(let size):
            try arity(1)
            let x = s[0]
            guard x.rank == 4, x.layout == .nhwc else { throw fail("expects a channels-last [n, h, w, c] image, got \(x)") }
            guard size >= 1, x.dims[1] % size == 0, x.dims[2] % size == 0 else {
                throw fail("\(x.dims[1])x\(x.dims[2]) is not a multiple of the window \(size)")
            }
            let windows = x.dims[0] * (x.dims[1] / size) * (x.dims[2] / size)
            return Shape([windows, size * size, x.dims[3]], layout: .tokens, elementType: x.elementType)
        case .windowReverse(let size):
            try arity(2)
            let x = s[0], like = s[1]
            guard like.rank == 4, like.layout == .nhwc else { throw fail("the image shape must be channels-last [n, h, w, c], got \(like)") }
            guard size >= 1, like.dims[1] % size == 0, like.dims[2] % size == 0 else {
                throw fail("\(like.dims[1])x\(like.dims[2]) is not a multiple of the window \(size)")
            }
            let windows = like.dims[0] * (like.dims[1] / size) * (like.dims[2] / size)
            guard x.dims == [windows, size * size, like.dims[3]] else {
                throw fail("\(x) are not the \(windows) windows of \(size)x\(size) of \(like)")
            }
            return like.with(elementType: x.elementType)
        case .slice(let p):
            try arity(1)
            let x = s[0]
            guard p.axis >= -x.rank, p.axis < x.rank, p.step >= 1, p.start >= 0 else { throw fail("bad slice \(p) of \(x)") }
            let end = min(p.end, x[p.axis])
            guard p.start < end else { throw fail("slice \(p.start)..<\(p.end) of an axis of \(x[p.axis]) is empty") }
            var out = x
            out[p.axis] = (end - p.start + p.step - 1) / p.step
            return out
        case .convert(let type):
            try arity(1)
            return s[0].with(elementType: type)
        }
    }

    /// NumPy broadcasting of two dimension lists, aligned at the end.
    static func broadcastDims(_ a: [Int], _ b: [Int], _ fail: () -> GraphError) throws(GraphError) -> [Int] {
        let rank = max(a.count, b.count)
        let pa = [Int](repeating: 1, count: rank - a.count) + a, pb = [Int](repeating: 1, count: rank - b.count) + b
        var out = [Int]()
        for (x, y) in zip(pa, pb) {
            if x == y || y == 1 { out.append(x) } else if x == 1 { out.append(y) } else { throw fail() }
        }
        return out
    }

    /// NumPy broadcasting, aligned at the last axis: sizes must match or one of them be 1. The result takes the
    /// layout of the operand of higher rank (the first on a tie).
    static func broadcast(_ a: Shape, _ b: Shape, _ fail: (String) -> GraphError) throws(GraphError) -> Shape {
        let dims = try broadcastDims(a.dims, b.dims) { fail("cannot broadcast \(a) with \(b)") }
        let layout = b.rank > a.rank ? b.layout : a.layout
        return Shape(dims, layout: layout, elementType: a.elementType)
    }
}
