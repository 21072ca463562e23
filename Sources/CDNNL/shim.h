#ifndef ENHANCE_CDNNL_SHIM_H
#define ENHANCE_CDNNL_SHIM_H
// oneDNN C API (Debian libdnnl-dev, v2.x) plus the OpenMP thread control its OMP runtime obeys.
#include <oneapi/dnnl/dnnl.h>

// From libgomp; oneDNN's Debian build uses the OpenMP CPU runtime.
extern void omp_set_num_threads(int num_threads);
extern int omp_get_max_threads(void);

// DNNL_ARG_* macros built from expressions are not imported by Swift; expose them as constants.
static inline int cdnnl_arg_post_op_src1(int idx) { return DNNL_ARG_ATTR_MULTIPLE_POST_OP(idx) | DNNL_ARG_SRC_1; }
static inline int cdnnl_arg_post_op_weights(int idx) { return DNNL_ARG_ATTR_MULTIPLE_POST_OP(idx) | DNNL_ARG_WEIGHTS; }
static inline int cdnnl_arg_multiple_src(int idx) { return DNNL_ARG_MULTIPLE_SRC + idx; }

#endif
