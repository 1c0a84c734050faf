/*
 * fuzz_st_mutator.c — a custom mutator for the targets that read
 * safetensors files (fuzz_checkpoint, fuzz_model).
 *
 * A file is [u64 LE n][n bytes of JSON][data]. Byte-level mutations
 * almost never keep n right: inserting or erasing one byte of the header
 * moves its end, and the reader then sees broken JSON. So half of the
 * mutations edit the header alone with libFuzzer's own mutator (which
 * still uses the dictionary and the comparisons it saw) and rewrite n to
 * match, keeping the data as it was; the other half mutate the whole input.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"

size_t LLVMFuzzerMutate(uint8_t *data, size_t size, size_t max_size);
size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, unsigned int seed);

size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, unsigned int seed)
{
    uint64_t n = 0;
    for (int i = 7; size >= 8 && i >= 0; i--) n = n << 8 | data[i];
    if (seed % 2 || size < 8 || n > size - 8 || max_size < size)
        return LLVMFuzzerMutate(data, size, max_size);
    size_t tail = size - 8 - (size_t)n;
    uint8_t *saved = malloc(tail ? tail : 1);
    if (!saved) return LLVMFuzzerMutate(data, size, max_size);
    memcpy(saved, data + 8 + n, tail);
    size_t m = LLVMFuzzerMutate(data + 8, (size_t)n, max_size - 8 - tail);
    memcpy(data + 8 + m, saved, tail);
    free(saved);
    for (int i = 0; i < 8; i++) data[i] = (uint8_t)((uint64_t)m >> (8 * i));
    return 8 + m + tail;
}
