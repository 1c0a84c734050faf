/*
 * fuzz_seeds.c — writes the seed corpora of the fuzz targets: a few small
 * valid inputs per target, made by nabla's own writers where it has them,
 * so the fuzzers start from the formats rather than from nothing.
 *
 *   fuzz_seeds DIR   writes DIR/csv, DIR/checkpoint, DIR/model, DIR/resume,
 *                    DIR/idx
 *
 * Files are overwritten, never appended to; the program is a build step
 * and fails loudly (exit status 1) on any error.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <zlib.h>

#include "ckpt/safetensors.h"
#include "nabla.h"

static char root[900];

static void die(const char *what, const char *detail)
{
    fprintf(stderr, "fuzz_seeds: %s: %s\n", what, detail);
    exit(1);
}

static void check(nb_status st, const char *what)
{
    if (st != NB_OK) die(what, nb_last_error());
}

static const char *path_of(const char *dir, const char *name)
{
    static char p[1024];
    snprintf(p, sizeof p, "%s/%s%s%s", root, dir, name ? "/" : "", name ? name : "");
    return p;
}

static void put(const char *dir, const char *name, const void *b, size_t n)
{
    const char *p = path_of(dir, name);
    FILE *f = fopen(p, "wb");
    if (!f || fwrite(b, 1, n, f) != n || fclose(f) != 0) die(p, strerror(errno));
}

static void put_str(const char *dir, const char *name, const char *s)
{
    put(dir, name, s, strlen(s));
}

/* The file written at checkpoint/name, also as a seed of the model target. */
static void share_with_model(const char *name)
{
    static unsigned char buf[1 << 16];
    const char *p = path_of("checkpoint", name);
    FILE *f = fopen(p, "rb");
    size_t n = f ? fread(buf, 1, sizeof buf, f) : 0;
    if (!f || ferror(f) || n == sizeof buf) die(p, "cannot read it back, or over 64 KiB");
    fclose(f);
    put("model", name, buf, n);
}

/* ------------------------------------------------------------------ csv */

static void csv_seeds(void)
{
    put_str("csv", "header-quoted-crlf.csv",
            "\xEF\xBB\xBFx1,\"x, 2\",label\r\n0.5,\"1e-3\",1\r\n-2,3.25,0\r\n\r\n 7 , 8 ,2\r\n");
    put_str("csv", "regression.csv", "0,1\n1,3\n2,5\n3,7\n");
    put_str("csv", "targets.csv", "a,b,c,d\n1,2,3,4\n5.5e2,-6,7,8\n");
    put_str("csv", "quotes.csv", "\"a \"\"q\"\"\",b,c\n\"1\",2,3\n4,\"5\" ,6\n");
    put_str("csv", "labels.csv", "0.1,0.2,0.3,9\n1E-2,+4,.5,0\n3.,0,0,4");
}

/* ----------------------------------------------------------- checkpoint */

/* A 2-3-2 model: sigmoid/MSE, or relu-softmax/cross-entropy with inputs
 * standardised. */
static nb_model *small_model(nb_backend *be, int xent)
{
    int widths[3] = {2, 3, 2};
    nb_act acts[2] = {xent ? NB_ACT_RELU : NB_ACT_SIGMOID, xent ? NB_ACT_SOFTMAX : NB_ACT_SIGMOID};
    nb_model *m = NULL;
    check(nb_model_create(be, 2, widths, acts, xent ? NB_LOSS_XENT : NB_LOSS_MSE, 7, &m),
          "nb_model_create");
    if (xent) check(nb_model_set_standardization(m, (const float[]){0.5f, -1.0f},
                                                 (const float[]){2.0f, 0.25f}), "standardize");
    return m;
}

/* One epoch of Adam on four rows, saved as a training checkpoint. */
static void train_checkpoint(nb_model *m, const char *name)
{
    const float x[8] = {0, 0, 0, 1, 1, 0, 1, 1};
    const int32_t labels[4] = {0, 1, 1, 0};
    nb_dataset *d = NULL;
    check(nb_dataset_from_labels(4, 2, 2, x, labels, &d), "nb_dataset_from_labels");
    nb_train_options o;
    nb_train_options_default(&o);
    o.schedule.optim = NB_OPT_ADAM;
    o.schedule.lr = 0.01;
    o.schedule.max_epochs = 1;
    o.save = path_of("checkpoint", name);
    nb_result res;
    check(nb_train(m, d, NULL, &o, &res), "nb_train");
    nb_dataset_free(d);
}

static void checkpoint_seeds(void)
{
    nb_backend *be = NULL;
    check(nb_backend_create("cpu", &be), "nb_backend_create");
    nb_model *m = small_model(be, 0);
    check(nb_model_save(m, path_of("checkpoint", "model-sigmoid.safetensors")), "nb_model_save");
    train_checkpoint(m, "train-adam.safetensors");
    nb_model_free(m);
    m = small_model(be, 1);
    check(nb_model_save(m, path_of("checkpoint", "model-xent-std.safetensors")), "nb_model_save");
    nb_model_free(m);
    nb_backend_free(be);

    /* The container on its own: no tensors at all, and every kind of shape. */
    check(nb_st_write(path_of("checkpoint", "empty.safetensors"), NULL, 0, NULL, NULL, 0),
          "nb_st_write");
    const float s = 1.5f, q[4] = {1, -2, 0.25f, 3e-38f};
    const nb_st_tensor t[3] = {{"scalar", 0, {0}, &s},
                               {"zero", 3, {2, 0, 3}, NULL},
                               {"four.dims", 4, {1, 2, 1, 2}, q}};
    const char *keys[2] = {"note", "empty"}, *vals[2] = {"h\xC3\xA9llo", ""};
    check(nb_st_write(path_of("checkpoint", "shapes.safetensors"), t, 3, keys, vals, 2),
          "nb_st_write");
    const char *names[] = {"model-sigmoid.safetensors", "train-adam.safetensors",
                           "model-xent-std.safetensors", "shapes.safetensors"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) share_with_model(names[i]);
}

/* Plain weights as Python's safetensors writes them, with no metadata and
 * so no checksums: a 2-3-2 net with standardisation, nb_model_import's
 * input (and one nb_model_load must refuse). */
static void plain_weights_seed(void)
{
    static const char hdr[] =
        "{\"input.mean\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
        "\"input.std\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]},"
        "\"layers.0.bias\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[16,28]},"
        "\"layers.0.weight\":{\"dtype\":\"F32\",\"shape\":[3,2],\"data_offsets\":[28,52]},"
        "\"layers.1.bias\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[52,60]},"
        "\"layers.1.weight\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[60,84]}}";
    static const float v[21] = {0.5f, -1, 2, 0.25f,                 /* mean, std */
                                0.1f, 0, -0.1f, 1, -1, 0.5f, 2, -0.25f, 0.75f, /* layer 0 */
                                0, 0.2f, 1, -1, 0.5f, 0.3f, -0.6f, 0.9f};       /* layer 1 */
    unsigned char b[8 + sizeof hdr + 8 + sizeof v];
    size_t n = sizeof hdr - 1;
    memcpy(b + 8, hdr, n);
    while (n % 8) b[8 + n++] = ' '; /* padded, as Python pads it */
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)((uint64_t)n >> (8 * i));
    for (size_t i = 0; i < 21; i++) {
        uint32_t u;
        memcpy(&u, &v[i], 4);
        for (int k = 0; k < 4; k++) b[8 + n + 4 * i + (size_t)k] = (unsigned char)(u >> (8 * k));
    }
    put("checkpoint", "plain-weights.safetensors", b, 8 + n + sizeof v);
    share_with_model("plain-weights.safetensors");
}

/* --------------------------------------------------------------- resume */

/* A training checkpoint of every optimizer, from two epochs in batches of
 * 2 (so the RNG, counters and halting memory have moved), on both small
 * models; the classifier's also has class names, a record, validation
 * and early stopping. */
static void resume_seeds(void)
{
    const float x[8] = {0, 0, 0, 1, 1, 0, 1, 1};
    const int32_t labels[4] = {0, 1, 1, 0};
    nb_backend *be = NULL;
    check(nb_backend_create("cpu", &be), "nb_backend_create");
    nb_dataset *d = NULL;
    check(nb_dataset_from_labels(4, 2, 2, x, labels, &d), "nb_dataset_from_labels");
    for (int xent = 0; xent < 2; xent++)
        for (int o = 0; o <= (int)NB_OPT_ADAMW; o++) {
            nb_model *m = small_model(be, xent);
            const char *names[2] = {"zero", "one \xE2\x9C\x93"};
            if (xent) check(nb_model_set_class_names(m, 2, names), "nb_model_set_class_names");
            nb_train_options opt;
            nb_train_options_default(&opt);
            opt.schedule.optim = (nb_optim)o;
            opt.schedule.lr = 0.05;
            opt.schedule.max_epochs = 2;
            opt.schedule.early_stop = xent ? 3 : 0;
            opt.batch = 2;
            opt.seed = 11 + (uint64_t)o;
            opt.record = xent ? "data=xor.csv;val=train" : NULL;
            char name[64];
            snprintf(name, sizeof name, "%s-%s.safetensors", xent ? "xent" : "mse",
                     nb_optim_name((nb_optim)o));
            char *save = strdup(path_of("resume", name));
            if (!save) die("strdup", "out of memory");
            opt.save = save;
            nb_result res;
            check(nb_train(m, d, xent ? d : NULL, &opt, &res), "nb_train");
            free(save);
            nb_model_free(m);
        }
    nb_dataset_free(d);
    nb_backend_free(be);
}

/* ------------------------------------------------------------------ idx */

/* n bytes as one gzip member into out (cap); returns its length. */
static size_t gzip_bytes(const unsigned char *b, size_t n, unsigned char *out, size_t cap)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    if (deflateInit2(&z, 9, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        die("deflateInit2", "failed");
    z.next_in = (Bytef *)(uintptr_t)b; /* zlib only reads it */
    z.avail_in = (uInt)n;
    z.next_out = out;
    z.avail_out = (uInt)cap;
    if (deflate(&z, Z_FINISH) != Z_STREAM_END) die("deflate", "output buffer too small");
    size_t len = cap - z.avail_out;
    deflateEnd(&z);
    return len;
}

/* 3 images of 2 x 3 pixels and their labels, as in the loader's tests. */
static const unsigned char IMAGES[16 + 18] = {
    0, 0, 8, 3, 0, 0, 0, 3, 0, 0, 0, 2, 0, 0, 0, 3,
    0, 255, 128, 1, 2, 254, 17, 34, 51, 68, 85, 102, 200, 100, 50, 25, 127, 129};
static const unsigned char LABELS[8 + 3] = {0, 0, 8, 1, 0, 0, 0, 3, 0, 9, 3};

/* One seed: [u16 LE split][u8 classes][images][labels], each part plain
 * or gzip; gz_img 2 makes the images two gzip members back to back. */
static void idx_seed(const char *name, int gz_img, int gz_lab, int classes)
{
    unsigned char buf[1024], *p = buf + 3;
    size_t ni;
    if (gz_img == 2) {
        ni = gzip_bytes(IMAGES, 20, p, 400);
        ni += gzip_bytes(IMAGES + 20, sizeof IMAGES - 20, p + ni, 400);
    } else if (gz_img) {
        ni = gzip_bytes(IMAGES, sizeof IMAGES, p, 400);
    } else {
        memcpy(p, IMAGES, ni = sizeof IMAGES);
    }
    size_t nl = gz_lab ? gzip_bytes(LABELS, sizeof LABELS, p + ni, 400)
                       : (memcpy(p + ni, LABELS, sizeof LABELS), sizeof LABELS);
    buf[0] = (unsigned char)(ni & 0xff);
    buf[1] = (unsigned char)(ni >> 8);
    buf[2] = (unsigned char)classes;
    put("idx", name, buf, 3 + ni + nl);
}

static void idx_seeds(void)
{
    idx_seed("plain", 0, 0, 0);
    idx_seed("plain-classes10", 0, 0, 10);
    idx_seed("gz-images", 1, 0, 0);
    idx_seed("gz-labels", 0, 1, 0);
    idx_seed("gz-both", 1, 1, 0);
    idx_seed("gz-two-members", 2, 0, 0);
}

int main(int argc, char **argv)
{
    if (argc != 2 || strlen(argv[1]) >= sizeof root) {
        fprintf(stderr, "usage: fuzz_seeds DIR\n");
        return 2;
    }
    strcpy(root, argv[1]);
    const char *dirs[] = {NULL, "csv", "checkpoint", "model", "resume", "idx"};
    for (size_t i = 0; i < sizeof dirs / sizeof *dirs; i++) {
        const char *p = dirs[i] ? path_of(dirs[i], NULL) : root;
        if (mkdir(p, 0755) != 0 && errno != EEXIST) die(p, strerror(errno));
    }
    csv_seeds();
    checkpoint_seeds();
    plain_weights_seed();
    resume_seeds();
    idx_seeds();
    return 0;
}
