import Testing
import SRCore

@Suite("Shapes of any rank, element types and the shape rules of the rank-N ops")
struct ShapeTests {
    @Test("bf16 rounding is to nearest even and keeps NaN and infinities")
    func bf16Rounding() {
        let r = ElementType.bf16.round
        #expect(r(1 + 0x1p-8) == 1)                 // a tie rounds to the even mantissa
        #expect(r(1 + 3 * 0x1p-8) == 1 + 0x1p-6)    // a tie rounds up to even
        #expect(r(1 + 0x1p-8 + 0x1p-20) == 1 + 0x1p-7)
        #expect(r(.infinity) == .infinity)
        #expect(r(-.infinity) == -.infinity)
        #expect(r(.nan).isNaN)
        #expect(r(Float.greatestFiniteMagnitude) == .infinity)
    }

    @Test("shape rules refuse what the ops cannot do, naming the node")
    func shapeErrors() {
        func error(_ op: Op, _ shapes: [Shape]) -> String? {
            var g = Graph()
            let ins = shapes.map { _ in g.add(.input) }
            g.outputs = [g.add(op, ins, name: "n")]
            do { _ = try g.inferShapes(inputs: shapes); return nil } catch { return error.description }
        }
        #expect(error(.matmul(MatMul()), [Shape([2, 3], layout: .plain), Shape([4, 5], layout: .plain)])?.contains("inner sizes") == true)
        #expect(error(.reshape(Reshape([-1, -1])), [Shape([6], layout: .plain)])?.contains("more than one -1") == true)
        #expect(error(.reshape(Reshape([4, 2])), [Shape([6], layout: .plain)]) != nil)
        #expect(error(.permute(Permute([0, 0, 1])), [Shape([1, 2, 3])]) != nil)
        #expect(error(.windowPartition(size: 4), [Shape([1, 6, 8, 3], layout: .nhwc)])?.contains("multiple of the window") == true)
        #expect(error(.windowPartition(size: 2), [Shape(n: 1, c: 3, h: 4, w: 4)])?.contains("channels-last") == true)
        #expect(error(.conv2d(Conv2d(weight: Tensor(zeros: [1, 3, 1, 1]), bias: nil)), [Shape([1, 4, 3])])?.contains("NCHW image") == true)
        #expect(error(.slice(Slice(axis: 1, start: 5, end: 9)), [Shape([1, 4, 3])])?.contains("empty") == true)
        #expect(error(.binary(.add), [Shape([2, 3], layout: .plain), Shape([2, 3], layout: .plain, elementType: .bf16)])?
            .contains("element type") == true)
        #expect(error(.layerNorm(LayerNorm(gamma: [1, 1], beta: [0, 0])), [Shape([1, 4, 3])]) != nil)
    }

    @Test("shapes: default layouts by rank, image accessors, negative axes, descriptions")
    func shapes() {
        #expect(Shape([1, 5, 8]).layout == .tokens)
        #expect(Shape([2, 3, 4, 5]).layout == .nchw)
        #expect(Shape([2, 3, 4, 5, 6]).layout == .plain)
        var s = Shape(n: 1, c: 3, h: 4, w: 5)
        s.h = 7
        #expect(s.dims == [1, 3, 7, 5] && s[-1] == 5 && s.count == 105)
        #expect(Shape([1, 5, 8], elementType: .bf16).byteCount == 80)
        #expect(Shape([4, 4], layout: .plain).description == "[4, 4]")
        #expect(Shape([1, 4, 4, 3], layout: .nhwc, elementType: .bf16).description == "[1, 4, 4, 3] nhwc bf16")
        // A tensor without a layout of its own is an NCHW activation; one made from a shape keeps its type.
        #expect(Tensor(dims: [3], data: [1, 2, 3]).shape == Shape(n: 1, c: 1, h: 1, w: 3))
        let t = Tensor(shape: Shape([1, 2, 2], elementType: .bf16), data: [1 + 0x1p-9, 2, 3, 4])
        #expect(t.shape.layout == .tokens && t.elementType == .bf16 && t.data[0] == 1)
    }

    @Test("op traits: row dependence and multiply-accumulates")
    func traits() throws {
        let conv = Op.conv2d(Conv2d(weight: Tensor(zeros: [8, 4, 3, 3]), bias: nil, padding: .uniform(1)))
        #expect(conv.rowDependence == RowDependence(context: 1))
        #expect(Op.pixelShuffle(factor: 2, mode: .channelsFirst).rowDependence == RowDependence(scale: 2))
        #expect(Op.softmax(axis: -1).rowDependence == nil)
        #expect(conv.multiplyAccumulates(inputs: [Shape(c: 4, h: 5, w: 5)], output: Shape(c: 8, h: 5, w: 5)) == 8 * 25 * 36)
        #expect(Op.matmul(MatMul()).multiplyAccumulates(inputs: [Shape([2, 3, 4], layout: .plain), Shape([4, 5], layout: .plain)],
                                                         output: Shape([2, 3, 5], layout: .plain)) == 2 * 3 * 5 * 4)
    }

    @Test("a layer norm's scale and shift bind from a state dict like a convolution's weights")
    func layerNormBinding() throws {
        var g = Graph()
        let x = g.add(.input)
        g.outputs = [g.add(.layerNorm(LayerNorm(gamma: [1, 1], beta: [0, 0])), [x], name: "norm",
                           bindings: [ParameterBinding(.gamma, "norm.weight"),
                                      ParameterBinding(.beta, "norm.bias")])]
        try g.bind(["norm.weight": Tensor(dims: [2], data: [2, 3]), "norm.bias": Tensor(dims: [2], data: [0.5, -1])])
        guard case .layerNorm(let p) = g.nodes[g.outputs[0]].op else { Issue.record("not a layer norm"); return }
        #expect(p.gamma == [2, 3] && p.beta == [0.5, -1])
        #expect(g.trainableKeys == ["norm.weight", "norm.bias"])
        #expect(throws: GraphError.self) { try g.bind(["norm.weight": Tensor(dims: [3], data: [1, 2, 3])]) }
    }
}
