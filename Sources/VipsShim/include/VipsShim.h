#ifndef ENHANCE_VIPS_SHIM_H
#define ENHANCE_VIPS_SHIM_H
// Fixed-signature wrappers over libvips' variadic API, callable from Swift.
// Every function returns NULL / non-zero on failure; the message is then in enh_vips_last_error().
#include <stddef.h>

typedef struct _VipsImage VipsImage;

/// Starts libvips once per process. Returns 0 on success.
int enh_vips_init(void);

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
/// The name of the loader that opened the image, e.g. "pngload"; static storage, do not free.
const char *enh_vips_loader(const VipsImage *image);

/// Copies the embedded ICC profile; returns its length (0 when absent). Free *out with enh_vips_free.
size_t enh_vips_icc_profile(const VipsImage *image, void **out);

/// Decodes into interleaved pixels: rotates upright by EXIF orientation, converts to sRGB (or B_W when `gray`),
/// and casts to 8 or 16 bits per sample. Returns a g_malloc'd buffer (free with enh_vips_free) of
/// width*height*bands*(depth/8) bytes and writes the final geometry.
void *enh_vips_decode(VipsImage *image, int autorotate, int gray, int depth, int *width, int *height, int *bands);

/// Encodes interleaved 8- or 16-bit pixels. `path_with_options` uses libvips' syntax, e.g. "out.jpg[Q=90]".
/// `icc` may be NULL. Returns 0 on success.
int enh_vips_save_file(const void *pixels, int width, int height, int bands, int depth,
                       const void *icc, size_t icc_length, const char *path_with_options);

/// Same, to memory; `suffix_with_options` such as ".png" or ".webp[Q=80]". Free *out with enh_vips_free.
int enh_vips_save_buffer(const void *pixels, int width, int height, int bands, int depth,
                         const void *icc, size_t icc_length, const char *suffix_with_options,
                         void **out, size_t *out_length);

#endif
