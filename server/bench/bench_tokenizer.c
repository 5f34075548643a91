/* bench_tokenizer.c — `inficond bench tokenizer`: how long a CLIP vocab takes to
 * load (cold, each time from the file, and through the process cache), and how
 * many prompts per second one thread tokenizes. Prompts are CLIP's zero-shot
 * templates filled with object words, so BPE sees realistic, varied words.
 * Prints a short table, then one JSON line last. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench/bench_util.h"
#include "concepts/tokenizer_clip.h"

static void bench_tokenizer_usage(FILE *out) {
    fprintf(out, "Usage: inficond bench tokenizer --vocab FILE [--loads N] [--prompts M]\n\n"
                 "Load the CLIP vocab N times (default 10), then tokenize M prompts (default\n"
                 "200000) on one thread; print a table and a JSON line last.\n");
}

int bench_tokenizer(int argc, char **argv) {
    const char *vocab = NULL;
    long loads = 10, prompts = 200000;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            bench_tokenizer_usage(stdout);
            return 0;
        } else if (!strcmp(argv[i], "--vocab") && i + 1 < argc) {
            vocab = argv[++i];
        } else if (!strcmp(argv[i], "--loads") && i + 1 < argc) {
            loads = strtol(argv[++i], NULL, 10);
        } else if (!strcmp(argv[i], "--prompts") && i + 1 < argc) {
            prompts = strtol(argv[++i], NULL, 10);
        } else {
            fprintf(stderr, "bench tokenizer: bad argument '%s'\n\n", argv[i]);
            bench_tokenizer_usage(stderr);
            return 2;
        }
    }
    if (!vocab || loads < 1 || loads > 1000 || prompts < 1) {
        bench_tokenizer_usage(stderr);
        return 2;
    }

    double *ms = malloc((size_t)loads * sizeof *ms);
    if (!ms) return 1;
    for (long i = 0; i < loads; i++) {
        err e = {0};
        double t0 = bench_now();
        clip_tokenizer *t = clip_tokenizer_load(vocab, &e);
        ms[i] = (bench_now() - t0) * 1e3;
        if (!t) {
            fprintf(stderr, "bench tokenizer: %s\n", e.msg);
            free(ms);
            return 1;
        }
        clip_tokenizer_free(t);
    }
    qsort(ms, (size_t)loads, sizeof *ms, bench_cmp_double);
    double load_first = ms[0], load_median = ms[loads / 2], load_max = ms[loads - 1];
    free(ms);

    err e = {0};
    const clip_tokenizer *t = clip_tokenizer_get(vocab, &e); /* first: loads */
    double t0 = bench_now();
    enum { GETS = 10000 };
    for (int i = 0; i < GETS && t; i++) t = clip_tokenizer_get(vocab, &e);
    double cached_us = (bench_now() - t0) * 1e6 / GETS;
    if (!t) {
        fprintf(stderr, "bench tokenizer: %s\n", e.msg);
        return 1;
    }

    static const char *templates[] = {
        "a photo of a %s.", "a bad photo of the %s.", "a blurry photo of a %s.",
        "a close-up photo of the %s!", "itap of my %s", "a black and white photo of a %s.",
        "a painting of the %s", "a low resolution photo of a %s", "a photo of the large %s.",
        "art of the %s", "a drawing of a %s.", "a photo of many %ss",
    };
    static const char *objects[] = {
        "cat", "dog", "t-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt",
        "sneaker", "bag", "ankle boot", "goldfinch", "tabby cat", "airliner", "espresso",
        "café", "Schwarzwälder Kirschtorte", "grass", "water", "brick wall", "snowy field",
        "red sneaker on sand", "hippopotamus", "jack-o'-lantern", "Granny Smith", "volcano",
        "lakeside", "daisy", "bubble",
    };
    enum { NT = sizeof templates / sizeof *templates, NO = sizeof objects / sizeof *objects };
    static char texts[NT * NO][96];
    for (int i = 0; i < NT; i++)
        for (int j = 0; j < NO; j++) snprintf(texts[i * NO + j], sizeof texts[0], templates[i], objects[j]);

    int64_t ids[CLIP_CONTEXT_LENGTH];
    long tokens = 0;
    t0 = bench_now();
    for (long i = 0; i < prompts; i++) {
        int n = clip_tokenize(t, texts[i % (NT * NO)], CLIP_CONTEXT_LENGTH, 0, ids, &e);
        if (n < 0) {
            fprintf(stderr, "bench tokenizer: %s\n", e.msg);
            return 1;
        }
        tokens += n;
    }
    double secs = bench_now() - t0;
    double pps = (double)prompts / secs;

    printf("%-32s %12s\n", "measure", "value");
    printf("%-32s %12.2f\n", "vocab load, fastest (ms)", load_first);
    printf("%-32s %12.2f\n", "vocab load, median (ms)", load_median);
    printf("%-32s %12.2f\n", "vocab load, slowest (ms)", load_max);
    printf("%-32s %12.3f\n", "cached vocab lookup (us)", cached_us);
    printf("%-32s %12ld\n", "prompts tokenized", prompts);
    printf("%-32s %12.0f\n", "prompts/s (1 thread)", pps);
    printf("%-32s %12.2f\n", "tokens per prompt (with SOT/EOT)", (double)tokens / (double)prompts);
    printf("{\"bench\":\"tokenizer\",\"vocab_load_ms\":%.3f,\"vocab_load_ms_min\":%.3f,"
           "\"vocab_load_ms_max\":%.3f,\"loads\":%ld,\"cached_get_us\":%.4f,\"prompts\":%ld,"
           "\"prompts_per_s\":%.0f,\"tokens_per_s\":%.0f,\"distinct_prompts\":%d}\n",
           load_median, load_first, load_max, loads, cached_us, prompts, pps,
           (double)tokens / secs, NT * NO);
    clip_tokenizer_cache_clear();
    return 0;
}
