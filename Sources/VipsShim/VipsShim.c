#include "VipsShim.h"
#include <vips/vips.h>
#include <string.h>

int enh_vips_init(void) {
    static int started = 0;
    static int status = 0;
    if (!started) {
        started = 1;
        status = VIPS_INIT("enhance");
        if (status == 0) {
            // Pixel work is ours; keep libvips' own caches small and predictable.
            vips_cache_set_max(0);
            vips_concurrency_set(1);
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

void *enh_vips_decode(VipsImage *image, int autorotate, int gray, int depth, int *width, int *height, int *bands) {
    VipsImage *current = image;
    g_object_ref(current);
    VipsImage *next = NULL;

    if (autorotate) {
        if (vips_autorot(current, &next, NULL) != 0) goto fail;
        g_object_unref(current);
        current = next;
    }
    VipsInterpretation target = gray
        ? (depth == 16 ? VIPS_INTERPRETATION_GREY16 : VIPS_INTERPRETATION_B_W)
        : (depth == 16 ? VIPS_INTERPRETATION_RGB16 : VIPS_INTERPRETATION_sRGB);
    if (vips_colourspace(current, &next, target, NULL) != 0) goto fail;
    g_object_unref(current);
    current = next;

    VipsBandFormat format = depth == 16 ? VIPS_FORMAT_USHORT : VIPS_FORMAT_UCHAR;
    if (vips_image_get_format(current) != format) {
        if (vips_cast(current, &next, format, NULL) != 0) goto fail;
        g_object_unref(current);
        current = next;
    }
    size_t size = 0;
    void *pixels = vips_image_write_to_memory(current, &size);
    if (!pixels) goto fail;
    *width = vips_image_get_width(current);
    *height = vips_image_get_height(current);
    *bands = vips_image_get_bands(current);
    g_object_unref(current);
    return pixels;
fail:
    g_object_unref(current);
    return NULL;
}

static VipsImage *wrap_pixels(const void *pixels, int width, int height, int bands, int depth,
                              const void *icc, size_t icc_length) {
    VipsBandFormat format = depth == 16 ? VIPS_FORMAT_USHORT : VIPS_FORMAT_UCHAR;
    size_t size = (size_t)width * height * bands * (depth / 8);
    VipsImage *image = vips_image_new_from_memory_copy(pixels, size, width, height, bands, format);
    if (!image) return NULL;
    VipsInterpretation interpretation;
    if (bands <= 2) interpretation = depth == 16 ? VIPS_INTERPRETATION_GREY16 : VIPS_INTERPRETATION_B_W;
    else interpretation = depth == 16 ? VIPS_INTERPRETATION_RGB16 : VIPS_INTERPRETATION_sRGB;
    image->Type = interpretation;
    if (icc && icc_length > 0) {
        vips_image_set_blob_copy(image, VIPS_META_ICC_NAME, icc, icc_length);
    }
    return image;
}

int enh_vips_save_file(const void *pixels, int width, int height, int bands, int depth,
                       const void *icc, size_t icc_length, const char *path_with_options) {
    VipsImage *image = wrap_pixels(pixels, width, height, bands, depth, icc, icc_length);
    if (!image) return -1;
    int status = vips_image_write_to_file(image, path_with_options, NULL);
    g_object_unref(image);
    return status;
}

int enh_vips_save_buffer(const void *pixels, int width, int height, int bands, int depth,
                         const void *icc, size_t icc_length, const char *suffix_with_options,
                         void **out, size_t *out_length) {
    VipsImage *image = wrap_pixels(pixels, width, height, bands, depth, icc, icc_length);
    if (!image) return -1;
    int status = vips_image_write_to_buffer(image, suffix_with_options, out, out_length, NULL);
    g_object_unref(image);
    return status;
}
