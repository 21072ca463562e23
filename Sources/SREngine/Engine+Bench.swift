import SRCore

extension Engine {
    /// A synthetic, padded network input for an image of `width` x `height` (a smooth gradient with texture).
    public func benchmarkWindow(for model: LoadedModel, width: Int, height: Int) throws(EngineError) -> Tensor {
        var px = [Float](repeating: 0, count: 3 * width * height)
        for c in 0..<3 { for y in 0..<height { for x in 0..<width {
            px[(c * height + y) * width + x] = Float((x * 7 + y * 13 + c * 50) % 256) / 255
        } } }
        let image = Tensor(dims: [1, 3, height, width], data: px)
        return Pipelines.pad(image, Pipelines.plan(model.host, scale: model.scale, height: height, width: width,
                                                   window: model.backend.prefersWindow))
    }
}
