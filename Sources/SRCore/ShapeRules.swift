/// Output-shape rules, one per op.
public enum ShapeRules {
    public static func output(of node: Node, inputs s: [Shape]) throws(GraphError) -> Shape {
        let op = node.op
        func arity(_ n: Int) throws(GraphError) {
            if s.count != n { throw .arity(node: node.name, op: op.kind, expected: "\(n)", actual: s.count) }
        }
        func fail(_ detail: String) -> GraphError { .shapeMismatch(node: node.name, op: op.kind, detail: detail) }

        switch op {
        case .input:
            throw fail("input shapes come from the caller")
        case .constant(let t):
            try arity(0)
            return t.shape
        case .conv2d(let p):
            try arity(1)
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
            return Shape(n: x.n, c: p.outChannels, h: oh, w: ow)
        case .deconv2d(let p):
            try arity(1)
            let x = s[0]
            guard x.c == p.inChannels else { throw fail("expects \(p.inChannels) input channels, got \(x.c)") }
            let oh = (x.h - 1) * p.strideH + (p.kernelH - 1) * p.dilationH + 1 - p.padding.top - p.padding.bottom + p.outputPaddingH
            let ow = (x.w - 1) * p.strideW + (p.kernelW - 1) * p.dilationW + 1 - p.padding.left - p.padding.right + p.outputPaddingW
            guard oh > 0, ow > 0 else { throw fail("output would be empty for input \(x)") }
            return Shape(n: x.n, c: p.outChannels, h: oh, w: ow)
        case .activation(let a):
            try arity(1)
            if case .prelu(let sl) = a, sl.count != 1, sl.count != s[0].c {
                throw fail("prelu has \(sl.count) slopes for \(s[0].c) channels")
            }
            return s[0]
        case .binary:
            try arity(2)
            return try broadcast(s[0], s[1], fail)
        case .weightedSum(let coeffs):
            guard s.count == coeffs.count, s.count >= 1 else {
                throw .arity(node: node.name, op: op.kind, expected: "\(coeffs.count)", actual: s.count)
            }
            for x in s where x != s[0] { throw fail("inputs differ in shape: \(s[0]) vs \(x)") }
            return s[0]
        case .concat:
            guard s.count >= 1 else { throw .arity(node: node.name, op: op.kind, expected: ">= 1", actual: 0) }
            for x in s where x.n != s[0].n || x.h != s[0].h || x.w != s[0].w {
                throw fail("inputs differ outside the channel axis: \(s[0]) vs \(x)")
            }
            return Shape(n: s[0].n, c: s.reduce(0) { $0 + $1.c }, h: s[0].h, w: s[0].w)
        case .crop(let c):
            try arity(1)
            let x = s[0]
            let rc = c.range(axis: 0, size: x.c), rh = c.range(axis: 1, size: x.h), rw = c.range(axis: 2, size: x.w)
            guard !rc.isEmpty, !rh.isEmpty, !rw.isEmpty else { throw fail("crop leaves nothing of \(x)") }
            return Shape(n: x.n, c: rc.count, h: rh.count, w: rw.count)
        case .pixelShuffle(let r, _):
            try arity(1)
            guard r >= 1, s[0].c % (r * r) == 0 else { throw fail("\(s[0].c) channels not divisible by \(r * r)") }
            return Shape(n: s[0].n, c: s[0].c / (r * r), h: s[0].h * r, w: s[0].w * r)
        case .pixelUnshuffle(let r):
            try arity(1)
            guard r >= 1, s[0].h % r == 0, s[0].w % r == 0 else { throw fail("\(s[0]) not divisible by \(r)") }
            return Shape(n: s[0].n, c: s[0].c * r * r, h: s[0].h / r, w: s[0].w / r)
        case .resize(let r):
            try arity(1)
            let (oh, ow) = r.outputSize(h: s[0].h, w: s[0].w)
            guard oh > 0, ow > 0 else { throw fail("resize of \(s[0]) gives an empty image") }
            return Shape(n: s[0].n, c: s[0].c, h: oh, w: ow)
        case .pool(let p):
            try arity(1)
            let x = s[0]
            if p.global { return Shape(n: x.n, c: x.c, h: 1, w: 1) }
            let oh = (x.h + p.padding.top + p.padding.bottom - p.kernelH) / p.strideH + 1
            let ow = (x.w + p.padding.left + p.padding.right - p.kernelW) / p.strideW + 1
            guard oh > 0, ow > 0 else { throw fail("input \(x) smaller than the pooling window") }
            return Shape(n: x.n, c: x.c, h: oh, w: ow)
        case .linear(let l):
            try arity(1)
            let x = s[0]
            guard x.c * x.h * x.w == l.inFeatures else {
                throw fail("expects \(l.inFeatures) features, got \(x.c * x.h * x.w) from \(x)")
            }
            if let b = l.bias, b.count != l.outFeatures { throw fail("bias has \(b.count) values, expected \(l.outFeatures)") }
            return Shape(n: x.n, c: l.outFeatures, h: 1, w: 1)
        }
    }

    /// NumPy broadcasting on each of the four axes: sizes must match or one of them be 1.
    static func broadcast(_ a: Shape, _ b: Shape, _ fail: (String) -> GraphError) throws(GraphError) -> Shape {
        var out = [Int]()
        for (x, y) in zip(a.dims, b.dims) {
            if x == y || y == 1 { out.append(x) } else if x == 1 { out.append(y) } else {
                throw fail("cannot broadcast \(a) with \(b)")
            }
        }
        return Shape(n: out[0], c: out[1], h: out[2], w: out[3])
    }
}
