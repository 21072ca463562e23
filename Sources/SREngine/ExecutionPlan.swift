public import SRCore
public import SRModels

/// How one upscale runs: made by `Engine.plan(for:height:width:options:)`, the one place that turns a model, an
/// image size and the options into tile size, padding, band height and memory caps.
///
/// Every byte figure derives from one memory budget (`UpscaleOptions.maxMemory`, `--max-memory`; see `Budgets`),
/// and the model's `HostNeeds` say how each window is padded: the engine never asks which architecture or pipeline
/// family a model belongs to.
public struct ExecutionPlan: Sendable {
    /// The caps derived from one memory budget.
    public struct Budgets: Sendable, Hashable {
        /// The budget itself: network activations of one window plus the float bands of finished output rows.
        public var memory: Int
        /// Tail activations one row band may hold: 3/32 of the budget, at least 96 MiB (the size at 1 GiB). A
        /// model's row-local high-resolution tail (RRDBNet's 2x/4x layers) runs in bands of this size. Below 1 GiB
        /// the tile planner keeps windows small instead: 48 MiB bands at 512 MiB let it pick 172- instead of
        /// 156-pixel realesrgan-x4plus tiles, whose peak RSS was 1.14 GB instead of 0.89 GB (the per-pixel probes
        /// underestimate the larger windows).
        public var bandBytes: Int
        /// Activation bytes one model's cached executables may hold together (the budget); the least recently
        /// used leave beyond it. The engine also trims them when its models together exceed its model memory.
        public var executableCacheBytes: Int
        /// Scratch memory one kernel may use (half the budget: 512 MiB at 1 GiB; oneDNN's Winograd kernels that
        /// want more run direct).
        public var scratchpadBytes: Int

        public init(memory: Int) {
            self.memory = memory
            bandBytes = max(96 << 20, memory / 32 * 3)
            executableCacheBytes = memory
            scratchpadBytes = memory / 2
        }

        /// The caps of the default budget (`UpscaleOptions.defaultMaxMemory`, 1 GiB).
        public static let standard = Budgets(memory: UpscaleOptions.defaultMaxMemory)

        public var compileLimits: CompileLimits { CompileLimits(scratchpadBytes: scratchpadBytes) }
    }

    /// The model's scale and host needs.
    public let scale: Int
    public let host: HostNeeds
    /// The image size the plan is for.
    public let height: Int, width: Int
    /// Tile side in input pixels; nil: the whole image in one window.
    public let tile: Int?
    public let budgets: Budgets
    /// Whether tiles share squeeze-excitation statistics computed over the whole image.
    public let sharesStatistics: Bool
    /// The backend's window-size preference (`Backend.prefersWindow`), for the padding's slack.
    let backend: any Backend

    /// The padding of a window of `height` x `width` input pixels.
    func padding(height: Int, width: Int) -> Pipelines.Plan {
        Pipelines.plan(host, scale: scale, height: height, width: width, window: backend.prefersWindow)
    }
}

extension Engine {
    /// The plan of an upscale of a `width` x `height` image with `model`.
    ///
    /// Tiles: the largest multiple of 4 (multiples of 4 keep Real-CUGAN's alignment padding out of every tile)
    /// whose window (tile + 2 x context, padded) needs at most the budget for the network's activations (measured
    /// per pixel on probes, with the plan's row bands) plus the float bands of output rows (one tile high, the whole
    /// output wide: the one being blended, the one handed out and, while an encoder's request straddles two, the one
    /// before); nil when the whole image fits. `options.tileSize` overrides it.
    public func plan(for model: LoadedModel, height: Int, width: Int,
                     options: UpscaleOptions) throws(EngineError) -> ExecutionPlan {
        guard height >= model.host.minimumSide, width >= model.host.minimumSide else {
            throw .invalidOption("\(model.id) needs images of at least \(model.host.minimumSide)x\(model.host.minimumSide) pixels, got \(width)x\(height)")
        }
        let budgets = ExecutionPlan.Budgets(memory: options.maxMemory)
        let tile = try tileSize(model, height: height, width: width, options: options, budgets: budgets)
        return ExecutionPlan(scale: model.scale, host: model.host, height: height, width: width, tile: tile,
                             budgets: budgets,
                             sharesStatistics: tile != nil && options.shareStatistics && model.statistics != nil,
                             backend: model.backend)
    }

    /// The tile side (input pixels) `options` allow for `model`, or nil when the whole image fits
    /// (`plan(for:height:width:options:).tile`).
    public func tileSize(for model: LoadedModel, height: Int, width: Int, options: UpscaleOptions) throws(EngineError) -> Int? {
        try plan(for: model, height: height, width: width, options: options).tile
    }

    private func tileSize(_ model: LoadedModel, height: Int, width: Int, options: UpscaleOptions,
                          budgets: ExecutionPlan.Budgets) throws(EngineError) -> Int? {
        if let t = options.tileSize { return t == 0 || (t >= height && t >= width) ? nil : max(t, 16) }
        let pad = Pipelines.plan(model.host, scale: model.scale, height: height, width: width,
                                 window: model.backend.prefersWindow)
        let s = Double(model.scale)
        func cost(_ tile: Int?) throws(EngineError) -> Double {
            let context = tile == nil ? 0 : options.context
            let winH = min(height, (tile ?? height) + 2 * context), winW = min(width, (tile ?? width) + 2 * context)
            let activations = try model.workspaceBytes(height: winH + pad.top + pad.bottom,
                                                       width: winW + pad.left + pad.right, bandBytes: budgets.bandBytes)
            let band = 3 * 3 * 4 * Double(min(tile ?? height, height)) * s * Double(width) * s
            return activations + band
        }
        let budget = Double(budgets.memory)
        if try cost(nil) <= budget { return nil }
        var tile = max(height, width) / 4 * 4
        while tile > 32, try cost(tile) > budget { tile -= 4 }
        return tile
    }
}
