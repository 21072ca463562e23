import Foundation
public import SRImageIO

extension Engine {
    /// Upscales `image` and writes it to `path`. At the native scale the rows stream straight from the tiles into
    /// the encoder (the output never exists whole in memory); other sizes go through a compact raster and the
    /// resampler. Returns the written size.
    @discardableResult
    public func upscale(_ image: Image, with model: LoadedModel, options: UpscaleOptions = UpscaleOptions(),
                        writingTo path: String, encodeOptions: ImageIO.EncodeOptions = ImageIO.EncodeOptions(),
                        progress: (@Sendable (Double) -> Void)? = nil)
        throws(EngineError) -> (width: Int, height: Int) {
        let native = (image.width * model.scale, image.height * model.scale)
        let target: (width: Int, height: Int)
        do {
            target = try options.outputSize.resolve(inputWidth: image.width, inputHeight: image.height, nativeScale: model.scale)
        } catch {
            throw .invalidOption(error.description)
        }
        do {
            if target == native {
                let rows = try producer(image, with: model, options: options)
                (rows as? UpscaleProducer)?.progress = progress
                try ImageIO.encode(rows, to: path, options: encodeOptions)
            } else {
                try ImageIO.encode(try upscale(image, with: model, options: options), to: path, options: encodeOptions)
            }
        } catch let error as EngineError {
            throw error
        } catch let error as ImageIOError {
            throw .image(error)
        } catch {
            throw .backend(String(describing: error))
        }
        return target
    }

    /// The rows of an upscale at the model's native scale, computed as they are read.
    public func producer(_ image: Image, with model: LoadedModel,
                         options: UpscaleOptions = UpscaleOptions()) throws(EngineError) -> any RowProducer {
        let plan = try self.plan(for: model, height: image.height, width: image.width, options: options)
        makeRoom(for: model, working: plan.budgets.memory)
        do {
            let rows = try runLock.withLock { _ in try Self.rowSources(image, model: model, plan: plan, options: options, engine: self) }
            return UpscaleProducer(image: image, scale: model.scale, colorRows: rows.color, alphaRows: rows.alpha, engine: self)
        } catch let error as EngineError {
            throw error
        } catch {
            throw .backend(String(describing: error))
        }
    }
}
