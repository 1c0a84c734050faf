/*
 * embed.c — build-time tool: turns a file into a C source defining
 *   const unsigned char SYMBOL[];      (the bytes, plus a terminating 0)
 *   const unsigned long SYMBOL_size;   (the byte count without the 0)
 * Usage: nabla_embed SYMBOL INPUT OUTPUT.c
 */
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: %s SYMBOL INPUT OUTPUT.c\n", argv[0]);
        return 2;
    }
    FILE *in = fopen(argv[2], "rb");
    if (!in) {
        perror(argv[2]);
        return 1;
    }
    FILE *out = fopen(argv[3], "w");
    if (!out) {
        perror(argv[3]);
        fclose(in);
        return 1;
    }
    fprintf(out, "/* Generated from %s by nabla_embed; do not edit. */\n", argv[2]);
    fprintf(out, "const unsigned char %s[] = {\n", argv[1]);
    unsigned long n = 0;
    int c;
    while ((c = fgetc(in)) != EOF) {
        fprintf(out, "%d,%s", c, (++n % 24) ? "" : "\n");
    }
    fprintf(out, "0};\nconst unsigned long %s_size = %luUL;\n", argv[1], n);
    int bad = ferror(in) || ferror(out);
    fclose(in);
    if (fclose(out) != 0) bad = 1;
    if (bad) {
        fprintf(stderr, "nabla_embed: I/O error writing %s\n", argv[3]);
        remove(argv[3]);
        return 1;
    }
    return 0;
}
