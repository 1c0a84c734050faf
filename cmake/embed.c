/*
 * embed.c — build-time tool that turns files into C arrays.
 *
 *   nabla_embed bytes SYMBOL INPUT OUTPUT.c
 *       const unsigned char SYMBOL[];     the bytes, plus a terminating 0
 *       const unsigned long SYMBOL_size;  the byte count without the 0
 *
 *   nabla_embed kernels OUTPUT.c NAME=PATH...
 *       const char *const nb_cl_source_files[];  the NAMEs
 *       const char *const nb_cl_source_texts[];  each file's text, prefixed
 *                                                with #line 1 "NAME" so build
 *                                                errors name the real file
 *       const int nb_cl_source_count;
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Write `in` as a comma-separated byte list (no trailing 0); 0 on error. */
static int dump(FILE *in, FILE *out, const char *prefix, unsigned long *n)
{
    int c;
    for (const char *p = prefix; *p; p++) fprintf(out, "%d,%s", (unsigned char)*p, (++*n % 24) ? "" : "\n");
    while ((c = fgetc(in)) != EOF) fprintf(out, "%d,%s", c, (++*n % 24) ? "" : "\n");
    return !ferror(in);
}

static int embed_bytes(const char *symbol, const char *input, FILE *out)
{
    FILE *in = fopen(input, "rb");
    if (!in) return perror(input), 0;
    unsigned long n = 0;
    fprintf(out, "/* Generated from %s by nabla_embed; do not edit. */\n", input);
    fprintf(out, "const unsigned char %s[] = {\n", symbol);
    int ok = dump(in, out, "", &n);
    fprintf(out, "0};\nconst unsigned long %s_size = %luUL;\n", symbol, n);
    fclose(in);
    return ok;
}

static int embed_kernels(int count, char **specs, FILE *out)
{
    fprintf(out, "/* Generated from the kernel sources by nabla_embed; do not edit. */\n");
    for (int i = 0; i < count; i++) {
        char *eq = strchr(specs[i], '=');
        if (!eq) return fprintf(stderr, "nabla_embed: '%s' is not NAME=PATH\n", specs[i]), 0;
        *eq = '\0';
        FILE *in = fopen(eq + 1, "rb");
        if (!in) return perror(eq + 1), 0;
        char prefix[1024];
        snprintf(prefix, sizeof prefix, "#line 1 \"%s\"\n", specs[i]);
        unsigned long n = 0;
        fprintf(out, "static const char text%d[] = {\n", i);
        int ok = dump(in, out, prefix, &n);
        fprintf(out, "0};\n");
        fclose(in);
        if (!ok) return 0;
    }
    fprintf(out, "const char *const nb_cl_source_files[] = {");
    for (int i = 0; i < count; i++) fprintf(out, "\"%s\", ", specs[i]);
    fprintf(out, "0};\nconst char *const nb_cl_source_texts[] = {");
    for (int i = 0; i < count; i++) fprintf(out, "text%d, ", i);
    fprintf(out, "0};\nconst int nb_cl_source_count = %d;\n", count);
    return 1;
}

int main(int argc, char **argv)
{
    int bytes = argc == 5 && strcmp(argv[1], "bytes") == 0;
    int kernels = argc >= 3 && strcmp(argv[1], "kernels") == 0;
    if (!bytes && !kernels) {
        fprintf(stderr, "usage: %s bytes SYMBOL INPUT OUTPUT.c | kernels OUTPUT.c NAME=PATH...\n",
                argv[0]);
        return 2;
    }
    const char *path = bytes ? argv[4] : argv[2];
    FILE *out = fopen(path, "w");
    if (!out) return perror(path), 1;
    int ok = bytes ? embed_bytes(argv[2], argv[3], out) : embed_kernels(argc - 3, argv + 3, out);
    if (fclose(out) != 0) ok = 0;
    if (!ok) {
        fprintf(stderr, "nabla_embed: failed writing %s\n", path);
        remove(path);
        return 1;
    }
    return 0;
}
