/*
 * nabla.h — public API of nabla, a trainer for multilayer perceptrons by
 * gradient descent.
 *
 *   F(x, θ) = F_L ∘ … ∘ F_1(x),   F_l(x) = σ_l(A_l x + b_l)
 *   Φ(θ)    = (1/N) Σ_i ‖F(x_i, θ) − y_i‖²   (MSE; or softmax cross-entropy)
 *   θ      ← θ − α ∇Φ(θ)
 *
 * The same algorithms run on every backend ("cpu" is the pure-C backend).
 *
 * Conventions
 *   - Every function that can fail returns nb_status; NB_OK is 0. On failure
 *     nb_last_error() holds one line naming the call, the reason and the
 *     source file:line of the check (for bad data: data file:line:column).
 *     The message is per thread and stays until the next failure.
 *   - Matrices are row-major. Dimensions come before buffers; outputs last.
 *   - Library code never exits or aborts the process.
 *
 * Ownership (holds for every type below)
 *   - Whoever calls nb_X_create / nb_X_load frees the object with nb_X_free.
 *   - nb_X_free(NULL) is a no-op.
 *   - Pointers passed in are only read during the call and may be freed
 *     afterwards, unless a comment says "borrowed", in which case the object
 *     keeps the pointer and it must outlive the object.
 *   - Pointers returned by getters are borrowed from the object: valid until
 *     the object is freed, never to be freed by the caller.
 *   - A model borrows its backend: free models before their backend.
 */
#ifndef NABLA_H
#define NABLA_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The shared library exports exactly what this header declares: nabla is
 * compiled with hidden visibility, and this makes every declaration below
 * visible (ABI policy: README, "Using nabla from your project"). */
#if defined(__GNUC__)
#pragma GCC visibility push(default)
#endif

/* NABLA_VERSION_MAJOR, _MINOR, _PATCH and NABLA_VERSION ("M.m.p"): the
 * version this header belongs to, generated from the build's one version. */
#include "nabla_version.h"

/* ---------------------------------------------------------------- status */

typedef enum nb_status {
    NB_OK = 0,
    NB_ERR_ARG,         /* an argument is out of range or inconsistent      */
    NB_ERR_NOMEM,       /* an allocation failed                              */
    NB_ERR_IO,          /* a file could not be opened, read or written       */
    NB_ERR_DATA,        /* a data file is malformed (file:line:column given) */
    NB_ERR_BACKEND,     /* the compute backend failed (call and code given)  */
    NB_ERR_UNSUPPORTED, /* valid request this build or backend cannot do     */
    NB_ERR_NONFINITE,   /* a loss, gradient or parameter became NaN or Inf   */
    NB_ERR_INTERNAL,    /* a broken invariant inside nabla: please report    */
    NB_ERR_DIVERGED     /* the loss grew past the divergence factor          */
} nb_status;

/* "NB_ERR_DATA" etc.; never NULL. */
const char *nb_status_str(nb_status s);
/* The calling thread's last error message; "" when there was none. */
const char *nb_last_error(void);
/* The library's version, "MAJOR.MINOR.PATCH", at run time (a shared
 * library's may differ from NABLA_VERSION, the header's). */
const char *nb_version(void);

/* ------------------------------------------------------ enums and names */

typedef enum nb_act {
    NB_ACT_SIGMOID = 0, /* 1 / (1 + e^-z)                                 */
    NB_ACT_TANH,        /* tanh z                                          */
    NB_ACT_RELU,        /* max(z, 0)                                       */
    NB_ACT_IDENTITY,    /* z                                               */
    NB_ACT_SOFTMAX      /* row-wise softmax; output layer with NB_LOSS_XENT */
} nb_act;

typedef enum nb_loss {
    NB_LOSS_MSE = 0, /* (1/N) Σ_i ‖F(x_i) − y_i‖²: sum over outputs, mean over samples */
    NB_LOSS_XENT     /* (1/N) Σ_i −Σ_k y_ik log softmax(z_i)_k                        */
} nb_loss;

const char *nb_act_name(nb_act a);   /* "sigmoid", …; "?" if out of range */
const char *nb_loss_name(nb_loss l); /* "mse", "xent"                     */
/* Parse a name as printed by nb_act_name / nb_loss_name. NB_ERR_ARG if unknown. */
nb_status nb_act_parse(const char *name, nb_act *out);
nb_status nb_loss_parse(const char *name, nb_loss *out);

/* -------------------------------------------------------------- backend */

typedef struct nb_backend nb_backend;

/*
 * device:
 *   "cpu"        the pure-C backend;
 *   "opencl"     the device "auto" would choose, else (no GPU or
 *                accelerator) the first OpenCL device of any type; fails
 *                (NB_ERR_BACKEND / NB_ERR_UNSUPPORTED) with the reason;
 *   "opencl:P.D" device D of platform P, as listed by nb_opencl_devices;
 *                NB_ERR_ARG if the name is not of that form, NB_ERR_BACKEND
 *                (with the devices platform P has) if it names no device;
 *   "auto"       the OpenCL device nb_device_auto_choice picks (a GPU,
 *                else an accelerator), else "cpu"; falls back to "cpu" on
 *                any failure too, and records why in nb_backend_note.
 * NULL means "auto".
 */
nb_status nb_backend_create(const char *device, nb_backend **out);
void nb_backend_free(nb_backend *be);
/* Human-readable name, e.g. "cpu" or "opencl:0.0 (device name)". Borrowed. */
const char *nb_backend_name(const nb_backend *be);
/* One line, "" when there is nothing to say. Borrowed. On the cpu after
 * "auto": why no OpenCL device was used, either "OpenCL unavailable: " and
 * the failure, or the reason of nb_device_auto_choice ("the only OpenCL
 * devices are CPU devices (opencl:0.0); ..."). On OpenCL: why the kernel cache
 * was not used (a cache directory or entry that someone else could have
 * written: not owned by the user, writable by group or others, or an entry
 * that is a link or not a plain file), with the fix; the program was then
 * compiled and nothing was cached. */
const char *nb_backend_note(const nb_backend *be);
/* The kernel configuration an OpenCL backend runs, in one line ("gemm
 * TM,TN,TK,WM,WN,VW,PAD,DB,LOCAL, gemv_wg …"), or "" for a backend without
 * one (the cpu). *tuned (may be NULL) is 1 when it came from a tuning
 * record written by `nabla tune` for this device, else 0. Borrowed. */
const char *nb_backend_tuning(const nb_backend *be, int *tuned);

/*
 * Options for creating a backend. Fill them with nb_backend_options_default
 * and change only the fields you need; 0 and NULL mean "the default" for
 * every field. The library reads no environment variable for any of them
 * (the `nabla` command maps its NABLA_* variables onto these fields).
 *
 * ABI: size is set by nb_backend_options_default to the size the caller
 * was compiled with. Later versions only add fields at the end; a library
 * given a smaller size (an older caller) uses the defaults for the fields
 * the caller did not know. A size smaller than this first version's, or
 * larger than the library knows, is NB_ERR_ARG.
 *
 * A bad field is NB_ERR_ARG from nb_backend_create_with, naming the field
 * and its value. Strings are read during the call only (not kept).
 */
typedef struct nb_backend_options {
    size_t size;                 /* sizeof(nb_backend_options), from _default       */
    /* cpu backend: worker threads, 1 to 1024; 0: the CPUs this process may
     * use (its affinity mask, capped by its cgroup's CPU quota). */
    int threads;
    /* cpu backend: the GEMM kernels, "avx512", "avx2" or "generic"; NULL or
     * "": the best this CPU runs. One this CPU or build cannot run is
     * NB_ERR_UNSUPPORTED. */
    const char *cpu_isa;
    /* OpenCL: the directory of the compiled-program cache and the tuning
     * records (created owner-only when missing). NULL or "": the default,
     * $XDG_CACHE_HOME/nabla, else $HOME/.cache/nabla (the only place the
     * library reads the environment, and only for this default); "off": no
     * cache (every backend compiles its program; no record is used).
     * At most 4000 bytes. */
    const char *cache_dir;
    /* OpenCL: bytes of training data a run may keep on the device; larger
     * data is streamed in batches. 0: half the device's global memory. */
    uint64_t device_data_limit;
    /* OpenCL: a directory holding the kernel files (gemm.cl, reduce.cl, …)
     * to build instead of the ones built into the library. NULL or "": the
     * built-in kernels. At most 4000 bytes. */
    const char *kernel_dir;
    /* 1: "auto" counts CPU-type OpenCL devices as GPUs (to test the auto
     * path on a machine without a GPU); 0: only GPUs and accelerators. */
    int auto_any_device;
    /* OpenCL tunables, for tests and experiments; 0 / NULL: the device's.
     * cl_max_work_group and cl_max_local_mem (bytes) lower the limits the
     * kernels are chosen under, as a smaller device would have; a value at
     * or above the device's own changes nothing. */
    uint64_t cl_max_work_group;
    uint64_t cl_max_local_mem;
    /* One GEMM configuration, "TM,TN,TK,WM,WN,VW" or "TM,TN,TK,WM,WN,VW,
     * PAD,DB,LOCAL" (kernels/README.md), instead of the built-in choice or
     * a record; it must fit the device (NB_ERR_ARG otherwise). NULL or "":
     * none. */
    const char *cl_gemm;
    /* Products of at most this many multiply-adds run one work-item per
     * output instead of tiles; 0: always tile; 0 to 1e18; negative: the
     * built-in bound (the default, -1). Wins over a tuning record. */
    double cl_gemm_small;
    /* 1: use this device's tuning record from `nabla tune` (the default);
     * 0: ignore records. */
    int cl_use_record;
    /* The tuner's candidates, "CFG;CFG;…" with each CFG as cl_gemm; a
     * malformed entry is skipped as over the limits. NULL or "": the
     * built-in list. At most 4000 bytes. */
    const char *cl_tune_candidates;
} nb_backend_options;

/* Every field at its default, and size set. o must not be NULL. */
void nb_backend_options_default(nb_backend_options *o);
/* nb_backend_create with options (NULL: the defaults). nb_backend_create
 * is this with the defaults. A backend keeps its own copy of what it uses. */
nb_status nb_backend_create_with(const char *device, const nb_backend_options *o,
                                 nb_backend **out);
/* The cpu backend's worker threads; 0 for a backend that computes on a
 * device (OpenCL). */
int nb_backend_threads(const nb_backend *be);

/*
 * The OpenCL loader library to open, e.g. "libOpenCL.so.1" (the default,
 * also for NULL or ""). Process-wide, because the loader is opened once
 * and stays loaded: call it before anything uses OpenCL (creating a
 * backend, nb_opencl_devices), from one thread. Once a loader has been
 * opened successfully, asking for a different one is NB_ERR_UNSUPPORTED
 * and the same one is NB_OK; a path over 4000 bytes is NB_ERR_ARG. A
 * loader that failed to open may be replaced: the next use tries again.
 */
nb_status nb_set_opencl_library(const char *path);

/* One OpenCL device, as "opencl:P.D" names it. */
typedef struct nb_device_info {
    int platform, device;    /* P and D                                  */
    char platform_name[128];
    char name[128];
    char vendor[128];
    char driver[64];         /* driver version                           */
    char version[128];       /* OpenCL version the device supports       */
    char type[8];            /* "GPU", "CPU", "ACCEL" or "OTHER"         */
    unsigned compute_units;
    unsigned clock_mhz;
    uint64_t global_mem;     /* bytes                                    */
    uint64_t local_mem;      /* bytes                                    */
    uint64_t max_alloc;      /* largest single buffer, bytes             */
    size_t max_work_group;
} nb_device_info;

/*
 * List the OpenCL devices: up to cap entries into out, the total into
 * *count, and into *auto_pick the index "auto" would choose (-1: the
 * pure-C cpu backend; see nb_device_auto_choice). NB_ERR_UNSUPPORTED when
 * this build has no OpenCL or no loader or platform is installed; the
 * message says which.
 */
nb_status nb_opencl_devices(nb_device_info *out, int cap, int *count, int *auto_pick);

/*
 * The device "auto" uses among devs[0 … n) (as nb_opencl_devices lists
 * them), and why. The rule: the first GPU in platform order (P, then D of
 * "opencl:P.D"), else the first accelerator, else -1: the pure-C cpu
 * backend. A CPU-type OpenCL device is used only when named ("opencl",
 * "opencl:P.D"): on the same cores the pure-C backend is faster. One line
 * saying why goes into why (why_size bytes; why may be NULL), e.g. "the
 * only GPU" or "the only OpenCL devices are CPU devices (opencl:0.0); ...".
 * Reads nothing but its arguments (CPU devices count as GPUs only through
 * nb_backend_options.auto_any_device, when a backend is created).
 */
int nb_device_auto_choice(const nb_device_info *devs, int n, char *why, size_t why_size);

/*
 * Notices: one line (no newline) that a person may want to see while a
 * call runs, such as "building kernels for opencl:0.0 (NAME) (first use;
 * cached afterwards)" just before a backend compiles its device program
 * from source, which can take seconds. The library never prints; it calls
 * the handler, if one is set, and otherwise says nothing.
 *
 * The handler is process-wide: nb_set_notice_handler(NULL, NULL) removes
 * it. Setting it is thread-safe, and a notice always reaches a handler
 * with the user pointer it was set with. The handler runs on the thread
 * whose call gives the notice, possibly on several threads at once, so it
 * must be thread-safe itself if several threads create backends; the line
 * is valid only during the call.
 */
typedef void (*nb_notice_fn)(void *user, const char *line);
void nb_set_notice_handler(nb_notice_fn fn, void *user);

/* Per-op timing ("compare device timings"). While enabled, every op's
 * calls, time, flops and bytes are accumulated: OpenCL times kernels with
 * profiling events, the cpu backend with a monotonic clock. */
typedef struct nb_op_profile {
    const char *op;  /* "gemm", "bias_act", …, "write", "read"; static     */
    uint64_t calls;
    double seconds;  /* device time for kernels; wall time on cpu          */
    double flops;    /* counted work (GEMM: 2·M·N·K; element-wise: 0)       */
    double bytes;    /* bytes moved to or from memory (transfers: across)   */
} nb_op_profile;

nb_status nb_backend_profile_enable(nb_backend *be, int on);
/* Wait for queued work, then copy up to cap op entries with calls > 0;
 * returns how many were copied. */
int nb_backend_profile(nb_backend *be, nb_op_profile *out, int cap);
/* Kernel launches since the profile was last enabled or disabled (counted
 * whether it is on or not), or -1 for a backend that launches no kernels
 * (the cpu runs its ops as calls). */
int64_t nb_backend_launches(const nb_backend *be);
/* Seconds spent building device programs, and whether they came from the
 * on-disk cache (1), were compiled (0), or no program was needed (-1). */
void nb_backend_build_info(const nb_backend *be, double *seconds, int *cached);

/* -------------------------------------------------------------- datasets */

/*
 * A dataset lives in host memory: inputs X (rows, inputs) row-major float32,
 * and either real-valued targets Y (rows, outputs) or integer class labels
 * (rows) in [0, classes). For classification the training target is the
 * one-hot row of the label, so outputs == classes.
 */
typedef struct nb_dataset nb_dataset;

typedef struct nb_csv_options {
    int header;      /* -1: detect (see nb_dataset_load_csv), 0: none, 1: line 1 is a
                        header whatever it holds                                    */
    int label_col;   /* 0-based column of the label; -1: the last column           */
    int regression;  /* nonzero: the label column is a real-valued target          */
    int targets;     /* K > 0: the last K columns are real-valued targets (implies
                        regression; label_col must then be -1)                     */
    int classes;     /* classification: number of classes; 0 infers max label + 1
                        (at most 65536). A label >= classes is an error at its
                        file:line:column. Named labels: the number of distinct
                        names, which must then match it.                          */
    size_t max_line; /* longest accepted line in bytes; 0: 1 MiB                  */
    int features_only; /* nonzero: every column is an input and the dataset has no
                          targets (0 outputs), for prediction; label_col, regression,
                          targets and classes must keep their defaults          */
    char delimiter;    /* ',', ';' or '\t' (anything else is NB_ERR_ARG); 0: detect
                          from the first non-blank line: the one of the three that
                          splits it into the most fields, delimiters inside quotes
                          not counting; ',' on a tie, then ';'                      */
    /* Named classes. When every label field is a whole number (decimal
     * digits only), labels are class indices as above. A label that is a
     * number but not a whole one (-1, 0.5, 1e3) is an error at its
     * file:line:column (a real-valued target wants regression). Otherwise
     * every label is a class name: the field's text, blanks around it and quotes
     * removed, 1 to 255 bytes with no control characters. With class_names
     * NULL the distinct names of the file, sorted by their bytes, become
     * classes 0, 1, … (at most 65536). With class_names given (a saved
     * model's n_class_names names: valid names, all distinct; classes 0 or
     * n_class_names), every label is a name, whole numbers included (a
     * model with names is evaluated on names), and must be one of them,
     * else it is an error at its file:line:column naming it and a few of
     * the classes; class k is then class_names[k] and classes is
     * n_class_names. Only for classification: NB_ERR_ARG with regression,
     * targets or features_only. Borrowed for the call only. */
    const char *const *class_names;
    int n_class_names;
} nb_csv_options;

void nb_csv_options_default(nb_csv_options *opt);

/*
 * Load a delimited file of numbers: fields separated by ',', ';' or tabs
 * (nb_csv_options.delimiter), the label column holding class indices or
 * class names (see nb_csv_options). Numbers parse the same under every
 * locale ('.' is the decimal point). A UTF-8 byte-order mark and CRLF line
 * ends are accepted; blank lines (spaces and tabs only) are skipped.
 * Blanks around a field are ignored (spaces, and tabs unless tabs
 * delimit). Fields may be double-quoted (RFC 4180: "" is a quote,
 * delimiters inside quotes do not split); a quoted field may not span
 * lines. Every data row must have as many fields as the first data row; a
 * header line may have any number. NaN, Inf and values outside float
 * range are errors.
 *
 * Header: line 1 here is the first non-blank line. header = 1: line 1 is a
 * header, whatever it holds. header = 0: it is data. header = -1: line 1
 * is a header when one of its fields is empty or not a number (NaN, Inf
 * and out-of-range numbers count as numbers, so such a row is an error,
 * not a header), except when, in a classification load, that field is its
 * label alone: then line 1 is data if it has as many fields as the next
 * non-blank line and its label can be a label of the file (with
 * class_names NULL, some other row's label is a name too; with
 * class_names, it is one of them), or if it is the only line; otherwise
 * it is a header. nb_dataset_header_skipped tells which was done.
 *
 * On any error nothing is returned (*out stays NULL) and the message names
 * path:line:column; a row of one field where more are expected also names
 * the delimiter looked for and, if one would split the row, the other.
 * A path that is not a regular file (a FIFO, a directory, a device) is
 * refused when opened, without blocking. Memory: the dataset (at most 2 x
 * the file size: every value takes at least two bytes of text and costs
 * four), a line buffer of max_line bytes and, for named classes, under 70
 * more bytes per distinct name: under 2 x size + max_line + 5 MiB in all.
 * Status: NB_ERR_IO (cannot open/read, not a regular file), NB_ERR_DATA
 * (malformed), NB_ERR_ARG (bad options), NB_ERR_NOMEM.
 */
nb_status nb_dataset_load_csv(const char *path, const nb_csv_options *opt, nb_dataset **out);
/* The same from memory; name is used in messages only. */
nb_status nb_dataset_load_csv_mem(const char *name, const void *bytes, size_t size,
                                  const nb_csv_options *opt, nb_dataset **out);

/*
 * Load a classification dataset from an IDX pair, the format MNIST comes
 * in: images_path holds unsigned-byte images with 3 dimensions (count,
 * rows, cols), labels_path unsigned-byte labels with 1 (count), and the
 * counts must agree. Each image becomes one row of rows·cols inputs, every
 * pixel scaled by 1/255 into [0, 1] (0 → 0, 255 → 1 exactly). classes: 0
 * infers max label + 1 (at most 256); 1…256 fixes the count, and a label
 * >= classes is an error naming the file and the record (0-based). Other
 * IDX element types are refused, not converted. Either file may be
 * gzip-compressed; that is recognised by its first bytes, whatever the
 * name. Header sizes must match the data exactly (no trailing bytes) and
 * are checked before anything is allocated; each file may declare at most
 * 4 GiB. Memory: 4 bytes per pixel and per label plus under 1 MiB. On any
 * error *out stays NULL and the message names the file and the byte offset
 * in its (decompressed) content. A path that is not a regular file (a
 * FIFO, a directory, a device) is refused when opened, without blocking.
 * Status: NB_ERR_IO (cannot open/read, not a regular file), NB_ERR_DATA
 * (malformed, corrupt gzip), NB_ERR_ARG, NB_ERR_NOMEM.
 */
nb_status nb_dataset_load_idx(const char *images_path, const char *labels_path, int classes,
                              nb_dataset **out);

/* Copy arrays into a new regression dataset: x (rows, inputs), y (rows, outputs). */
nb_status nb_dataset_from_arrays(size_t rows, int inputs, int outputs, const float *x,
                                 const float *y, nb_dataset **out);
/* Copy arrays into a new classification dataset: x (rows, inputs), labels (rows). */
nb_status nb_dataset_from_labels(size_t rows, int inputs, int classes, const float *x,
                                 const int32_t *labels, nb_dataset **out);

/*
 * Seeded shuffle, then the first round(rows * val_fraction) rows go to *val
 * and the rest to *train. 0 < val_fraction < 1 and both parts non-empty.
 */
nb_status nb_dataset_split(const nb_dataset *d, double val_fraction, uint64_t seed,
                           nb_dataset **train, nb_dataset **val);
/*
 * The same split (the same rows in the same order) without copying: d's
 * rows are shuffled in place (val's rows first, then train's) and *train
 * and *val are views of them. The views share d's storage and class names
 * and keep them alive, so d may be freed before or after them; each is
 * freed with nb_dataset_free, and every dataset function takes a view.
 * Writing through a view (nb_dataset_standardize) writes d's rows. Memory:
 * the two view structs only; the rows are swapped in place.
 */
nb_status nb_dataset_split_views(nb_dataset *d, double val_fraction, uint64_t seed,
                                 nb_dataset **train, nb_dataset **val);

void nb_dataset_free(nb_dataset *d);

size_t nb_dataset_rows(const nb_dataset *d);
int nb_dataset_inputs(const nb_dataset *d);
int nb_dataset_outputs(const nb_dataset *d); /* classes for classification    */
int nb_dataset_classes(const nb_dataset *d); /* 0 for regression              */
const float *nb_dataset_x(const nb_dataset *d);        /* (rows, inputs); borrowed  */
const float *nb_dataset_y(const nb_dataset *d);        /* (rows, outputs) or NULL   */
const int32_t *nb_dataset_labels(const nb_dataset *d); /* (rows) or NULL; borrowed  */
/* Class k's name when the labels were names (see nb_csv_options); NULL when
 * they were numbers, for datasets not loaded from CSV, or k out of range.
 * Splits and views share their source's names. Borrowed: valid while d
 * lives. */
const char *nb_dataset_class_name(const nb_dataset *d, int k);
/* How a CSV file was read: 1 when its first line was taken as a header
 * (forced, or detected as nb_dataset_load_csv describes), else 0; and the
 * delimiter used, ',', ';' or '\t'. Splits and views report their
 * source's; other datasets (and NULL) 0. */
int nb_dataset_header_skipped(const nb_dataset *d);
char nb_dataset_delimiter(const nb_dataset *d);

/* Per-feature mean and standard deviation of X, each (inputs). A constant
 * feature gets std 1 so that standardising it is a shift only. */
nb_status nb_dataset_feature_stats(const nb_dataset *d, float *mean, float *std);
/* x ← (x − mean) / std for every row, in place. mean, std: (inputs). */
nb_status nb_dataset_standardize(nb_dataset *d, const float *mean, const float *std);

/* ----------------------------------------------------------------- model */

typedef struct nb_model nb_model;

/*
 * A model with n_layers layers: widths (n_layers + 1) gives the input width
 * then each layer's output width; acts (n_layers) each layer's activation.
 * NB_ACT_SOFTMAX is allowed only on the last layer and only with
 * NB_LOSS_XENT, which in turn requires it. Parameters are initialised from
 * seed: Glorot uniform for sigmoid, tanh, identity and softmax layers, He
 * uniform for relu layers, biases zero. The model borrows be.
 */
nb_status nb_model_create(nb_backend *be, int n_layers, const int *widths, const nb_act *acts,
                          nb_loss loss, uint64_t seed, nb_model **out);
void nb_model_free(nb_model *m);

int nb_model_layers(const nb_model *m);
int nb_model_width(const nb_model *m, int i); /* i = 0 (input) … n_layers (output) */
nb_act nb_model_act(const nb_model *m, int layer); /* layer = 0 … n_layers-1  */
nb_loss nb_model_loss(const nb_model *m);

/*
 * Parameters θ as one vector of nb_model_param_count floats, in the order
 *   A_1 (w1, w0) row-major, b_1 (w1), A_2 (w2, w1), b_2 (w2), …
 * which is also the layout of the model's single parameter buffer.
 */
size_t nb_model_param_count(const nb_model *m);
nb_status nb_model_get_params(const nb_model *m, float *theta, size_t n);
nb_status nb_model_set_params(nb_model *m, const float *theta, size_t n);

/* Feature standardisation x ← (x − mean) / std kept with the model. Every
 * call that takes inputs (predict, loss_grad, evaluate, nb_train) applies it
 * to a copy, so data is always passed raw. mean, std: (inputs); NULL for
 * both removes it. Every mean must be finite and every std a normal positive
 * float (not 0 or subnormal, so 1/std is finite); NB_ERR_ARG otherwise. */
nb_status nb_model_set_standardization(nb_model *m, const float *mean, const float *std);
/* Borrowed; NULL when none is set. */
const float *nb_model_feature_mean(const nb_model *m);
const float *nb_model_feature_std(const nb_model *m);

/* Class names of a classifier, kept with the model and saved in its files:
 * names[k] for class k, n equal to the output width, each 1 to 255 bytes
 * with no control characters, all distinct (NB_ERR_ARG otherwise). NULL
 * (with n 0) removes them. Copied. */
nb_status nb_model_set_class_names(nb_model *m, int n, const char *const *names);
/* Borrowed; NULL when the model has no names or k is out of range. */
const char *nb_model_class_name(const nb_model *m, int k);

/* y (rows, outputs) = F(x) for x (rows, inputs), after standardisation.
 * A non-finite output is NB_ERR_NONFINITE naming its row and column. */
nb_status nb_model_predict(nb_model *m, size_t rows, const float *x, float *y);

/*
 * Φ(θ) over the whole dataset and, when grad is not NULL, ∇Φ(θ) into grad
 * (nb_model_param_count floats, same layout as the parameters). A loss or
 * gradient that is not finite is NB_ERR_NONFINITE.
 */
nb_status nb_model_loss_grad(nb_model *m, const nb_dataset *d, double *loss, float *grad);

/* Classification accuracy in [0, 1] (argmax of the output vs the label) and
 * the loss Φ over a dataset. Either output pointer may be NULL. A loss that
 * is not finite is NB_ERR_NONFINITE. */
nb_status nb_model_evaluate(nb_model *m, const nb_dataset *d, double *loss, double *accuracy);

/*
 * Save the model (architecture, parameters and standardisation) as a
 * safetensors file that Python's `safetensors` package can open: tensors
 * layers.L.weight (out, in) and layers.L.bias (out), float32, with nabla's
 * own metadata. The save is atomic: a failure leaves any previous file at
 * path intact. NaN or Inf parameters are never written (NB_ERR_NONFINITE).
 */
nb_status nb_model_save(nb_model *m, const char *path);
/*
 * Load a model written by nb_model_save or a training checkpoint onto be
 * (borrowed). The file is never trusted: a malformed, truncated or
 * corrupted file (checked by CRC-32), an unknown architecture or a NaN
 * parameter is NB_ERR_DATA naming the file and the problem; a missing or
 * unreadable file is NB_ERR_IO.
 */
nb_status nb_model_load(nb_backend *be, const char *path, nb_model **out);

/*
 * Build a model from plain weights in a safetensors file, as Python's
 * `safetensors` writes them: float32 tensors layers.L.weight (out, in) and
 * layers.L.bias (out) for L = 0 … n−1, with or without metadata. The
 * architecture comes from the shapes, which must chain; input.mean and
 * input.std (in) are taken as the standardisation when both are there, and
 * any other tensor is an error. acts gives one activation per layer
 * (n_acts = n) or one for all (n_acts = 1); with NB_LOSS_XENT the last
 * layer becomes the softmax. The file is checked as nb_model_load checks
 * its own (bounds, finiteness, CRC-free container rules). The model
 * borrows be. NB_ERR_DATA names the file and the tensor at fault.
 */
nb_status nb_model_import(nb_backend *be, const char *path, int n_acts, const nb_act *acts,
                          nb_loss loss, nb_model **out);

/* Confusion matrix of a classifier over a classification dataset:
 * counts (classes × classes, row = true label, column = predicted, the
 * argmax of the output; ties go to the lower class) is overwritten. */
nb_status nb_model_confusion(nb_model *m, const nb_dataset *d, uint64_t *counts);

/* ------------------------------------------------- the descent schedule */

/* Why a descent stopped. */
typedef enum nb_halt {
    NB_HALT_NONE = 0,    /* still running / not started                       */
    NB_HALT_MAX_ITERS,   /* the iteration budget is spent                     */
    NB_HALT_MAX_EPOCHS,  /* the epoch budget is spent                         */
    NB_HALT_TARGET_LOSS, /* Φ ≤ target                                        */
    NB_HALT_TOL_GRAD,    /* ‖∇Φ‖ ≤ tol                                        */
    NB_HALT_CALLBACK,    /* a progress callback asked to stop                 */
    NB_HALT_TIME,        /* the wall-clock budget is spent                    */
    NB_HALT_PLATEAU,     /* relative improvement < tol for K epochs in a row  */
    NB_HALT_EARLY_STOP,  /* validation loss did not improve for K epochs;
                            the best parameters seen were restored            */
    NB_HALT_DIVERGED,    /* loss or parameters non-finite, or loss > factor ×
                            best: the last good parameters were restored      */
    NB_HALT_LINE_SEARCH, /* the line search found no decrease (at a minimum
                            to float precision, or a wrong gradient)         */
    NB_HALT_INTERRUPTED  /* nb_train_options.interrupt was raised: the run
                            ended after the update in progress               */
} nb_halt;

/* How the step size α changes with the update count t (0-based) and the
 * number of finished epochs e (in full-batch mode e = t). */
typedef enum nb_lr_kind {
    NB_LR_CONSTANT = 0, /* α0                                                   */
    NB_LR_STEP,         /* α0 · γ^⌊e / step⌋                                    */
    NB_LR_EXP,          /* α0 · γ^e                                             */
    NB_LR_INV,          /* α0 / (1 + decay · t)                                 */
    NB_LR_COSINE        /* linear warm-up α0 (t+1)/W for t < W, then
                           α_min + (α0 − α_min)(1 + cos(π (t − W)/(T − W)))/2
                           until t = T, α_min after                           */
} nb_lr_kind;

/* The direction of each step. Every kind is one launch (one loop) over
 * the whole parameter vector; its state is one more vector (momentum,
 * Nesterov) or two (Adam, AdamW). g below is, in this order:
 *   1. the loss gradient ∇Φ, clipped: g = c ∇Φ, c = min(1, clip_norm / ‖∇Φ‖)
 *      (c = 1 with clip_norm = 0); the norm is that of ∇Φ alone;
 *   2. plus the L2 weight decay, g ← g + λ θ, for every kind but AdamW; the
 *      decay term is added after clipping and is never clipped itself.
 * AdamW leaves g at step 1 and adds λ θ to its step instead (below). */
typedef enum nb_optim {
    NB_OPT_SGD = 0, /* θ ← θ − α g                                            */
    NB_OPT_MOMENTUM,/* v ← μ v + g;  θ ← θ − α v                               */
    NB_OPT_NESTEROV,/* v ← μ v + g;  θ ← θ − α (g + μ v)                       */
    NB_OPT_ADAM,    /* m ← β1 m + (1−β1) g;  v ← β2 v + (1−β2) g²;
                       θ ← θ − α m̂ / (√v̂ + ε), m̂ = m/(1−β1^t), v̂ = v/(1−β2^t) */
    NB_OPT_ADAMW    /* Adam, with the decay decoupled: θ ← θ − α (m̂/(√v̂+ε) + λ θ) */
} nb_optim;

const char *nb_optim_name(nb_optim o);     /* "sgd", "momentum", "nesterov", "adam", "adamw" */
nb_status nb_optim_parse(const char *name, nb_optim *out);
const char *nb_lr_kind_name(nb_lr_kind k); /* "constant", "step", "exp", "inv", "cosine" */
nb_status nb_lr_kind_parse(const char *name, nb_lr_kind *out);

/*
 * Step size, direction and halting, shared by nb_train and nb_descend.
 * A zero (or, for target_loss, a NaN) field disables that rule. At least
 * one of max_iters, max_epochs, target_loss, tol_grad, time_limit must be
 * set. nb_schedule_default gives constant α = 0.5, plain gradient descent,
 * 100 epochs and divergence detection (factor 1e3, every step).
 */
typedef struct nb_schedule {
    /* step size */
    double lr;            /* α0 > 0                                           */
    nb_lr_kind lr_kind;
    double lr_gamma;      /* STEP, EXP: factor in (0, 1]                      */
    long lr_step;         /* STEP: epochs per decay                           */
    double lr_decay;      /* INV: decay ≥ 0                                   */
    long lr_warmup;       /* COSINE: W warm-up updates                        */
    long lr_period;       /* COSINE: T; 0: the update budget, max_iters or
                             max_epochs × batches per epoch (the smaller) */
    double lr_min;        /* COSINE: α_min ≥ 0                                */
    /* backtracking line search (full batch, plain gradient descent only):
     * from the current α, halve until Φ(θ − α∇Φ) ≤ Φ(θ) − c α ‖∇Φ‖²; after
     * an acceptance on the first trial, the next step starts from 2α */
    int line_search;
    double armijo_c;      /* c in (0, 1); default 1e-4                         */
    int ls_max_trials;    /* default 60                                        */
    /* direction */
    nb_optim optim;
    double momentum;      /* μ in [0, 1); default 0.9                          */
    double beta1, beta2;  /* Adam; defaults 0.9, 0.999                         */
    double eps;           /* Adam; default 1e-8                                */
    double weight_decay;  /* λ ≥ 0: L2, added after clipping (see nb_optim)    */
    double clip_norm;     /* > 0: clip ∇Φ to norm ≤ clip_norm before the decay
                             is added (see nb_optim); 0: off                  */
    /* halting */
    long max_iters;       /* stop after this many updates; 0: no limit        */
    long max_epochs;      /* stop after this many passes over the data        */
    double target_loss;   /* stop once Φ ≤ target_loss; NaN: disabled         */
    double tol_grad;      /* stop once ‖∇Φ‖ ≤ tol_grad; 0: disabled           */
    double time_limit;    /* seconds of wall time; 0: no limit                */
    double plateau_tol;   /* stop when (best − Φ)/best < tol ...               */
    long plateau_patience;/* ... for this many epochs in a row; 0: off         */
    long early_stop;      /* patience in epochs on the validation loss; 0: off */
    double diverge_factor;/* loss > factor × best loss is divergence; 0: off  */
    long check_every;     /* updates between divergence checks (≥ 1)          */
} nb_schedule;

void nb_schedule_default(nb_schedule *s);

/* α for update t (0-based) after e finished epochs, as the schedule says
 * (without line search). T for COSINE falls back to max_iters here;
 * nb_train and nb_descend first resolve a zero lr_period to the update
 * budget, which includes max_epochs. */
double nb_schedule_lr(const nb_schedule *s, long t, long e);

/* What a descent did. */
typedef struct nb_result {
    nb_halt halt;        /* which rule fired                                  */
    char why[192];       /* e.g. "‖∇Φ‖ = 8.1e-07 ≤ 1e-06 after 412 iterations" */
    long iters;          /* updates made                                      */
    long epochs;         /* full passes over the data                         */
    long evals;          /* Φ evaluations, line-search trials included        */
    long grad_evals;     /* ∇Φ evaluations                                    */
    double loss;         /* last measured Φ                                   */
    double grad_norm;    /* last measured ‖∇Φ‖; NaN if never measured         */
    double val_loss;     /* nb_train with validation data; else NaN           */
    double val_acc;      /* likewise, classification only                     */
    double lr;           /* the last step size used                           */
    double seconds;      /* wall time                                         */
    long updates;        /* updates this call made: iters counts from a resumed
                            run's first start, so iters − updates is where
                            this call began (0 when its budget was spent)    */
    /* nb_train with a fallback backend that it moved to: the failure, one
     * line naming the call and code, and the update count it replayed
     * from; "" and 0 when none. */
    char fallback[256];
    long fallback_iters;
} nb_result;

/* --------------------------------------------------- generic descent loop */

/* Φ(x) into *value and ∇Φ(x) into grad, both at x (n). Line-search
 * trials call it too (their gradient is not used). */
typedef nb_status (*nb_value_grad_fn)(void *user, size_t n, const double *x, double *value,
                                      double *grad);

/* One iterate of nb_descend, as its callback sees it (all borrowed). */
typedef struct nb_iterate {
    long k;             /* iterate number: x is the point after k updates       */
    size_t n;
    const double *x;    /* (n) the point                                        */
    double value;       /* Φ(x)                                                 */
    const double *grad; /* (n) ∇Φ(x)                                            */
    double lr;          /* α of the step that led here (NaN for k = 0)          */
    int trials;         /* line-search Φ evaluations of that step (0 without)   */
} nb_iterate;

/* Called at every iterate, the last one included; non-zero stops. */
typedef int (*nb_iterate_fn)(void *user, const nb_iterate *it);

typedef struct nb_problem {
    size_t n;                 /* dimension                          */
    nb_value_grad_fn f;       /* required                           */
    nb_iterate_fn on_iterate; /* optional                           */
    void *user;               /* passed to both                     */
} nb_problem;

/*
 * Descent on any function: from x (n, updated in place), step with the
 * schedule's step size and direction until one of its halting rules fires.
 * Epochs equal iterations. Divergence (a non-finite or exploding Φ) puts
 * the last good point back into x and returns NB_ERR_NONFINITE or
 * NB_ERR_DIVERGED with res filled in.
 */
nb_status nb_descend(const nb_problem *p, const nb_schedule *s, double *x, nb_result *res);

/* ---- gradcheck: begin (the gradient-check API) */

/*
 * Gradient check: is the backprop gradient of a model right?
 *
 * nb_gradcheck computes g = ∇Φ(θ) with nb_model_loss_grad on the model's
 * own backend (float32, cpu or OpenCL) and compares it with central finite
 * differences of Φ computed by a separate double-precision forward pass on
 * the host. That reference is built from nb_model_get_params, the model's
 * widths, activations, loss and standardisation, and the dataset's inputs
 * and targets (the one-hot rows of the labels for classification); it
 * shares no code with the backends.
 *
 *   coordinate c:  g_fd[c] = (Φ(θ + h_c e_c) − Φ(θ − h_c e_c)) / 2h_c,
 *                  h_c = step · max(1, |θ_c|)
 *   direction u:   D_u = (Φ(θ + t u) − Φ(θ − t u)) / 2t,  t = step, u a
 *                  random unit vector over all of θ, against g·u.
 *
 * A compared coordinate passes when
 *   |g − g_fd| ≤ atol·G + rtol·|g_fd| + ε_fd,
 * where G = max(1, max |g_fd| over the drawn coordinates) scales the
 * absolute term with the gradient (float32 rounding grows with the size
 * of the terms summed into a component) and ε_fd = 100·ε_double·(1+|Φ|)/step
 * (≈ 2e-8 (1+|Φ|) at the default step) is the finite differences' own
 * round-off. A direction passes when
 *   |g·u − D_u| ≤ Σ_j (atol·G + rtol·|g_j|)·|u_j| + ε_fd,
 * which is what the per-coordinate bound implies for every coordinate,
 * checked or not.
 *
 * Default tolerances (float32 backprop against double finite differences):
 *   step 1e-6: central differences err by h²|∂³Φ|/6 (≈ 1e-12 for O(1)
 *     derivatives) plus round-off ≈ ε_double·|Φ|/h (≈ 1e-10): both far below
 *     atol. (Each row's loss change is summed on its own, so unchanged rows
 *     add no round-off.) A larger step must keep h²|∂³Φ|/6 ≪ atol.
 *   atol 1e-5, rtol 1e-3: a float32 component is a mean over rows of
 *     products along a path of layers; each of its ~50 roundings costs
 *     u_f = 6e-8 of the terms' size, about 3e-6 for O(1) terms, so atol is
 *     3× that bound and rtol 1e-3 covers relative error in large
 *     components (measured: err/bound ≤ 3e-3 on the nets of the tests). A
 *     sign error in a component above ≈ 5e-6·G, a factor 2 either way above
 *     ≈ 2e-5·G and a 1% error above ≈ 1.1e-3·G fail.
 *   relative error (reported, not judged):
 *     |g − g_fd| / max(|g_fd|, rel_floor·G); the default floor 1e-2 =
 *     atol/rtol is where the absolute term of the bound takes over from the
 *     relative one, so tiny components do not report huge relative errors.
 *
 * Cost: each checked coordinate costs two passes over the data from its
 * layer on (the layers before it are cached), each direction three full
 * passes and a backward pass. With more than max_params parameters a
 * random subset is checked: every bias, and for each layer's weights a
 * share of the remaining budget
 * proportional to the layer's size but at least min(8, weights), drawn
 * from seed. The count may exceed max_params by those minimums, or when
 * the biases alone exceed it. (Digits, 1797 rows, 64-256-256-10 relu:
 * 2000 coordinates in ≈ 4 s on one core.)
 *
 * Relu kinks: Φ is not differentiable where a relu pre-activation z is 0.
 * A difference across the kink is meaningless, and near it the backend's
 * float32 z may fall on the other side than the exact one. A relu z (of
 * row r) that a coordinate's (or direction's) stencil moves is at a kink
 * when its sign differs between θ and θ ± h e_c (θ ± t u), or |z| ≤ relu_margin
 * ·S at either point, S = |b| + Σ|A a| the size of its terms. The default
 * band 1e-6·S ≈ 17 u_f·S is 4× the largest float32 error of z the cpu and
 * OpenCL backends showed (4 u_f·S over 128 000 sums of 16 to 1024 terms),
 * room for error carried in from earlier layers. Each kink is weighted by
 * what taking the other branch there can change: to first order
 * |∂ℓ_r/∂σ(z)|·|∂z/∂θ_c|/N, from a double backward pass. A coordinate whose
 * kinks together could use more than half of its bound is counted (kinks)
 * and not judged, and its error is reported for information
 * (kink_max_abs); a direction likewise is marked and not judged. Below
 * that share a kink cannot fail a right gradient, so it is judged.
 *
 * Verdict (report->pass): FAIL when the backprop gradient is not finite,
 * when any compared coordinate or direction is outside its bound, when
 * nothing could be compared, or when the gradient is ~0: no compared
 * component has |g_fd| > informative_min = (atol·G + ε_fd)/(0.1 − rtol),
 * the size above which a 10% error would fail. Such a check would pass
 * trivially (dead relu units, an exact minimum, a zero loss). PASS
 * otherwise.
 *
 * Returns NB_OK whenever the check ran, whatever the verdict; an error
 * status (and no verdict) for bad arguments (NB_ERR_ARG), a model with more
 * than NB_GRADCHECK_MAX_LAYERS layers (NB_ERR_UNSUPPORTED), backend
 * failures, memory, or a non-finite double Φ (NB_ERR_NONFINITE).
 */
#define NB_GRADCHECK_MAX_LAYERS 64
#define NB_GRADCHECK_MAX_DIRS 64

typedef struct nb_gradcheck_options {
    uint64_t seed;       /* coordinate subset and directions (default 1)            */
    size_t max_params;   /* check all when |θ| ≤ this (default 2000); 0: always all   */
    int directions;      /* random directions, 0 … NB_GRADCHECK_MAX_DIRS (default 4) */
    double step;         /* finite-difference step h > 0 (default 1e-6)             */
    double atol, rtol;   /* ≥ 0 (defaults 1e-5, 1e-3; see above)                    */
    double rel_floor;    /* > 0: relative-error floor, times G (default 1e-2)       */
    double relu_margin;  /* ≥ 0: kink band relative to |b| + Σ|A a| (default 1e-6)  */
    /* Testing aid, never for real use: multiply the backprop gradient of
     * the weights A_l of layer l = perturb_layer (1-based; 0: off) by
     * (1 + perturb) before the comparison, so a test can watch the check
     * fail. A perturbation above ≈ rtol in a layer with informative
     * components fails; one below rtol passes by design. */
    int perturb_layer;
    double perturb;
} nb_gradcheck_options;

void nb_gradcheck_options_default(nb_gradcheck_options *o);

/* One parameter block: a layer's weights A_l or its biases b_l. */
typedef struct nb_gradcheck_stat {
    size_t count;        /* parameters in the block                                */
    size_t checked;      /* compared with finite differences                       */
    size_t kinks;        /* drawn but not judged: relu kinks too close (see above) */
    size_t failed;       /* compared and outside the bound                         */
    double max_abs;      /* max |g − g_fd| over the compared ones (0 if none)      */
    double max_rel;      /* max |g − g_fd| / max(|g_fd|, rel_floor·G)              */
    double max_ratio;    /* max |g − g_fd| / bound; above 1 fails                  */
    size_t worst;        /* θ index of the max_ratio coordinate; SIZE_MAX if none  */
    double worst_g;      /* g there                                                */
    double worst_fd;     /* g_fd there                                             */
    double kink_max_abs; /* max |g − g_fd| over the kink ones (information only)   */
} nb_gradcheck_stat;

typedef struct nb_gradcheck_layer {
    nb_gradcheck_stat w; /* A_l (w_l, w_{l-1}) */
    nb_gradcheck_stat b; /* b_l (w_l)          */
} nb_gradcheck_layer;

typedef struct nb_gradcheck_dir {
    double backprop; /* g·u                                             */
    double fd;       /* D_u                                             */
    double bound;    /* allowed |g·u − D_u|                             */
    int kink;        /* 1: relu kinks too close (see above); not judged */
    int pass;        /* 1: within the bound (0 when kink)               */
} nb_gradcheck_dir;

typedef struct nb_gradcheck_report {
    int pass;               /* 1: PASS, 0: FAIL                                    */
    char why[256];          /* one line: the reason for FAIL, or what passed       */
    size_t params;          /* |θ|                                                 */
    size_t checked, kinks, failed; /* over all blocks                              */
    size_t informative;     /* compared components with |g_fd| > informative_min   */
    double informative_min;
    double loss;            /* Φ from the backend (float32 forward)                */
    double loss_ref;        /* Φ from the double reference                         */
    double grad_norm;       /* ‖g‖ over all of θ (after any perturbation)          */
    double scale;           /* G                                                   */
    double atol, rtol, rel_floor, step, fd_err; /* as used (fd_err: ε_fd)          */
    int n_layers;
    nb_gradcheck_layer layers[NB_GRADCHECK_MAX_LAYERS]; /* [l−1] for layer l       */
    int n_dirs;
    nb_gradcheck_dir dirs[NB_GRADCHECK_MAX_DIRS];
} nb_gradcheck_report;

/*
 * Check m's backprop gradient on dataset d (inputs and outputs must match
 * the model; data is raw, the model's standardisation is applied). o may
 * be NULL for the defaults. Fills *r (caller-owned, nothing to free). The
 * model's parameters are unchanged; its gradient buffer is overwritten.
 */
nb_status nb_gradcheck(nb_model *m, const nb_dataset *d, const nb_gradcheck_options *o,
                       nb_gradcheck_report *r);
/* ---- gradcheck: end */

/* ---------------------------------------------------------------- training */

typedef struct nb_epoch_stats {
    long epoch;       /* 1-based pass count; in full-batch mode, the iteration  */
    long iters;       /* updates so far                                         */
    double loss;      /* Φ on the training data (see nb_train)                   */
    double grad_norm; /* ‖∇Φ‖ when measured, else NaN                            */
    double val_loss;  /* NaN without validation data                             */
    double val_acc;   /* NaN without validation data or for regression           */
    double lr;        /* step size of the epoch's last update                    */
    int trials;       /* line-search Φ evaluations of the last update (0 without) */
    double seconds;   /* since training started                                  */
} nb_epoch_stats;

/* Called every report_every epochs and after the last one; non-zero stops. */
typedef int (*nb_epoch_fn)(void *user, const nb_epoch_stats *s);

/* Progress inside an epoch, for progress bars. */
typedef struct nb_batch_progress {
    long epoch;     /* epochs finished before this one                  */
    long batch;     /* batches done in this epoch (1 … batches)         */
    long batches;   /* batches per epoch                                */
    long rows;      /* rows done in this epoch                          */
    double seconds; /* since training started                           */
} nb_batch_progress;

/* Called after a mini-batch step at most every 100 ms; it reads nothing
 * from the device, so it costs no synchronisation. Its return is ignored. */
typedef void (*nb_batch_fn)(void *user, const nb_batch_progress *p);

typedef struct nb_train_options {
    nb_schedule schedule;
    size_t batch;        /* rows per step; 0 or >= rows: full-batch GD         */
    uint64_t seed;       /* shuffling stream                                   */
    long report_every;   /* epochs between callbacks (>= 1)                    */
    int measure_grad;    /* nonzero: measure ‖∇Φ‖ on the full training set at
                            each reported epoch even in mini-batch mode        */
    const char *save;    /* training checkpoint written atomically every
                            save_every epochs and when the run ends (an
                            interrupt included); NULL: none. Checked and
                            locked before the first step: a path that cannot
                            be written, or that another run is saving to, is
                            NB_ERR_IO before any training */
    long save_every;     /* epochs between checkpoints (≥ 1)                */
    const char *resume;  /* continue the run saved in this checkpoint: its
                            parameters, optimizer state, RNG, counters and
                            halting state replace the model's and the fresh
                            ones; the architecture and optimizer must match.
                            The budgets count from the start of the original
                            run, so --epochs 2N after N continues for N more. */
    nb_epoch_fn on_epoch;
    nb_batch_fn on_batch; /* optional; mini-batch mode only              */
    void *user;           /* passed to both callbacks                    */
    /* The caller's own record of the run (e.g. its data settings), saved
     * verbatim with every checkpoint and read back by nb_checkpoint_read_info;
     * at most NB_RECORD_MAX − 1 bytes. NULL: none. Borrowed for the call. */
    const char *record;
    /* Optional, e.g. set by a signal handler: read after every update;
     * once non-zero the run ends there as NB_HALT_INTERRUPTED (a checkpoint
     * is saved when save is set) and nb_train returns NB_OK. */
    const volatile sig_atomic_t *interrupt;
    /* Optional (borrowed; e.g. a "cpu" backend): where the run goes on when
     * m's backend fails after setup (NB_ERR_BACKEND from an enqueue, a read
     * or an allocation). m then moves to it for good, so it must outlive m,
     * and the run replays from the last host copy of its state, taken at an
     * epoch's end (every epoch in mini-batch mode, every 16 iterations in
     * full batch; the first at the start): parameters, optimizer state,
     * RNG, counters, halting state and early stopping's best parameters.
     * The result is then what a run that went to it at that point gives;
     * epochs already reported are not reported again, and the time limit
     * counts from the replay. nb_result.fallback says what failed. NULL: a
     * backend failure ends the run. */
    nb_backend *fallback;
} nb_train_options;

void nb_train_options_default(nb_train_options *o);

/*
 * Train m on train (and report on val, which may be NULL).
 *
 * Full batch (batch 0 or >= rows): each iteration is one epoch; Φ and
 * ‖∇Φ‖ are exact at every iterate and the rules are checked before each
 * update, so "after k iterations" means the point after k updates.
 * Mini-batch: rows are shuffled each epoch from seed; the reported loss is
 * the mean of the batch losses seen during the epoch. The ‖∇Φ‖ rule (and
 * measure_grad) costs one extra pass over the data per check, which also
 * replaces the loss by the exact Φ at the end of the epoch.
 * Early stopping and the plateau rule work per epoch, on the validation
 * loss and the training loss respectively; early stopping needs val.
 *
 * Divergence is checked every schedule.check_every updates: a non-finite
 * loss or parameter, or a loss above diverge_factor × the best, stops the
 * run with the last good parameters restored, res filled in, and
 * NB_ERR_NONFINITE or NB_ERR_DIVERGED returned. Training never goes on
 * from NaN.
 */
nb_status nb_train(nb_model *m, const nb_dataset *train, const nb_dataset *val,
                   const nb_train_options *o, nb_result *res);

#define NB_RECORD_MAX 4096

/* What a training checkpoint says about its run, so that a caller can
 * continue it with the same settings. */
typedef struct nb_checkpoint_info {
    int has_schedule;     /* 0: the file predates recorded schedules          */
    nb_schedule schedule; /* the run's step-size, direction and halting settings */
    int has_run;          /* 0: the file predates recorded batch and seed     */
    size_t batch;         /* rows per step; 0: full batch                     */
    uint64_t seed;        /* nb_train_options.seed                            */
    long iters, epochs;   /* progress so far                                  */
    long batches_done;    /* batches of an epoch the run stopped inside (an
                             interrupt); 0 when it stopped between epochs  */
    char record[NB_RECORD_MAX]; /* nb_train_options.record; "" when none      */
} nb_checkpoint_info;

/* Read a training checkpoint's settings and progress (every value range-
 * checked; NB_ERR_DATA names the file and the field). NB_ERR_ARG when path
 * holds a model rather than a checkpoint. */
nb_status nb_checkpoint_read_info(const char *path, nb_checkpoint_info *out);

#if defined(__GNUC__)
#pragma GCC visibility pop
#endif

#ifdef __cplusplus
}
#endif
#endif /* NABLA_H */
