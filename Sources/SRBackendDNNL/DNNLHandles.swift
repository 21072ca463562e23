internal import CDNNL
import SRCore

#if canImport(Glibc)
import Glibc
#endif

/// Throws a `BackendError.library` naming the oneDNN call when `status` is not success.
@inline(__always)
func check(_ status: dnnl_status_t, _ call: @autoclosure () -> String) throws {
    if status != dnnl_success {
        throw BackendError.library(call: call(), status: Int(status.rawValue), detail: statusName(status))
    }
}

func statusName(_ status: dnnl_status_t) -> String {
    switch status {
    case dnnl_out_of_memory: "out of memory"
    case dnnl_invalid_arguments: "invalid arguments"
    case dnnl_unimplemented: "no implementation for this configuration"
    case dnnl_runtime_error: "runtime error"
    default: ""
    }
}

/// The process-wide CPU engine and an in-order stream.
final class DNNLContext: @unchecked Sendable {
    let engine: dnnl_engine_t
    let stream: dnnl_stream_t

    static let shared: DNNLContext = {
        do { return try DNNLContext() } catch { fatalError("oneDNN CPU engine could not start: \(error)") }
    }()

    private init() throws {
        var e: dnnl_engine_t?
        try check(dnnl_engine_create(&e, dnnl_cpu, 0), "dnnl_engine_create")
        var s: dnnl_stream_t?
        try check(dnnl_stream_create(&s, e, dnnl_stream_default_flags.rawValue), "dnnl_stream_create")
        engine = e!
        stream = s!
    }
}

/// An owned primitive (freed on deinit).
final class Primitive {
    let handle: dnnl_primitive_t
    let name: String

    init(descriptor pd: dnnl_primitive_desc_t, name: String) throws {
        var p: dnnl_primitive_t?
        try check(dnnl_primitive_create(&p, pd), "dnnl_primitive_create(\(name))")
        handle = p!
        self.name = name
    }

    deinit { dnnl_primitive_destroy(handle) }
}

/// An owned primitive descriptor (freed on deinit).
final class PrimitiveDescriptor {
    let handle: dnnl_primitive_desc_t

    init(_ handle: dnnl_primitive_desc_t) { self.handle = handle }

    /// Creates a descriptor from an op descriptor and optional attributes.
    convenience init(op: UnsafeRawPointer, attributes: PrimitiveAttributes?, name: String) throws {
        var pd: dnnl_primitive_desc_t?
        try check(dnnl_primitive_desc_create(&pd, op, attributes?.handle, DNNLContext.shared.engine, nil),
                  "dnnl_primitive_desc_create(\(name))")
        self.init(pd!)
    }

    func query(_ what: dnnl_query_t, index: Int32 = 0) -> dnnl_memory_desc_t {
        dnnl_primitive_desc_query_md(handle, what, index).pointee
    }

    var scratchpad: dnnl_memory_desc_t { query(dnnl_query_scratchpad_md) }

    /// The implementation oneDNN picked, e.g. `jit:avx512_core` or `ref:any`.
    var implementation: String {
        var p: UnsafePointer<CChar>?
        guard dnnl_primitive_desc_query(handle, dnnl_query_impl_info_str, 0, &p) == dnnl_success, let p else { return "" }
        return String(cString: p)
    }

    deinit { dnnl_primitive_desc_destroy(handle) }
}

/// Post-ops and attributes for one primitive.
final class PrimitiveAttributes {
    let handle: dnnl_primitive_attr_t
    private let postOps: dnnl_post_ops_t

    init() throws {
        var a: dnnl_primitive_attr_t?
        try check(dnnl_primitive_attr_create(&a), "dnnl_primitive_attr_create")
        handle = a!
        var p: dnnl_post_ops_t?
        try check(dnnl_post_ops_create(&p), "dnnl_post_ops_create")
        postOps = p!
        // Scratchpads are owned by us so one buffer serves every primitive of an executable.
        try check(dnnl_primitive_attr_set_scratchpad_mode(handle, dnnl_scratchpad_mode_user),
                  "dnnl_primitive_attr_set_scratchpad_mode")
    }

    var count: Int { Int(dnnl_post_ops_len(postOps)) }

    /// No post-ops (user scratchpad only).
    static var plain: PrimitiveAttributes {
        let a = try! PrimitiveAttributes()
        try! a.commit()
        return a
    }

    func appendEltwise(_ alg: dnnl_alg_kind_t, alpha: Float, beta: Float) throws {
        try check(dnnl_post_ops_append_eltwise(postOps, 1, alg, alpha, beta), "dnnl_post_ops_append_eltwise")
    }

    func appendBinary(_ alg: dnnl_alg_kind_t, src1: dnnl_memory_desc_t) throws {
        var md = src1
        try check(dnnl_post_ops_append_binary(postOps, alg, &md), "dnnl_post_ops_append_binary")
    }

    /// PReLU with per-channel weights (mask over dimension 1).
    func appendPReLU(perChannel: Bool) throws {
        try check(dnnl_post_ops_append_prelu(postOps, perChannel ? 1 << 1 : 0), "dnnl_post_ops_append_prelu")
    }

    /// Multiplies the primitive's result by `scale` (before post-ops).
    func setOutputScale(_ scale: Float) throws {
        var k = scale
        try check(dnnl_primitive_attr_set_output_scales(handle, 1, 0, &k), "dnnl_primitive_attr_set_output_scales")
    }

    /// Attaches the accumulated post-ops; call once, after the appends.
    func commit() throws {
        try check(dnnl_primitive_attr_set_post_ops(handle, postOps), "dnnl_primitive_attr_set_post_ops")
    }

    deinit {
        dnnl_post_ops_destroy(postOps)
        dnnl_primitive_attr_destroy(handle)
    }
}

/// A 64-byte aligned, zero-initialised byte buffer.
///
/// Buffers of a megabyte and more are anonymous mappings: page-aligned and zero without being written, so an arena
/// of hundreds of megabytes costs nothing until its pages are first touched (zeroing them up front took about a
/// quarter of realesrgan-x4plus's compile time), and unmapping returns them to the system at once.
final class AlignedBuffer {
    let pointer: UnsafeMutableRawPointer
    let size: Int
    private let mapped: Bool

    static let mappingThreshold = 1 << 20

    init(size: Int) {
        self.size = max(size, 64)
        if self.size >= Self.mappingThreshold {
            guard let p = mmap(nil, self.size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
                  p != MAP_FAILED else {
                fatalError("out of memory mapping \(size) bytes for activations or weights")
            }
            pointer = p
            mapped = true
            return
        }
        var p: UnsafeMutableRawPointer?
        guard posix_memalign(&p, 64, self.size) == 0, let p else {
            fatalError("out of memory allocating \(size) bytes for activations")
        }
        memset(p, 0, self.size)
        pointer = p
        mapped = false
    }

    deinit {
        if mapped { munmap(pointer, size) } else { free(pointer) }
    }
}

/// A memory object bound to a caller-owned pointer.
final class Memory {
    let handle: dnnl_memory_t
    let desc: dnnl_memory_desc_t

    init(desc: dnnl_memory_desc_t, pointer: UnsafeMutableRawPointer?) throws {
        var d = desc
        var m: dnnl_memory_t?
        try check(dnnl_memory_create(&m, &d, DNNLContext.shared.engine, pointer ?? UnsafeMutableRawPointer(bitPattern: 0)),
                  "dnnl_memory_create")
        handle = m!
        self.desc = desc
    }

    deinit { dnnl_memory_destroy(handle) }
}

/// Memory-descriptor helpers.
enum MD {
    static func dims(_ v: [Int]) -> [Int64] {
        var d = [Int64](repeating: 0, count: 12)
        for (i, x) in v.enumerated() { d[i] = Int64(x) }
        return d
    }

    static func tagged(_ dims: [Int], _ tag: dnnl_format_tag_t, _ type: dnnl_data_type_t = dnnl_f32) throws -> dnnl_memory_desc_t {
        var md = dnnl_memory_desc_t()
        let d = MD.dims(dims)
        try check(dnnl_memory_desc_init_by_tag(&md, Int32(dims.count), d, type, tag), "dnnl_memory_desc_init_by_tag")
        return md
    }

    /// Row-major `dims` of any rank, in the value's element type.
    static func plain(_ s: Shape) throws -> dnnl_memory_desc_t { try tagged(s.dims, plainTag(rank: s.rank), type(s.elementType)) }
    /// Row-major f32: how graph inputs and outputs cross to the host.
    static func host(_ s: Shape) throws -> dnnl_memory_desc_t { try tagged(s.dims, plainTag(rank: s.rank), dnnl_f32) }

    /// The row-major format tag of a rank (`a` ... `abcdef`).
    static func plainTag(rank: Int) -> dnnl_format_tag_t {
        [dnnl_a, dnnl_ab, dnnl_abc, dnnl_abcd, dnnl_abcde, dnnl_abcdef][rank - 1]
    }

    static func type(_ t: ElementType) -> dnnl_data_type_t {
        switch t {
        case .f32: dnnl_f32
        case .bf16: dnnl_bf16
        }
    }

    static func any(_ s: Shape, _ type: dnnl_data_type_t = dnnl_f32) throws -> dnnl_memory_desc_t {
        try tagged(s.dims, dnnl_format_tag_any, type)
    }

    static func dataType(_ md: dnnl_memory_desc_t) -> dnnl_data_type_t { md.data_type }

    static func strided(_ dims: [Int], strides: [Int], _ type: dnnl_data_type_t = dnnl_f32) throws -> dnnl_memory_desc_t {
        var md = dnnl_memory_desc_t()
        try check(dnnl_memory_desc_init_by_strides(&md, Int32(dims.count), MD.dims(dims), type, MD.dims(strides)),
                  "dnnl_memory_desc_init_by_strides")
        return md
    }

    static func submemory(_ parent: dnnl_memory_desc_t, dims: [Int], offsets: [Int]) throws -> dnnl_memory_desc_t {
        var md = dnnl_memory_desc_t()
        var p = parent
        try check(dnnl_memory_desc_init_submemory(&md, &p, MD.dims(dims), MD.dims(offsets)),
                  "dnnl_memory_desc_init_submemory")
        return md
    }

    /// The logical dimensions of `md`.
    static func dimensions(_ md: dnnl_memory_desc_t) -> [Int] {
        (0..<Int(md.ndims)).map { i in withUnsafeBytes(of: md.dims) { Int($0.load(fromByteOffset: i * 8, as: Int64.self)) } }
    }

    static func size(_ md: dnnl_memory_desc_t) -> Int {
        var m = md
        return Int(dnnl_memory_desc_get_size(&m))
    }

    static func equal(_ a: dnnl_memory_desc_t, _ b: dnnl_memory_desc_t) -> Bool {
        var x = a, y = b
        return dnnl_memory_desc_equal(&x, &y) != 0
    }

    /// The 4-D activation layouts this backend produces, most specific first.
    static let activationTags: [dnnl_format_tag_t] = [dnnl_nChw16c, dnnl_nChw8c, dnnl_nhwc, dnnl_nchw]

    /// A descriptor for `dims` laid out like `like` (same blocking), or plain NCHW when the layout is unknown.
    static func sameLayout(as like: dnnl_memory_desc_t, dims: [Int]) throws -> dnnl_memory_desc_t {
        let likeDims = dimensions(like)
        for tag in activationTags {
            if let candidate = try? tagged(likeDims, tag, like.data_type), equal(candidate, like) {
                return try tagged(dims, tag, like.data_type)
            }
        }
        return try tagged(dims, dnnl_nchw, like.data_type)
    }
}

/// Calls `body` with a pointer to `value`, or with nil (oneDNN's optional descriptors, e.g. no bias).
func withOptional<R>(_ value: dnnl_memory_desc_t?, _ body: (UnsafePointer<dnnl_memory_desc_t>?) throws -> R) rethrows -> R {
    guard var v = value else { return try body(nil) }
    return try withUnsafePointer(to: &v) { try body($0) }
}
