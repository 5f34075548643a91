/* cmd_tokenize.c — `inficond tokenize`: print each text's token ids, one line
 * per text, space-separated (SOT ... EOT for CLIP; the padding only with --pad).
 * Texts come from the arguments, or from stdin one per line when there are none.
 * Leaves out: decoding ids back to text. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "concepts/tokenizer_clip.h"
#include "concepts/tokenizer_words.h"

static void tokenize_usage(FILE *out) {
    fprintf(out,
            "Usage: inficond tokenize (--vocab FILE | --words FILE) [--context N] [--truncate]\n"
            "                         [--pad] [TEXT...]\n\n"
            "Print each TEXT's token ids, space-separated, one line per text (texts are read\n"
            "from stdin, one per line, when none are given).\n\n"
            "  --vocab FILE   CLIP BPE vocab (bpe_simple_vocab_16e6.txt.gz): SOT, ids, EOT\n"
            "  --words FILE   word list, one word per line: id = line number (1-based)\n"
            "  --context N    context length (default 77 for CLIP, 16 for words)\n"
            "  --truncate     cut texts that are too long (CLIP: EOT kept last) instead of failing\n"
            "  --pad          print all N ids, padding zeros included\n"
            "  -h, --help     this help\n\n"
            "Exit status: 0 all texts tokenized, 1 a text or the vocab failed, 2 usage.\n");
}

typedef struct {
    const clip_tokenizer *clip;
    words_tokenizer *words;
    int context, truncate, pad;
    int64_t *ids;
} tokenize_opts;

static int tokenize_one(const tokenize_opts *o, const char *text, long index) {
    err e = {0};
    int n = o->clip ? clip_tokenize(o->clip, text, o->context, o->truncate, o->ids, &e)
                    : words_tokenize(o->words, text, o->context, o->ids, &e);
    if (n < 0) {
        fprintf(stderr, "inficond tokenize: text %ld: %s\n", index, e.msg);
        return -1;
    }
    int shown = o->pad ? o->context : n;
    for (int i = 0; i < shown; i++) printf(i ? " %lld" : "%lld", (long long)o->ids[i]);
    putchar('\n');
    return 0;
}

int cmd_tokenize(int argc, char **argv) {
    const char *vocab = NULL, *words = NULL;
    tokenize_opts o = {0};
    o.context = -1;
    int i = 1;
    for (; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--")) {
            i++;
            break;
        }
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            tokenize_usage(stdout);
            return 0;
        } else if ((!strcmp(a, "--vocab") || !strcmp(a, "--words") || !strcmp(a, "--context")) &&
                   i + 1 >= argc) {
            fprintf(stderr, "inficond tokenize: %s needs a value\n\n", a);
            tokenize_usage(stderr);
            return 2;
        } else if (!strcmp(a, "--vocab")) {
            vocab = argv[++i];
        } else if (!strcmp(a, "--words")) {
            words = argv[++i];
        } else if (!strcmp(a, "--context")) {
            char *end;
            errno = 0;
            long v = strtol(argv[++i], &end, 10);
            if (errno || *end || v < 1 || v > 1 << 20) {
                fprintf(stderr, "inficond tokenize: --context wants a number from 1 to %d\n", 1 << 20);
                return 2;
            }
            o.context = (int)v;
        } else if (!strcmp(a, "--truncate")) {
            o.truncate = 1;
        } else if (!strcmp(a, "--pad")) {
            o.pad = 1;
        } else if (a[0] == '-' && a[1] == '-') {
            fprintf(stderr, "inficond tokenize: unknown option '%s'\n\n", a);
            tokenize_usage(stderr);
            return 2;
        } else {
            break;
        }
    }
    if (!!vocab == !!words) {
        fprintf(stderr, "inficond tokenize: give exactly one of --vocab FILE or --words FILE\n\n");
        tokenize_usage(stderr);
        return 2;
    }
    if (words && o.truncate) {
        fprintf(stderr, "inficond tokenize: --truncate applies to --vocab only\n");
        return 2;
    }
    if (o.context < 0) o.context = vocab ? CLIP_CONTEXT_LENGTH : 16;
    if (vocab && o.context < 2) {
        fprintf(stderr, "inficond tokenize: a CLIP context needs at least 2 tokens (SOT, EOT)\n");
        return 2;
    }
    err e = {0};
    if (vocab) o.clip = clip_tokenizer_load(vocab, &e);
    else o.words = words_tokenizer_load(words, &e);
    if (!o.clip && !o.words) {
        fprintf(stderr, "inficond tokenize: %s\n", e.msg);
        return 1;
    }
    o.ids = malloc((size_t)o.context * sizeof *o.ids);
    int rc = o.ids ? 0 : 1;
    if (!o.ids) fprintf(stderr, "inficond tokenize: out of memory\n");
    if (!rc && i < argc) {
        for (int k = i; k < argc && !rc; k++)
            if (tokenize_one(&o, argv[k], k - i + 1)) rc = 1;
    } else if (!rc) {
        char *line = NULL;
        size_t cap = 0;
        ssize_t n;
        long index = 0;
        while (!rc && (n = getline(&line, &cap, stdin)) >= 0) {
            if (n && line[n - 1] == '\n') line[--n] = '\0';
            if (n && line[n - 1] == '\r') line[--n] = '\0';
            if (tokenize_one(&o, line, ++index)) rc = 1;
        }
        free(line);
    }
    if (fflush(stdout) != 0) rc = 1;
    free(o.ids);
    clip_tokenizer_free((clip_tokenizer *)o.clip);
    words_tokenizer_free(o.words);
    return rc;
}
