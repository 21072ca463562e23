internal import CDNNL
import Dispatch
import SRCore
import SRBackendReference

extension DNNLCompiler {
    /// Lowers one node that is not part of a fused chain.
    mutating func lower(_ id: ValueID) throws {
        let node = graph.nodes[id]
        switch node.op {
        case .input:
            return
        case .constant(let t):
            let desc = try MD.host(shapes[id])
            _ = try permanentMemory(desc, data: t.data)
            md[id] = desc
            constantRefs[id] = .permanent(permanent.count - 1)
        case .linear(let l) where !DNNLCompiler.isImageLinear(l, input: shapes[node.inputs[0]]):
            try lowerLinearRows(id, l)
        case .conv2d, .deconv2d, .linear:
            try lowerHead(id, postOps: [], as: id)
        case .activation(let a):
            try lowerActivation(id, a)
        case .binary(let b):
            try lowerBinary(id, b)
        case .weightedSum(let c):
            try lowerSum(id, c)
        case .concat:
            try lowerConcat(id)
        case .crop(let c):
            try lowerCrop(id, c)
        case .pixelShuffle(let r, let mode):
            try lowerShuffle(id, r, unshuffle: false, mode: mode)
        case .pixelUnshuffle(let r):
            try lowerShuffle(id, r, unshuffle: true, mode: .channelsFirst)
        case .resize(let r):
            try lowerResize(id, r)
        case .pool(let p):
            try lowerPool(id, p)
        case .batchNorm:
            // Inference builds fold batch norm into convolutions; a graph that keeps it runs the reference kernel.
            try lowerReference(id)
        case .matmul(let m):
            try lowerMatMul(id, m)
        case .layerNorm(let p):
            try lowerLayerNorm(id, p)
        case .softmax(let axis):
            try lowerSoftmax(id, axis: axis)
        case .reshape, .convert:
            try lowerRowMajorCopy(id)
        case .permute(let p):
            try lowerPermute(id, p)
        case .roll(let r):
            try lowerRoll(id, r)
        case .windowPartition(let size):
            try lowerWindowPartition(id, size: size)
        case .windowReverse(let size):
            try lowerWindowReverse(id, size: size)
        case .slice(let p):
            try lowerSlice(id, p)
        }
    }

    /// Whether a linear layer runs as oneDNN's inner product over a flattened NCHW image (else as a matrix product
    /// over rows, `lowerLinearRows`).
    static func isImageLinear(_ l: Linear, input: Shape) -> Bool {
        l.input == .flattened && input.rank == 4 && input.layout == .nchw && input.elementType == .f32
    }

    // MARK: - Reference fallback

    /// Runs a node through the reference kernel over row-major f32 copies (ops without a oneDNN primitive; a bf16
    /// result is stored as its bf16-exact floats).
    mutating func lowerReference(_ id: ValueID) throws {
        let node = graph.nodes[id]
        let inputs = try node.inputs.map { try use($0, as: try MD.host(shapes[$0])) }
        let inShapes = node.inputs.map { shapes[$0] }
        let outShape = shapes[id]
        let dst = output(id, try MD.host(outShape))
        let op = node.op
        actions.append(.kernel(node.name) {
            let tensors = zip(inputs, inShapes).map { m, s in
                let p = try! dataPointer(m).assumingMemoryBound(to: Float.self)
                return Tensor(shape: s, data: Array(UnsafeBufferPointer(start: p, count: s.count)))
            }
            let result = ReferenceKernels.evaluate(op, inputs: tensors, outputShape: outShape)
            let out = try! dataPointer(dst).assumingMemoryBound(to: Float.self)
            result.data.withUnsafeBufferPointer { out.update(from: $0.baseAddress!, count: outShape.count) }
        })
    }
}
