#ifndef ENHANCE_VIPS_SHIM_H
#define ENHANCE_VIPS_SHIM_H
// Fixed-signature wrappers over libvips' variadic API, callable from Swift.
// Every function returns NULL / non-zero on failure; the message is then in enh_vips_last_error().
#include <stddef.h>

typedef struct _VipsImage VipsImage;

/// Starts libvips once per process. Returns 0 on success.
int enh_vips_init(void);

/// The version of the libvips library loaded at run time, e.g. "8.14.1" (needs no enh_vips_init).
const char *enh_vips_version(void);

/// Untrusted input policy. restricted != 0: only the documented raster loaders (PNG, JPEG, WebP, TIFF, GIF,
/// HEIF/AVIF) can open images; everything else (ImageMagick, PDF, SVG, JPEG 2000, JPEG XL, FITS, OpenEXR, ...)
/// is blocked. The default once enh_vips_init runs. restricted == 0: every loader libvips has. Process-wide.
void enh_vips_restrict_loaders(int restricted);
/// 1 when the loaders are restricted.
int enh_vips_loaders_restricted(void);

/// Copies and clears libvips' error buffer. The caller frees the result with enh_vips_free.
char *enh_vips_last_error(void);
void enh_vips_free(void *p);
void enh_vips_unref(VipsImage *image);

/// Opens a file or a memory buffer (the buffer must outlive the image) without decoding pixels.
VipsImage *enh_vips_open_file(const char *path);
VipsImage *enh_vips_open_buffer(const void *data, size_t length);

/// Header facts.
int enh_vips_width(const VipsImage *image);
int enh_vips_height(const VipsImage *image);
int enh_vips_bands(const VipsImage *image);
/// VipsBandFormat as an int (0 uchar, 2 ushort, 6 float, ...).
int enh_vips_format(const VipsImage *image);
/// VipsInterpretation as an int.
int enh_vips_interpretation(const VipsImage *image);
/// EXIF orientation 1...8 (1 when absent).
int enh_vips_orientation(const VipsImage *image);
/// Pages or frames in the file (1 for a still image; animated GIF/WebP frames, multi-page TIFF pages).
int enh_vips_pages(const VipsImage *image);
/// The name of the loader that opened the image, e.g. "pngload"; static storage, do not free.
const char *enh_vips_loader(const VipsImage *image);

/// Copies the embedded ICC profile; returns its length (0 when absent). Free *out with enh_vips_free.
size_t enh_vips_icc_profile(const VipsImage *image, void **out);

/// Copies a metadata blob such as "exif-data" or "xmp-data" as stored; returns its length (0 when absent).
/// Free *out with enh_vips_free.
size_t enh_vips_blob(const VipsImage *image, const char *name, void **out);

/// Sets the Orientation tag (IFD0, 0x0112) of an EXIF block ("Exif\0\0" prefix optional) to 1 in place.
/// Returns 1 when the tag was found and set, 0 otherwise (the block is then left as it was).
int enh_exif_reset_orientation(void *exif, size_t length);

/// 1 when this libvips has the operation (e.g. "heifsave", "heifload"), else 0.
int enh_vips_has_operation(const char *nickname);

/// Copies one of libvips' built-in ICC profiles ("srgb", "p3", "cmyk"); returns its length, 0 when unknown.
/// Free *out with enh_vips_free.
size_t enh_vips_builtin_profile(const char *name, void **out);

/// Decodes into interleaved pixels: rotates upright by EXIF orientation, converts to sRGB (or B_W when `gray`),
/// and casts to 8 or 16 bits per sample. Returns a g_malloc'd buffer (free with enh_vips_free) of
/// width*height*bands*(depth/8) bytes and writes the final geometry.
void *enh_vips_decode(VipsImage *image, int autorotate, int gray, int depth, int *width, int *height, int *bands);

/// What enh_vips_decode_full returns; every pointer is g_malloc'd (free with enh_vips_free) or NULL.
typedef struct {
    void *pixels;
    int width;
    int height;
    int bands;
    /// The EXIF block as stored, with its orientation tag set to 1 when `autorotate` made the pixels upright.
    /// NULL when the source has none.
    void *exif;
    size_t exif_length;
    /// The XMP packet as stored. NULL when the source has none.
    void *xmp;
    size_t xmp_length;
} EnhDecoded;

/// enh_vips_decode plus the EXIF and XMP blobs. Returns 0 on success; on failure nothing needs freeing.
int enh_vips_decode_full(VipsImage *image, int autorotate, int gray, int depth, EnhDecoded *out);

/// Interleaved 8- or 16-bit pixels and what to attach to them when encoding.
typedef struct {
    const void *pixels;
    int width;
    int height;
    /// 1 gray, 2 gray + alpha, 3 RGB, 4 RGBA.
    int bands;
    /// 8 or 16.
    int depth;
    /// Each blob may be NULL.
    const void *icc;
    size_t icc_length;
    const void *exif;
    size_t exif_length;
    const void *xmp;
    size_t xmp_length;
    /// When non-zero and `icc` is set: transform the pixels from that profile to sRGB and embed no profile.
    int convert_to_srgb;
} EnhEncodeInput;

/// Encodes to a file; `path_with_options` uses libvips' syntax, e.g. "out.jpg[Q=90]". EXIF is attached with its
/// orientation forced to 1: attaching "exif-data" makes libvips parse the block into per-tag fields, the
/// "orientation" field is then set to 1, and every saver that writes EXIF rebuilds the block from those fields.
/// Returns 0 on success.
int enh_vips_encode_file(const EnhEncodeInput *input, const char *path_with_options);

/// Fills `buffer` with `rows` interleaved rows starting at `first_row` (width * bands samples each, at the
/// stream's depth). Returns 0, or non-zero on failure. Rows are asked for in increasing order.
typedef int (*EnhRowSource)(void *context, int first_row, int rows, void *buffer);

/// Encodes rows pulled from `source` as the encoder needs them (`input->pixels` is ignored): the whole image is
/// never held in memory by the caller. Returns 0 on success.
int enh_vips_encode_stream_file(const EnhEncodeInput *input, EnhRowSource source, void *context,
                                const char *path_with_options);
int enh_vips_encode_stream_buffer(const EnhEncodeInput *input, EnhRowSource source, void *context,
                                  const char *suffix_with_options, void **out, size_t *out_length);

/// Same, to memory; `suffix_with_options` such as ".png" or ".webp[Q=80]". Free *out with enh_vips_free.
int enh_vips_encode_buffer(const EnhEncodeInput *input, const char *suffix_with_options,
                           void **out, size_t *out_length);

/// Encodes interleaved 8- or 16-bit pixels. `path_with_options` uses libvips' syntax, e.g. "out.jpg[Q=90]".
/// `icc` may be NULL. Returns 0 on success.
int enh_vips_save_file(const void *pixels, int width, int height, int bands, int depth,
                       const void *icc, size_t icc_length, const char *path_with_options);

/// Same, to memory; `suffix_with_options` such as ".png" or ".webp[Q=80]". Free *out with enh_vips_free.
int enh_vips_save_buffer(const void *pixels, int width, int height, int bands, int depth,
                         const void *icc, size_t icc_length, const char *suffix_with_options,
                         void **out, size_t *out_length);

/// Resamples interleaved float pixels (any number of bands, used as they are: premultiply alpha beforehand) to
/// exactly out_width x out_height. Axes that shrink use libvips' reduce with a lanczos3 kernel (no box pre-shrink
/// unless the factor is huge); axes that grow use vips_affine with the nohalo interpolator, centre-aligned.
/// Returns a g_malloc'd buffer of out_width*out_height*bands floats (free with enh_vips_free), or NULL.
float *enh_vips_resize(const float *pixels, int width, int height, int bands, int out_width, int out_height);

/// The same resampling over interleaved 8- or 16-bit samples (the last band is alpha when `has_alpha`), evaluated
/// region by region so no full float copy is made. Rounds to nearest and clamps. Returns a g_malloc'd buffer of
/// out_width*out_height*bands samples of the same depth (free with enh_vips_free), or NULL.
void *enh_vips_resize_samples(const void *pixels, int width, int height, int bands, int depth, int has_alpha,
                              int out_width, int out_height);

#endif
