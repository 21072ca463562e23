public import SRCore
public import SRWeights

/// Real-CUGAN (bilibili AI Lab, 2022): two cascaded U-Nets with squeeze-and-excitation blocks, trained on anime
/// images; the "se" checkpoints of its v3 code (`UpCunet2x`, `UpCunet3x`, `UpCunet4x`).
///
/// Key layout (b = base width, 32 upstream; every convolution is unpadded, LeakyReLU 0.1 after each unless noted):
/// ```
/// unet1.conv1          UNetConv 3 -> b -> 2b                 (conv.0, conv.2)
/// unet1.conv1_down     2x2 stride 2
/// unet1.conv2          UNetConv 2b -> 4b -> 2b + SE          (seblock.conv1/conv2: 1x1, ReLU then sigmoid)
/// unet1.conv2_up       ConvTranspose 2x2 stride 2, added to conv1's output cropped by 4
/// unet1.conv3          3x3
/// unet1.conv_bottom    ConvTranspose 4x4 s2 p3 (x2, x4) or 5x5 s3 p2 (x3), no activation; x4: 2b outputs
/// unet2.conv1 .. conv5 UNetConv 3 -> b -> 2b, down, 2b -> 2b -> 4b + SE, down, 4b -> 8b -> 4b + SE, up (+ crop 4),
///                      4b -> 2b -> 2b + SE, up (+ crop 16), 3x3; conv_bottom 3x3 (no activation); x4: 2b in/out
/// conv_final           x4 only: 3x3 2b -> 12, crop 1, pixel shuffle 2
/// ```
/// The graph is the network core that realcugan-ncnn-vulkan's models hold: `unet2(u) + crop(u, 20)` with
/// `u = unet1(x)`. The reflect padding (18/14/19 pixels), the alignment of the padded size and the x4 model's
/// nearest-neighbour residual are host-side steps of the `realcugan` pipeline, exactly as for the ncnn files.
/// The "pro" checkpoints (a `pro` key) rescale their input and output and are refused with a message.
public enum RealCUGAN: Architecture {
    public static let name = "RealCUGAN"

    public struct Config: ArchitectureConfig {
        /// Base width: the first convolution's outputs (32 in every released model).
        public var features = 32
        public var scale = 2

        public init(features: Int = 32, scale: Int = 2) {
            self.features = features
            self.scale = scale
        }
    }

    static let slope: Float = 0.1
    /// SE blocks squeeze their channels by this factor.
    static let reduction = 8

    public static func detect(_ weights: StateDict) throws(ModelsError) -> Config? {
        let keys = KeyReader(architecture: name, weights: weights)
        guard keys.has("unet1.conv1.conv.0.weight"), keys.has("unet2.conv1.conv.0.weight") else { return nil }
        if keys.has("pro") {
            throw .unsupported(architecture: name, detail: "this is a Real-CUGAN 'pro' checkpoint (input and output rescaled by 0.7/0.15); only the 'se' models are supported")
        }
        let first = try keys.conv("unet1.conv1.conv.0")
        guard first.in == 3 else {
            throw .unsupported(architecture: name, detail: "unet1.conv1 reads \(first.in) channels; Real-CUGAN is RGB")
        }
        let scale: Int
        if keys.has("conv_final.weight") {
            scale = 4
        } else {
            guard let bottom = weights["unet1.conv_bottom.weight"], bottom.shape.count == 4 else {
                throw .missingTensor(architecture: name, key: "unet1.conv_bottom.weight")
            }
            switch bottom.shape[2] {
            case 4: scale = 2
            case 5: scale = 3
            case let k: throw .unsupported(architecture: name, detail: "unet1.conv_bottom has a \(k)x\(k) kernel; x2 uses 4x4, x3 5x5")
            }
        }
        return Config(features: first.out, scale: scale)
    }

    /// Outputs of `unet1.conv_bottom` and channels of unet2.
    static func middle(_ c: Config) -> Int { c.scale == 4 ? 2 * c.features : 3 }

    public static func stateDictSpec(_ c: Config) -> [TensorSpec] {
        let b = c.features, mid = middle(c)
        func unetConv(_ key: String, _ i: Int, _ m: Int, _ o: Int, se: Bool) -> [TensorSpec] {
            var spec = TensorSpec.conv(key + ".conv.0", i, m, kernel: 3) + TensorSpec.conv(key + ".conv.2", m, o, kernel: 3)
            if se {
                spec += TensorSpec.conv(key + ".seblock.conv1", o, o / reduction, kernel: 1)
                    + TensorSpec.conv(key + ".seblock.conv2", o / reduction, o, kernel: 1)
            }
            return spec
        }
        /// ConvTranspose2d stores `[in, out, kh, kw]`.
        func deconv(_ key: String, _ i: Int, _ o: Int, kernel: Int) -> [TensorSpec] {
            [TensorSpec(key + ".weight", [i, o, kernel, kernel]), TensorSpec(key + ".bias", [o])]
        }
        var spec = unetConv("unet1.conv1", 3, b, 2 * b, se: false)
        spec += TensorSpec.conv("unet1.conv1_down", 2 * b, 2 * b, kernel: 2)
        spec += unetConv("unet1.conv2", 2 * b, 4 * b, 2 * b, se: true)
        spec += deconv("unet1.conv2_up", 2 * b, 2 * b, kernel: 2)
        spec += TensorSpec.conv("unet1.conv3", 2 * b, 2 * b, kernel: 3)
        spec += deconv("unet1.conv_bottom", 2 * b, mid, kernel: c.scale == 3 ? 5 : 4)
        spec += unetConv("unet2.conv1", mid, b, 2 * b, se: false)
        spec += TensorSpec.conv("unet2.conv1_down", 2 * b, 2 * b, kernel: 2)
        spec += unetConv("unet2.conv2", 2 * b, 2 * b, 4 * b, se: true)
        spec += TensorSpec.conv("unet2.conv2_down", 4 * b, 4 * b, kernel: 2)
        spec += unetConv("unet2.conv3", 4 * b, 8 * b, 4 * b, se: true)
        spec += deconv("unet2.conv3_up", 4 * b, 4 * b, kernel: 2)
        spec += unetConv("unet2.conv4", 4 * b, 2 * b, 2 * b, se: true)
        spec += deconv("unet2.conv4_up", 2 * b, 2 * b, kernel: 2)
        spec += TensorSpec.conv("unet2.conv5", 2 * b, 2 * b, kernel: 3)
        spec += TensorSpec.conv("unet2.conv_bottom", 2 * b, mid, kernel: 3)
        if c.scale == 4 { spec += TensorSpec.conv("conv_final", 2 * b, 12, kernel: 3) }
        return spec
    }

    public static func build(_ c: Config, weights: StateDict) throws(ModelsError) -> Graph {
        guard [2, 3, 4].contains(c.scale), c.features > 0, (2 * c.features) % reduction == 0 else {
            throw .invalidConfig(architecture: name, detail: "\(c)")
        }
        var b = NetworkBuilder(architecture: name, weights: weights)
        let lrelu = Activation.leakyRelu(slope: slope)

        func unetConv(_ key: String, _ x: ValueID, se: Bool) throws(ModelsError) -> ValueID {
            let h = try b.conv(key + ".conv.0", x, padding: 0, activation: lrelu)
            let y = try b.conv(key + ".conv.2", h, padding: 0, activation: lrelu)
            guard se else { return y }
            // mean over H, W -> 1x1 conv + ReLU -> 1x1 conv + sigmoid -> channel gains (1x1 convs as linear layers).
            let pooled = b.add(.pool(.global(.average)), [y], name: key + ".seblock.mean")
            let s1 = b.add(.linear(try linear(key + ".seblock.conv1", activation: .relu)), [pooled], name: key + ".seblock.conv1")
            let s2 = b.add(.linear(try linear(key + ".seblock.conv2", activation: .sigmoid)), [s1], name: key + ".seblock.conv2")
            return b.add(.binary(.mul), [y, s2], name: key + ".seblock")
        }
        func linear(_ key: String, activation: Activation) throws(ModelsError) -> Linear {
            let (w, bias) = try b.convWeights(key)
            return Linear(weight: Tensor(dims: [w.dims[0], w.dims[1]], data: w.data), bias: bias, activation: activation)
        }
        func deconv(_ key: String, _ x: ValueID, stride: Int, padding: Int,
                    activation: Activation?) throws(ModelsError) -> ValueID {
            let w = try b.tensor(key + ".weight")
            guard w.dims.count == 4 else {
                throw .shapeMismatch(architecture: name, key: key + ".weight", expected: [w.dims.first ?? 0, -1, -1, -1], actual: w.dims)
            }
            let bias = try b.vector(key + ".bias", count: w.dims[1])
            let op = Deconv2d(weight: transposeInOut(w), bias: bias, stride: (stride, stride), padding: .uniform(padding),
                              activation: activation)
            return b.add(.deconv2d(op), [x], name: key)
        }
        func crop(_ x: ValueID, _ k: Int, _ name: String) -> ValueID {
            b.add(.crop(Crop(start: [0, k, k], end: [0, -k, -k])), [x], name: name)
        }
        func add(_ x: ValueID, _ y: ValueID, _ name: String) -> ValueID { b.add(.binary(.add), [x, y], name: name) }

        let x = b.input()
        // unet1
        let a1 = try unetConv("unet1.conv1", x, se: false)
        var a2 = try b.conv("unet1.conv1_down", a1, stride: 2, padding: 0, activation: lrelu)
        a2 = try unetConv("unet1.conv2", a2, se: true)
        a2 = try deconv("unet1.conv2_up", a2, stride: 2, padding: 0, activation: lrelu)
        let a3 = try b.conv("unet1.conv3", add(crop(a1, 4, "unet1.crop"), a2, "unet1.add"), padding: 0, activation: lrelu)
        let u = try deconv("unet1.conv_bottom", a3, stride: c.scale == 3 ? 3 : 2, padding: c.scale == 3 ? 2 : 3,
                           activation: nil)
        // unet2
        let x1 = try unetConv("unet2.conv1", u, se: false)
        var x2 = try b.conv("unet2.conv1_down", x1, stride: 2, padding: 0, activation: lrelu)
        x2 = try unetConv("unet2.conv2", x2, se: true)
        var x3 = try b.conv("unet2.conv2_down", x2, stride: 2, padding: 0, activation: lrelu)
        x3 = try unetConv("unet2.conv3", x3, se: true)
        x3 = try deconv("unet2.conv3_up", x3, stride: 2, padding: 0, activation: lrelu)
        var x4 = try unetConv("unet2.conv4", add(crop(x2, 4, "unet2.crop4"), x3, "unet2.add4"), se: true)
        x4 = try deconv("unet2.conv4_up", x4, stride: 2, padding: 0, activation: lrelu)
        let x5 = try b.conv("unet2.conv5", add(crop(x1, 16, "unet2.crop16"), x4, "unet2.add16"), padding: 0, activation: lrelu)
        let z = try b.conv("unet2.conv_bottom", x5, padding: 0)
        var out = add(z, crop(u, 20, "crop20"), "cascade")
        if c.scale == 4 {
            out = try b.conv("conv_final", out, padding: 0)
            out = crop(out, 1, "conv_final.crop")
            out = b.add(.pixelShuffle(factor: 2, mode: .channelsFirst), [out], name: "ps")
        }
        return b.finish(out)
    }

    /// `[a, b, kh, kw]` -> `[b, a, kh, kw]` (PyTorch's ConvTranspose2d layout to the engine's, and back).
    public static func transposeInOut(_ w: Tensor) -> Tensor {
        let (i, o, k) = (w.dims[0], w.dims[1], w.dims[2] * w.dims[3])
        var data = [Float](repeating: 0, count: w.count)
        for a in 0..<i { for c in 0..<o { for t in 0..<k { data[(c * i + a) * k + t] = w.data[(a * o + c) * k + t] } } }
        return Tensor(dims: [o, i, w.dims[2], w.dims[3]], data: data)
    }

    public static func facts(_ c: Config) -> ModelFacts {
        // Unpadded convolutions need a 40-pixel input at least (8 output pixels at x2); the pipeline pads by 14-19.
        ModelFacts(scale: c.scale, inChannels: 3, outChannels: 3, alignment: c.scale == 3 ? 4 : 2, minimumInputSide: 40,
                   host: .realCUGAN(scale: c.scale))
    }

    public static func randomConfig(using g: inout SeededGenerator) -> Config {
        Config(features: [4, 8].randomElement(using: &g)!, scale: [2, 3, 4].randomElement(using: &g)!)
    }
}
