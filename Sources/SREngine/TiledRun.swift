import SRCore

/// One pass of a model (or of the alpha resampler) over an image, tile by tile.
struct TiledRun {
    let engine: Engine
    let model: LoadedModel
    /// `[1, c, h, w]` planes in `[0, 1]`.
    let source: Tensor
    /// Tile size, padding and memory caps of this upscale.
    let plan: ExecutionPlan
    let options: UpscaleOptions

    /// Tile side in input pixels, nil for the whole image at once.
    var tile: Int? { plan.tile }

    var height: Int { source.shape.h }
    var width: Int { source.shape.w }
    var context: Int { tile == nil ? 0 : options.context }

    private var tiler: Tiler {
        Tiler(height: height, width: width, scale: model.scale, tile: tile ?? max(height, width), overlap: options.overlap)
    }

    /// Finished output rows, one band per call, nil at the end.
    typealias Rows = () throws -> (firstRow: Int, rows: Tensor)?

    /// The network over an RGB source, as finished output rows. Shared statistics (Real-CUGAN) are computed
    /// before the first row.
    func colorRows() throws -> Rows {
        let transforms = options.tta ? Transform.all : [Transform.identity]
        var statistics: [Transform: [Tensor]] = [:]
        if plan.sharesStatistics, let shared = model.statistics {
            for t in transforms { statistics[t] = try sharedStatistics(shared, transform: t) }
        }
        let s = model.scale
        let tiler = self.tiler
        let th = min(tiler.tile, height), tw = min(tiler.tile, width)
        let passes = Tiler.starts(length: height, tile: th, overlap: options.overlap).count
            * Tiler.starts(length: width, tile: tw, overlap: options.overlap).count * transforms.count
        var done = 0
        let progress = options.progress
        let cursor = Tiler.Cursor(tiler, channels: 3) { y0, x0, h, w in
            let (window, dy, dx) = self.window(y0: y0, x0: x0, height: h, width: w)
            var sum: [Float]?
            for t in transforms {
                let out = t.inverse(try self.network(t.apply(window), statistics: statistics[t]))
                if sum == nil { sum = out.data } else { for i in out.data.indices { sum![i] += out.data[i] } }
                done += 1
                progress?.report(min(1, Double(done) / Double(passes)))
            }
            let average = Tensor(dims: [1, 3, window.shape.h * s, window.shape.w * s],
                                 data: sum!.map { $0 / Float(transforms.count) })
            return average.cropped(y: dy * s, x: dx * s, height: h * s, width: w * s)
        }
        return { try cursor.next() }
    }

    /// A one-channel alpha source upscaled by bicubic interpolation or through the model, as finished rows.
    func alphaRows(mode: AlphaMode) throws -> Rows {
        switch mode {
        case .model:
            let rgb = Tensor(dims: [1, 3, height, width], data: source.data + source.data + source.data)
            var quiet = options
            quiet.progress = nil
            let color = try TiledRun(engine: engine, model: model, source: rgb, plan: plan, options: quiet).colorRows()
            return {
                guard let (first, rows) = try color() else { return nil }
                let plane = rows.shape.h * rows.shape.w
                let mean = (0..<plane).map { (rows.data[$0] + rows.data[plane + $0] + rows.data[2 * plane + $0]) / 3 }
                return (first, Tensor(dims: [1, 1, rows.shape.h, rows.shape.w], data: mean))
            }
        case .resample:
            // Bicubic taps reach 2 pixels out; a 2-pixel margin makes tiles agree exactly with the whole image.
            // The bicubic resize runs as a one-op graph on the model's backend (compiled once per window shape).
            let s = model.scale, height = self.height, width = self.width, source = self.source
            let margin = tile == nil ? 0 : 2
            var resize = Graph()
            resize.outputs = [resize.add(.resize(Resize(mode: .bicubic, scaleH: Float(s), scaleW: Float(s))),
                                         [resize.add(.input, [], name: "alpha")], name: "alpha_bicubic")]
            let backend = try engine.backend(for: resize, model: "the alpha resampler")
            var compiled: [Shape: any Executable] = [:]
            let cursor = Tiler.Cursor(tiler, channels: 1) { y0, x0, h, w in
                let wy = max(0, y0 - margin), wx = max(0, x0 - margin)
                let wh = min(height, y0 + h + margin) - wy, ww = min(width, x0 + w + margin) - wx
                let win = source.cropped(y: wy, x: wx, height: wh, width: ww)
                let executable = try compiled[win.shape] ?? backend.compile(resize, inputShape: win.shape)
                compiled[win.shape] = executable
                let up = try executable.run(win)
                return up.cropped(y: (y0 - wy) * s, x: (x0 - wx) * s, height: h * s, width: w * s)
            }
            return { try cursor.next() }
        }
    }

    /// The tile region plus `context` real pixels on every side; the window slides inwards at the image borders,
    /// so every tile has the same shape and border tiles see exactly what the whole-image run sees.
    private func window(y0: Int, x0: Int, height h: Int, width w: Int) -> (Tensor, dy: Int, dx: Int) {
        let winH = min(height, h + 2 * context), winW = min(width, w + 2 * context)
        let wy = min(max(y0 - context, 0), height - winH), wx = min(max(x0 - context, 0), width - winW)
        return (source.cropped(y: wy, x: wx, height: winH, width: winW), y0 - wy, x0 - wx)
    }

    /// The model family's pipeline on one window: pad, run, crop to `scale x` the window.
    private func network(_ window: Tensor, statistics: [Tensor]?) throws -> Tensor {
        if options.cancellation?.isCancelled == true { throw EngineError.cancelled }
        let s = model.scale
        let pad = plan.padding(height: window.shape.h, width: window.shape.w)
        let input = Pipelines.pad(window, pad)
        let raw = if let statistics {
            try model.run(.withStatistics(input.shape), inputs: [input] + statistics, budgets: plan.budgets,
                          cancellation: options.cancellation)[0]
        } else {
            try model.run(.model(input.shape), inputs: [input], budgets: plan.budgets, cancellation: options.cancellation)[0]
        }
        let needH = pad.originY + window.shape.h * s, needW = pad.originX + window.shape.w * s
        guard raw.shape.c == 3, raw.shape.h >= needH, raw.shape.w >= needW else {
            throw EngineError.backend("model '\(model.id)' produced \(raw.shape) for a padded input \(input.shape); " +
                                      "expected at least \(needH)x\(needW) at x\(s)")
        }
        return raw.cropped(y: pad.originY, x: pad.originX, height: window.shape.h * s, width: window.shape.w * s)
    }

    /// Squeeze-excitation statistics shared by all tiles: pool by pool, the mean over every tile of what that
    /// tile's pool computes given the shared values of the earlier pools.
    private func sharedStatistics(_ shared: SharedStatistics, transform: Transform) throws -> [Tensor] {
        let th = min(tile!, height), tw = min(tile!, width)
        let ys = Tiler.starts(length: height, tile: th, overlap: options.overlap)
        let xs = Tiler.starts(length: width, tile: tw, overlap: options.overlap)
        var values: [Tensor] = []
        defer { model.releaseStages() }
        for k in shared.pools.indices {
            var sum: [Float]?
            var dims: [Int] = []
            for y0 in ys {
                for x0 in xs {
                    let (window, _, _) = self.window(y0: y0, x0: x0, height: th, width: tw)
                    let t = transform.apply(window)
                    let input = Pipelines.pad(t, plan.padding(height: t.shape.h, width: t.shape.w))
                    let pooled = try model.run(.stage(k, input.shape), inputs: [input] + values, budgets: plan.budgets,
                                               cancellation: options.cancellation)[0]
                    dims = pooled.dims
                    if sum == nil { sum = pooled.data } else { for i in pooled.data.indices { sum![i] += pooled.data[i] } }
                }
            }
            let n = Float(ys.count * xs.count)
            values.append(Tensor(dims: dims, data: sum!.map { $0 / n }))
        }
        return values
    }
}

/// The 8 symmetries of the square (flips and transposition) used by self-ensembling.
enum Transform: Hashable, CaseIterable {
    case identity, flipX, flipY, flipXY, transpose, transposeFlipX, transposeFlipY, transposeFlipXY

    static let all = Transform.allCases

    private var transposes: Bool { [.transpose, .transposeFlipX, .transposeFlipY, .transposeFlipXY].contains(self) }
    private var flipsX: Bool { [.flipX, .flipXY, .transposeFlipX, .transposeFlipXY].contains(self) }
    private var flipsY: Bool { [.flipY, .flipXY, .transposeFlipY, .transposeFlipXY].contains(self) }

    /// Transposes first (if any), then flips.
    func apply(_ t: Tensor) -> Tensor {
        var out = transposes ? Self.transposed(t) : t
        out = Self.flipped(out, x: flipsX, y: flipsY)
        return out
    }

    /// Undoes `apply`: flips, then transposes.
    func inverse(_ t: Tensor) -> Tensor {
        let out = Self.flipped(t, x: flipsX, y: flipsY)
        return transposes ? Self.transposed(out) : out
    }

    private static func transposed(_ t: Tensor) -> Tensor {
        let s = t.shape
        var out = [Float](repeating: 0, count: t.count)
        for c in 0..<s.c { for y in 0..<s.h { for x in 0..<s.w {
            out[(c * s.w + x) * s.h + y] = t.data[(c * s.h + y) * s.w + x]
        } } }
        return Tensor(dims: [1, s.c, s.w, s.h], data: out)
    }

    private static func flipped(_ t: Tensor, x fx: Bool, y fy: Bool) -> Tensor {
        guard fx || fy else { return t }
        let s = t.shape
        var out = [Float](repeating: 0, count: t.count)
        for c in 0..<s.c { for y in 0..<s.h { for x in 0..<s.w {
            out[(c * s.h + (fy ? s.h - 1 - y : y)) * s.w + (fx ? s.w - 1 - x : x)] = t.data[(c * s.h + y) * s.w + x]
        } } }
        return Tensor(dims: t.dims, data: out)
    }
}
