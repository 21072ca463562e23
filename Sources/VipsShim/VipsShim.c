#include "VipsShim.h"
#include <vips/vips.h>
#include <string.h>

/* libvips logs harmless format remarks (e.g. "heifload: ignoring nclx profile") as GLib warnings on stderr, which
 * would break the CLI's one-line error output. They are dropped unless ENHANCE_VIPS_WARNINGS is set. */
static void drop_warning(const gchar *domain, GLogLevelFlags level, const gchar *message, gpointer data) {
    (void)domain; (void)level; (void)message; (void)data;
}

/* The loaders of the documented raster formats (and their file/buffer/source subclasses). */
static const char *const documented_loaders[] = {
    "VipsForeignLoadPng", "VipsForeignLoadJpeg", "VipsForeignLoadWebp", "VipsForeignLoadTiff",
    "VipsForeignLoadNsgif", "VipsForeignLoadHeif", NULL,
};

static int loaders_restricted = -1;
int enh_vips_init(void);

void enh_vips_restrict_loaders(int restricted) {
    if (enh_vips_init() != 0) return;
    restricted = restricted ? 1 : 0;
    if (restricted == loaders_restricted) return;
    loaders_restricted = restricted;
    if (restricted) {
        // Everything libvips marks untrusted (ImageMagick, PDF, SVG, FITS, ...), then every other loader but ours.
        vips_block_untrusted_set(TRUE);
        vips_operation_block_set("VipsForeignLoad", TRUE);
        for (int i = 0; documented_loaders[i]; i++) vips_operation_block_set(documented_loaders[i], FALSE);
    } else {
        vips_operation_block_set("VipsForeignLoad", FALSE);
        vips_block_untrusted_set(FALSE);
    }
}

int enh_vips_loaders_restricted(void) { return loaders_restricted == 1; }

const char *enh_vips_version(void) {
    return vips_version_string();
}

int enh_vips_init(void) {
    static int started = 0;
    static int status = 0;
    if (!started) {
        started = 1;
        if (!g_getenv("ENHANCE_VIPS_WARNINGS")) g_log_set_handler("VIPS", G_LOG_LEVEL_WARNING, drop_warning, NULL);
        status = VIPS_INIT("enhance");
        if (status == 0) {
            // Pixel work is ours; keep libvips' own caches small and predictable.
            vips_cache_set_max(0);
            vips_concurrency_set(1);
            // Untrusted input: only the documented raster loaders until the caller opens the rest.
            if (loaders_restricted == -1) enh_vips_restrict_loaders(1);
        }
    }
    return status;
}

char *enh_vips_last_error(void) {
    char *copy = g_strdup(vips_error_buffer());
    vips_error_clear();
    return copy;
}

void enh_vips_free(void *p) { g_free(p); }

void enh_vips_unref(VipsImage *image) {
    if (image) g_object_unref(image);
}

VipsImage *enh_vips_open_file(const char *path) {
    // fail_on=truncated: a cut-off file is an error, not an image with grey rows.
    return vips_image_new_from_file(path, "access", VIPS_ACCESS_SEQUENTIAL, "fail_on", VIPS_FAIL_ON_TRUNCATED, NULL);
}

VipsImage *enh_vips_open_buffer(const void *data, size_t length) {
    return vips_image_new_from_buffer(data, length, "", "access", VIPS_ACCESS_SEQUENTIAL,
                                      "fail_on", VIPS_FAIL_ON_TRUNCATED, NULL);
}

int enh_vips_width(const VipsImage *image) { return vips_image_get_width(image); }
int enh_vips_height(const VipsImage *image) { return vips_image_get_height(image); }
int enh_vips_bands(const VipsImage *image) { return vips_image_get_bands(image); }
int enh_vips_format(const VipsImage *image) { return (int)vips_image_get_format(image); }
int enh_vips_interpretation(const VipsImage *image) { return (int)vips_image_get_interpretation(image); }
int enh_vips_orientation(const VipsImage *image) { return vips_image_get_orientation((VipsImage *)image); }
int enh_vips_pages(const VipsImage *image) { return vips_image_get_n_pages((VipsImage *)image); }

const char *enh_vips_loader(const VipsImage *image) {
    const char *name = NULL;
    if (vips_image_get_typeof(image, VIPS_META_LOADER) &&
        vips_image_get_string(image, VIPS_META_LOADER, &name) == 0)
        return name;
    return "unknown";
}

size_t enh_vips_icc_profile(const VipsImage *image, void **out) {
    *out = NULL;
    if (!vips_image_get_typeof(image, VIPS_META_ICC_NAME)) return 0;
    const void *data = NULL;
    size_t length = 0;
    if (vips_image_get_blob(image, VIPS_META_ICC_NAME, &data, &length) != 0 || length == 0) return 0;
    *out = g_memdup2(data, length);
    return length;
}

size_t enh_vips_blob(const VipsImage *image, const char *name, void **out) {
    *out = NULL;
    if (!vips_image_get_typeof(image, name)) return 0;
    const void *data = NULL;
    size_t length = 0;
    if (vips_image_get_blob((VipsImage *)image, name, &data, &length) != 0 || length == 0) {
        vips_error_clear();
        return 0;
    }
    *out = g_memdup2(data, length);
    return length;
}

int enh_vips_has_operation(const char *nickname) {
    return vips_type_find("VipsOperation", nickname) != 0;
}

size_t enh_vips_builtin_profile(const char *name, void **out) {
    *out = NULL;
    VipsBlob *blob = NULL;
    if (vips_profile_load(name, &blob, NULL) != 0) return 0;
    if (!blob) return 0;
    size_t length = 0;
    const void *data = vips_blob_get(blob, &length);
    if (data && length > 0) *out = g_memdup2(data, length);
    else length = 0;
    vips_area_unref(VIPS_AREA(blob));
    return length;
}

static unsigned read16(const unsigned char *p, int little) {
    return little ? (unsigned)p[0] | (unsigned)p[1] << 8 : (unsigned)p[0] << 8 | (unsigned)p[1];
}

static unsigned long read32(const unsigned char *p, int little) {
    return little ? (unsigned long)p[0] | (unsigned long)p[1] << 8 | (unsigned long)p[2] << 16 | (unsigned long)p[3] << 24
                  : (unsigned long)p[0] << 24 | (unsigned long)p[1] << 16 | (unsigned long)p[2] << 8 | (unsigned long)p[3];
}

int enh_exif_reset_orientation(void *exif, size_t length) {
    unsigned char *data = exif;
    size_t base = 0;
    if (length >= 6 && memcmp(data, "Exif\0\0", 6) == 0) base = 6;
    if (length < base + 8) return 0;
    const unsigned char *tiff = data + base;
    size_t size = length - base;
    int little;
    if (memcmp(tiff, "II*\0", 4) == 0) little = 1;
    else if (memcmp(tiff, "MM\0*", 4) == 0) little = 0;
    else return 0;
    unsigned long ifd = read32(tiff + 4, little);
    if (ifd < 8 || ifd + 2 > size) return 0;
    unsigned count = read16(tiff + ifd, little);
    for (unsigned i = 0; i < count; i++) {
        size_t entry = ifd + 2 + (size_t)i * 12;
        if (entry + 12 > size) return 0;
        // Tag 0x0112 Orientation, type 3 SHORT: the value sits in the first two bytes of the value field.
        if (read16(tiff + entry, little) == 0x0112 && read16(tiff + entry + 2, little) == 3 &&
            read32(tiff + entry + 4, little) >= 1) {
            unsigned char *value = data + base + entry + 8;
            value[0] = little ? 1 : 0;
            value[1] = little ? 0 : 1;
            return 1;
        }
    }
    return 0;
}

/* Replaces *current by the result of an operation that took it as input (drops the reference to the input). */
static void step(VipsImage **current, VipsImage *next) {
    g_object_unref(*current);
    *current = next;
}

/* libvips 8.14's heifload names a "mime" metadata item XMP only when it starts with "<x:xmpmeta"; a packet with
 * the usual "<?xpacket" wrapper lands in "heif-mime-N". Find it there. */
static size_t heif_xmp(VipsImage *image, void **out) {
    *out = NULL;
    size_t found = 0;
    gchar **fields = vips_image_get_fields(image);
    for (int i = 0; fields && fields[i] && !found; i++) {
        if (!vips_isprefix("heif-mime-", fields[i])) continue;
        const void *data = NULL;
        size_t length = 0;
        if (vips_image_get_blob(image, fields[i], &data, &length) != 0) {
            vips_error_clear();
            continue;
        }
        const char *marker = "<x:xmpmeta";
        size_t n = strlen(marker);
        for (size_t j = 0; j + n <= length && j < 4096; j++) {
            if (memcmp((const char *)data + j, marker, n) == 0) {
                *out = g_memdup2(data, length);
                found = length;
                break;
            }
        }
    }
    g_strfreev(fields);
    return found;
}

int enh_vips_decode_full(VipsImage *image, int autorotate, int gray, int depth, EnhDecoded *out) {
    memset(out, 0, sizeof *out);
    VipsImage *current = image;
    g_object_ref(current);
    VipsImage *next = NULL;

    if (autorotate) {
        // Rotates upright and removes the orientation fields.
        if (vips_autorot(current, &next, NULL) != 0) goto fail;
        step(&current, next);
    }
    out->exif_length = enh_vips_blob(current, VIPS_META_EXIF_NAME, &out->exif);
    // The pixels are upright now: say so in the block handed out.
    if (autorotate && out->exif) enh_exif_reset_orientation(out->exif, out->exif_length);
    out->xmp_length = enh_vips_blob(current, VIPS_META_XMP_NAME, &out->xmp);
    if (!out->xmp) out->xmp_length = heif_xmp(current, &out->xmp);

    /* Floating-point samples (32/64-bit float TIFFs): libvips expects 0-255 for sRGB/B_W, but such files usually
     * hold 0-1. Read them into memory once, find the maximum and scale: max <= 1 means 0-1, max <= 255 means
     * 0-255, anything larger is scaled to the maximum. Float RGB is scRGB to libvips (linear light, 0-1), which
     * the conversion below turns into sRGB. Negative values clip to 0 in the cast below. */
    VipsBandFormat source_format = vips_image_get_format(current);
    if (source_format == VIPS_FORMAT_COMPLEX || source_format == VIPS_FORMAT_DPCOMPLEX) {
        vips_error("enhance", "complex-valued samples are not an image Enhance can upscale");
        goto fail;
    }
    if (source_format == VIPS_FORMAT_FLOAT || source_format == VIPS_FORMAT_DOUBLE) {
        VipsImage *memory = vips_image_copy_memory(current);
        if (!memory) goto fail;
        step(&current, memory);
        double maximum = 0;
        if (vips_max(current, &maximum, NULL) != 0) goto fail;
        VipsInterpretation kind = vips_image_get_interpretation(current);
        double k;
        if (kind == VIPS_INTERPRETATION_scRGB) {
            // Linear light, 0-1 by definition (libvips' reading of float RGB TIFFs); brighter files are scaled down.
            k = maximum > 1.0 ? 1.0 / maximum : 1.0;
        } else {
            k = !(maximum > 1.0) ? 255.0 : maximum <= 255.0 ? 1.0 : 255.0 / maximum;
            if (kind == VIPS_INTERPRETATION_GREY16 || kind == VIPS_INTERPRETATION_RGB16) k *= 257.0;
        }
        if (vips_linear1(current, &next, k, 0.0, NULL) != 0) goto fail;
        step(&current, next);
    }

    VipsInterpretation target = gray
        ? (depth == 16 ? VIPS_INTERPRETATION_GREY16 : VIPS_INTERPRETATION_B_W)
        : (depth == 16 ? VIPS_INTERPRETATION_RGB16 : VIPS_INTERPRETATION_sRGB);
    if (vips_colourspace(current, &next, target, NULL) != 0) goto fail;
    step(&current, next);

    VipsBandFormat format = depth == 16 ? VIPS_FORMAT_USHORT : VIPS_FORMAT_UCHAR;
    if (vips_image_get_format(current) != format) {
        if (vips_cast(current, &next, format, NULL) != 0) goto fail;
        step(&current, next);
    }
    size_t size = 0;
    out->pixels = vips_image_write_to_memory(current, &size);
    if (!out->pixels) goto fail;
    out->width = vips_image_get_width(current);
    out->height = vips_image_get_height(current);
    out->bands = vips_image_get_bands(current);
    g_object_unref(current);
    return 0;
fail:
    g_object_unref(current);
    g_free(out->exif);
    g_free(out->xmp);
    memset(out, 0, sizeof *out);
    return -1;
}

void *enh_vips_decode(VipsImage *image, int autorotate, int gray, int depth, int *width, int *height, int *bands) {
    EnhDecoded decoded;
    if (enh_vips_decode_full(image, autorotate, gray, depth, &decoded) != 0) return NULL;
    g_free(decoded.exif);
    g_free(decoded.xmp);
    *width = decoded.width;
    *height = decoded.height;
    *bands = decoded.bands;
    return decoded.pixels;
}

/* Builds the image to save: the pixels (copied), the ICC profile or the conversion to sRGB, EXIF and XMP. */
/* Wraps the caller's interleaved pixels without copying them (they outlive the encode call). */
static VipsImage *memory_image(const EnhEncodeInput *in) {
    int depth = in->depth == 16 ? 16 : 8;
    VipsBandFormat format = depth == 16 ? VIPS_FORMAT_USHORT : VIPS_FORMAT_UCHAR;
    size_t size = (size_t)in->width * in->height * in->bands * (depth / 8);
    return vips_image_new_from_memory(in->pixels, size, in->width, in->height, in->bands, format);
}

/* Sets the interpretation, converts or attaches the ICC profile and attaches EXIF/XMP; consumes `image`. */
static VipsImage *decorate(VipsImage *image, const EnhEncodeInput *in) {
    int depth = in->depth == 16 ? 16 : 8;
    VipsBandFormat format = depth == 16 ? VIPS_FORMAT_USHORT : VIPS_FORMAT_UCHAR;
    int gray = in->bands <= 2;
    if (gray) image->Type = depth == 16 ? VIPS_INTERPRETATION_GREY16 : VIPS_INTERPRETATION_B_W;
    else image->Type = depth == 16 ? VIPS_INTERPRETATION_RGB16 : VIPS_INTERPRETATION_sRGB;

    VipsImage *next = NULL;
    if (in->icc && in->icc_length > 0) {
        vips_image_set_blob_copy(image, VIPS_META_ICC_NAME, in->icc, in->icc_length);
        if (in->convert_to_srgb) {
            // Extra bands (alpha) pass through untouched; the result carries libvips' sRGB profile, dropped below.
            if (vips_icc_transform(image, &next, "srgb", "embedded", TRUE, "depth", depth, NULL) != 0) goto fail;
            step(&image, next);
            if (gray) {
                // Keep the channel count: sRGB gray is R = G = B.
                VipsInterpretation target = depth == 16 ? VIPS_INTERPRETATION_GREY16 : VIPS_INTERPRETATION_B_W;
                if (vips_colourspace(image, &next, target, NULL) != 0) goto fail;
                step(&image, next);
            }
            if (vips_image_get_format(image) != format) {
                if (vips_cast(image, &next, format, NULL) != 0) goto fail;
                step(&image, next);
            }
            // A private header to edit (operation outputs may be shared).
            if (vips_copy(image, &next, NULL) != 0) goto fail;
            step(&image, next);
            vips_image_remove(image, VIPS_META_ICC_NAME);
        }
    }
    if (in->exif && in->exif_length > 0) {
        // Setting "exif-data" makes libvips parse the block into "exif-ifdN-Tag" fields and the "orientation"
        // field (vips_image_set); savers rebuild the block from those fields (vips__exif_update), writing the
        // Orientation tag from "orientation". The pixels are upright, so that is 1.
        vips_image_set_blob_copy(image, VIPS_META_EXIF_NAME, in->exif, in->exif_length);
        vips_image_set_int(image, VIPS_META_ORIENTATION, 1);
    }
    if (in->xmp && in->xmp_length > 0) {
        vips_image_set_blob_copy(image, VIPS_META_XMP_NAME, in->xmp, in->xmp_length);
    }
    return image;
fail:
    g_object_unref(image);
    return NULL;
}

static VipsImage *prepare(const EnhEncodeInput *in) {
    VipsImage *image = memory_image(in);
    return image ? decorate(image, in) : NULL;
}

/* Streaming: an image whose pixels come from the caller's row source as libvips asks for them. */
typedef struct {
    EnhRowSource source;
    void *context;
    int width;
    size_t pixel_bytes;
} EnhStream;

static int stream_generate(VipsRegion *out, void *seq, void *a, void *b, gboolean *stop) {
    (void)seq; (void)b; (void)stop;
    EnhStream *s = (EnhStream *)a;
    VipsRect *r = &out->valid;
    size_t row = (size_t)s->width * s->pixel_bytes;
    unsigned char *buffer = g_try_malloc(row * r->height);
    if (!buffer) {
        vips_error("enhance", "out of memory for %d output rows", r->height);
        return -1;
    }
    if (s->source(s->context, r->top, r->height, buffer) != 0) {
        g_free(buffer);
        vips_error("enhance", "the upscaler failed while the encoder was reading rows %d-%d", r->top, r->top + r->height);
        return -1;
    }
    for (int y = 0; y < r->height; y++)
        memcpy(VIPS_REGION_ADDR(out, r->left, r->top + y), buffer + y * row + r->left * s->pixel_bytes,
               r->width * s->pixel_bytes);
    g_free(buffer);
    return 0;
}

static VipsImage *stream_image(const EnhEncodeInput *in, EnhStream *s) {
    int depth = in->depth == 16 ? 16 : 8;
    VipsBandFormat format = depth == 16 ? VIPS_FORMAT_USHORT : VIPS_FORMAT_UCHAR;
    VipsInterpretation interpretation = in->bands <= 2 ? VIPS_INTERPRETATION_B_W : VIPS_INTERPRETATION_sRGB;
    VipsImage *image = vips_image_new();
    vips_image_init_fields(image, in->width, in->height, in->bands, format, VIPS_CODING_NONE, interpretation, 1.0, 1.0);
    if (vips_image_pipelinev(image, VIPS_DEMAND_STYLE_THINSTRIP, NULL) != 0 ||
        vips_image_generate(image, NULL, stream_generate, NULL, s, NULL) != 0) {
        g_object_unref(image);
        return NULL;
    }
    return decorate(image, in);
}

int enh_vips_encode_stream_file(const EnhEncodeInput *input, EnhRowSource source, void *context,
                                const char *path_with_options) {
    EnhStream s = { source, context, input->width, (size_t)input->bands * (input->depth == 16 ? 2 : 1) };
    VipsImage *image = stream_image(input, &s);
    if (!image) return -1;
    int status = vips_image_write_to_file(image, path_with_options, NULL);
    g_object_unref(image);
    return status;
}

int enh_vips_encode_stream_buffer(const EnhEncodeInput *input, EnhRowSource source, void *context,
                                  const char *suffix_with_options, void **out, size_t *out_length) {
    EnhStream s = { source, context, input->width, (size_t)input->bands * (input->depth == 16 ? 2 : 1) };
    VipsImage *image = stream_image(input, &s);
    if (!image) return -1;
    int status = vips_image_write_to_buffer(image, suffix_with_options, out, out_length, NULL);
    g_object_unref(image);
    return status;
}

int enh_vips_encode_file(const EnhEncodeInput *input, const char *path_with_options) {
    VipsImage *image = prepare(input);
    if (!image) return -1;
    int status = vips_image_write_to_file(image, path_with_options, NULL);
    g_object_unref(image);
    return status;
}

int enh_vips_encode_buffer(const EnhEncodeInput *input, const char *suffix_with_options,
                           void **out, size_t *out_length) {
    VipsImage *image = prepare(input);
    if (!image) return -1;
    int status = vips_image_write_to_buffer(image, suffix_with_options, out, out_length, NULL);
    g_object_unref(image);
    return status;
}

int enh_vips_save_file(const void *pixels, int width, int height, int bands, int depth,
                       const void *icc, size_t icc_length, const char *path_with_options) {
    EnhEncodeInput input = { pixels, width, height, bands, depth, icc, icc_length, NULL, 0, NULL, 0, 0 };
    return enh_vips_encode_file(&input, path_with_options);
}

int enh_vips_save_buffer(const void *pixels, int width, int height, int bands, int depth,
                         const void *icc, size_t icc_length, const char *suffix_with_options,
                         void **out, size_t *out_length) {
    EnhEncodeInput input = { pixels, width, height, bands, depth, icc, icc_length, NULL, 0, NULL, 0, 0 };
    return enh_vips_encode_buffer(&input, suffix_with_options, out, out_length);
}

/* Shrinks beyond this factor first box-average by an integer factor (libvips' "gap"), so that the lanczos3 mask
 * stays within libvips' 2000-point limit; below it the kernel is pure lanczos3. */
static double reduce_gap(double factor) { return factor > 256 ? 8.0 : 0.0; }

/* Resamples `current` (consumed) to out_width x out_height: lanczos3 reduce on shrinking axes, centre-aligned
 * nohalo affine on growing ones. Returns the new image or NULL. */
static VipsImage *resize_pipeline(VipsImage *current, int out_width, int out_height) {
    int width = vips_image_get_width(current), height = vips_image_get_height(current);
    VipsImage *next = NULL;

    if (out_height < height) {
        double factor = (double)height / out_height;
        if (vips_reducev(current, &next, factor, "kernel", VIPS_KERNEL_LANCZOS3, "gap", reduce_gap(factor), NULL) != 0)
            goto fail;
        step(&current, next);
    }
    if (out_width < width) {
        double factor = (double)width / out_width;
        if (vips_reduceh(current, &next, factor, "kernel", VIPS_KERNEL_LANCZOS3, "gap", reduce_gap(factor), NULL) != 0)
            goto fail;
        step(&current, next);
    }
    if (out_width > width || out_height > height) {
        // Centre convention: output pixel centre x' + 0.5 maps to input centre (x + 0.5) * scale, i.e.
        // x' = scale * (x + 0.5) - 0.5; libvips' affine takes that as idx = 0.5, odx = -0.5. An axis that is not
        // enlarged has scale 1 and is sampled exactly at the pixel centres (the interpolator returns the input).
        double sx = (double)out_width / vips_image_get_width(current);
        double sy = (double)out_height / vips_image_get_height(current);
        VipsInterpolate *interpolate = vips_interpolate_new("nohalo");
        if (!interpolate) goto fail;
        VipsArrayInt *area = vips_array_int_newv(4, 0, 0, out_width, out_height);
        int status = vips_affine(current, &next, sx, 0.0, 0.0, sy,
                                 "interpolate", interpolate, "oarea", area,
                                 "idx", 0.5, "idy", 0.5, "odx", -0.5, "ody", -0.5,
                                 "extend", VIPS_EXTEND_COPY, "premultiplied", TRUE, NULL);
        vips_area_unref(VIPS_AREA(area));
        g_object_unref(interpolate);
        if (status != 0) goto fail;
        step(&current, next);
    }
    if (vips_image_get_width(current) != out_width || vips_image_get_height(current) != out_height) {
        // Never expected (reduce rounds width / (width / out) to nearest); keeps the contract if it happens.
        if (vips_embed(current, &next, 0, 0, out_width, out_height, "extend", VIPS_EXTEND_COPY, NULL) != 0) goto fail;
        step(&current, next);
    }
    return current;
fail:
    g_object_unref(current);
    return NULL;
}

float *enh_vips_resize(const float *pixels, int width, int height, int bands, int out_width, int out_height) {
    if (width < 1 || height < 1 || bands < 1 || out_width < 1 || out_height < 1) {
        vips_error("enhance", "bad resize geometry %dx%d -> %dx%d", width, height, out_width, out_height);
        return NULL;
    }
    size_t size = (size_t)width * height * bands * sizeof(float);
    // No copy: `pixels` outlives every image below (they are all evaluated before returning).
    VipsImage *current = vips_image_new_from_memory(pixels, size, width, height, bands, VIPS_FORMAT_FLOAT);
    if (!current) return NULL;
    current->Type = VIPS_INTERPRETATION_MULTIBAND;
    current = resize_pipeline(current, out_width, out_height);
    if (!current) return NULL;
    size_t out_size = 0;
    float *result = vips_image_write_to_memory(current, &out_size);
    g_object_unref(current);
    return result;
}

void *enh_vips_resize_samples(const void *pixels, int width, int height, int bands, int depth, int has_alpha,
                              int out_width, int out_height) {
    if (width < 1 || height < 1 || bands < 1 || out_width < 1 || out_height < 1 || (depth != 8 && depth != 16)) {
        vips_error("enhance", "bad resize geometry %dx%d -> %dx%d", width, height, out_width, out_height);
        return NULL;
    }
    VipsBandFormat format = depth == 16 ? VIPS_FORMAT_USHORT : VIPS_FORMAT_UCHAR;
    size_t size = (size_t)width * height * bands * (depth / 8);
    VipsImage *current = vips_image_new_from_memory(pixels, size, width, height, bands, format);
    if (!current) return NULL;
    current->Type = depth == 16 ? VIPS_INTERPRETATION_RGB16 : VIPS_INTERPRETATION_sRGB;
    if (bands <= 2) current->Type = depth == 16 ? VIPS_INTERPRETATION_GREY16 : VIPS_INTERPRETATION_B_W;
    VipsImage *next = NULL;
    // Work in float (libvips evaluates region by region, so only small float buffers exist at any time), with
    // colour premultiplied by alpha so transparent pixels do not bleed.
    if (vips_cast(current, &next, VIPS_FORMAT_FLOAT, NULL) != 0) goto fail;
    step(&current, next);
    double max_alpha = depth == 16 ? 65535.0 : 255.0;
    if (has_alpha) {
        if (vips_premultiply(current, &next, "max_alpha", max_alpha, NULL) != 0) goto fail;
        step(&current, next);
    }
    current = resize_pipeline(current, out_width, out_height);
    if (!current) return NULL;
    if (has_alpha) {
        if (vips_unpremultiply(current, &next, "max_alpha", max_alpha, NULL) != 0) goto fail;
        step(&current, next);
    }
    // Round to nearest and clamp (lanczos overshoots).
    if (vips_linear1(current, &next, 1.0, 0.5, NULL) != 0) goto fail;
    step(&current, next);
    if (vips_cast(current, &next, format, "shift", FALSE, NULL) != 0) goto fail;
    step(&current, next);
    size_t out_size = 0;
    void *result = vips_image_write_to_memory(current, &out_size);
    g_object_unref(current);
    return result;
fail:
    g_object_unref(current);
    return NULL;
}
