/* concepts.c — concept words: normalising them, parsing corpus text files, checking
 * them against a concept model's tokenizer and embedding them through its text side.
 *
 * Embeddings are cached in concept_embeddings per (model, word), so a word is run
 * through the text encoder once per model, whichever corpus it is in; adding a word
 * to a corpus embeds only that word. Rows are stored as the model returned them and
 * normalised on the way out (presence needs unit rows).
 */
#include "concepts/concepts.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "extraction/segments.h"
#include "concepts/tokenizer_clip.h"
#include "concepts/tokenizer_words.h"
#include "concepts/vocabulary.h"

/* ---- words ----------------------------------------------------------------- */

/* Length of the UTF-8 sequence starting at s (n bytes left), or -1 when invalid. */
static int utf8_len(const unsigned char *s, size_t n) {
    int k = s[0] < 0x80 ? 1 : (s[0] & 0xE0) == 0xC0 ? 2 : (s[0] & 0xF0) == 0xE0 ? 3 : (s[0] & 0xF8) == 0xF0 ? 4 : -1;
    if (k < 0 || (size_t)k > n || (k == 2 && s[0] < 0xC2)) return -1;
    for (int i = 1; i < k; i++)
        if ((s[i] & 0xC0) != 0x80) return -1;
    return k;
}

int concept_word_normalize(const char *in, size_t len, char *out, size_t cap) {
    size_t o = 0;
    int pending_space = 0;
    if (cap < len + 1) return -1;
    for (size_t i = 0; i < len;) {
        unsigned char c = (unsigned char)in[i];
        if (c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f') {
            pending_space = o > 0;
            i++;
            continue;
        }
        if (c < 0x20 || c == 0x7F || c == '/') return -1;
        int k = utf8_len((const unsigned char *)in + i, len - i);
        if (k < 0) return -1;
        if (pending_space) out[o++] = ' ';
        pending_space = 0;
        for (int j = 0; j < k; j++) {
            unsigned char b = (unsigned char)in[i + j];
            out[o++] = (char)(b >= 'A' && b <= 'Z' ? b + 32 : b);
        }
        i += (size_t)k;
    }
    out[o] = 0;
    if (o > CONCEPT_WORD_MAX) return -2;
    return (int)o;
}

void corpus_text_free(corpus_text *c) {
    if (!c) return;
    for (size_t i = 0; i < c->n; i++) free(c->words[i]);
    free(c->words);
    memset(c, 0, sizeof *c);
}

int corpus_text_parse(const char *text, size_t len, corpus_text *out, err *e) {
    memset(out, 0, sizeof *out);
    size_t cap = 0;
    char *buf = NULL;
    size_t buf_cap = 0;
    int line = 0;
    /* A UTF-8 byte-order mark is not part of the first word. */
    if (len >= 3 && !memcmp(text, "\xEF\xBB\xBF", 3)) text += 3, len -= 3;
    for (size_t at = 0; at < len;) {
        const char *nl = memchr(text + at, '\n', len - at);
        size_t L = nl ? (size_t)(nl - (text + at)) : len - at;
        line++;
        if (buf_cap < L + 1) {
            char *nb = realloc(buf, L + 1);
            if (!nb) goto oom;
            buf = nb, buf_cap = L + 1;
        }
        int k = concept_word_normalize(text + at, L, buf, buf_cap);
        at += L + (nl ? 1 : 0);
        if (k == 0) {
            out->dropped_blank++;
        } else if (k == -2) {
            if (out->too_long < CONCEPT_REPORT_LINES) out->too_long_lines[out->too_long] = line;
            out->too_long++;
        } else if (k < 0) {
            if (out->invalid < CONCEPT_REPORT_LINES) out->invalid_lines[out->invalid] = line;
            out->invalid++;
        } else {
            int dup = 0; /* corpora are small (<= 20k words): a linear scan is fine */
            for (size_t i = 0; i < out->n && !dup; i++) dup = !strcmp(out->words[i], buf);
            if (dup) {
                out->dropped_duplicates++;
                continue;
            }
            if (out->n >= CONCEPT_CORPUS_MAX) {
                free(buf);
                corpus_text_free(out);
                return err_set(e, ERR_UNPROCESSABLE, "a corpus holds at most %d words", CONCEPT_CORPUS_MAX);
            }
            if (out->n == cap) {
                size_t nc = cap ? cap * 2 : 64;
                char **nw = realloc(out->words, nc * sizeof *nw);
                if (!nw) goto oom;
                out->words = nw, cap = nc;
            }
            if (!(out->words[out->n] = strdup(buf))) goto oom;
            out->n++;
        }
    }
    free(buf);
    return 0;
oom:
    free(buf);
    corpus_text_free(out);
    return err_set(e, ERR_INTERNAL, "out of memory parsing the corpus");
}

/* ---- tokenizing -------------------------------------------------------------- */

/* Tokenize words[0..n) into ids (n, context_length) with the model's tokenizer.
 * `ids` may be NULL to only check. Unknown words (words tokenizer) are all named. */
static int tokenize_words(const model_manifest *mf, char *const *words, size_t n, int64_t *ids, err *e) {
    const int L = mf->context_length;
    int64_t *row = malloc((size_t)L * sizeof *row);
    if (!row) return err_set(e, ERR_INTERNAL, "out of memory");
    int rc = 0;
    if (mf->tokenizer == MODEL_TOKENIZER_CLIP_BPE) {
        const clip_tokenizer *t = clip_tokenizer_get(mf->tokenizer_path, e);
        if (!t) rc = -1;
        for (size_t i = 0; i < n && !rc; i++) {
            err we = {0};
            if (clip_tokenize(t, words[i], L, 0, row, &we) < 0)
                rc = err_set(e, ERR_UNPROCESSABLE, "concept '%s': %s", words[i], we.msg);
            else if (ids)
                memcpy(ids + i * L, row, (size_t)L * sizeof *row);
        }
    } else if (mf->tokenizer == MODEL_TOKENIZER_WORDS) {
        words_tokenizer *t = words_tokenizer_load(mf->tokenizer_path, e);
        if (!t) rc = -1;
        char msg[sizeof ((err *)0)->msg] = "";
        size_t bad = 0, used = 0;
        for (size_t i = 0; i < n && t; i++) {
            err we = {0};
            if (words_tokenize(t, words[i], L, row, &we) >= 0) {
                if (ids) memcpy(ids + i * L, row, (size_t)L * sizeof *row);
                continue;
            }
            if (bad++ >= 8) continue;
            /* Each unknown word with the nearest words the model has, so a person sees
             * what to type instead (GET /models/{id}/vocabulary lists them all). */
            char why[sizeof ((err *)0)->msg];
            if (!vocabulary_unknown(t, words[i], why, sizeof why)) snprintf(why, sizeof why, "'%.128s': %.300s", words[i], we.msg);
            int m = snprintf(msg + used, used < sizeof msg ? sizeof msg - used : 0, "%s%s", bad > 1 ? "; " : "", why);
            used += m > 0 ? (size_t)m : 0;
            if (used >= sizeof msg) used = sizeof msg - 1;
        }
        if (bad)
            rc = err_set(e, ERR_UNPROCESSABLE, "%zu concept word%s not in the concept model's vocabulary (%s, %d words): %s%s",
                         bad, bad == 1 ? " is" : "s are", mf->tokenizer_file, words_tokenizer_size(t), msg,
                         bad > 8 ? "; ..." : "");
        words_tokenizer_free(t);
    } else {
        rc = err_set(e, ERR_UNPROCESSABLE, "the model has no tokenizer: it is not a concept model");
    }
    free(row);
    return rc;
}

int concept_check_words(const model_manifest *mf, char *const *words, size_t n, err *e) {
    if (mf->kind != MODEL_KIND_CONCEPT) return err_set(e, ERR_UNPROCESSABLE, "the model is not a concept model");
    return tokenize_words(mf, words, n, NULL, e);
}

/* ---- embedding --------------------------------------------------------------- */

static int hexval(char c) { return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1; }

/* A bytea in PostgreSQL's hex output ("\x0a1b...") into dst (exactly nbytes). */
static int bytea_hex(const char *s, void *dst, size_t nbytes) {
    if (strncmp(s, "\\x", 2) || strlen(s + 2) != 2 * nbytes) return -1;
    uint8_t *d = dst;
    for (size_t i = 0; i < nbytes; i++) {
        int hi = hexval(s[2 + 2 * i]), lo = hexval(s[3 + 2 * i]);
        if (hi < 0 || lo < 0) return -1;
        d[i] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}

/* Run the text method on words[idx[0..k)] and store each row into emb (rows idx). */
static int embed_batch(app *a, model_ref *m, char *const *words, const size_t *idx, size_t k, float *emb, err *e) {
    const model_manifest *mf = &m->mf;
    const int L = mf->context_length, D = mf->embedding_dim;
    char *names[CONCEPT_TEXT_BATCH];
    for (size_t i = 0; i < k; i++) names[i] = words[idx[i]];
    int64_t *ids = malloc(k * (size_t)L * sizeof *ids); // (k, L)
    if (!ids) return err_set(e, ERR_INTERNAL, "out of memory");
    if (tokenize_words(mf, names, k, ids, e)) {
        free(ids);
        return -1;
    }
    shim_input in = {.dtype = SHIM_INT64, .ndim = 2, .shape = {(int64_t)k, L}, .data = ids, .count = k * (size_t)L};
    shim_output out = {0};
    char eb[320];
    int rc = shim_model_run(m->model, mf->method_text, &in, 1, &out, eb, sizeof eb);
    free(ids);
    if (rc) return err_set(e, ERR_TORCH, "text method '%s' failed: %s", mf->method_text, eb);
    if (out.ndim != 2 || out.shape[0] != (int64_t)k || out.shape[1] != D) { // (k, D)
        char shape[96] = "(";
        for (int i = 0; i < out.ndim; i++)
            snprintf(shape + strlen(shape), sizeof shape - strlen(shape), "%s%lld", i ? ", " : "", (long long)out.shape[i]);
        strncat(shape, ")", sizeof shape - strlen(shape) - 1);
        shim_free_output(&out);
        return err_set(e, ERR_UNPROCESSABLE,
                       "the concept model's text method '%s' returned %s for %zu words, not (%zu, %d) as "
                       "manifest.embedding_dim says",
                       mf->method_text, shape, k, k, D);
    }
    PGconn *c = db_acquire(a->db, e);
    if (!c) {
        shim_free_output(&out);
        return -1;
    }
    char mid[24], dim[16];
    snprintf(mid, sizeof mid, "%lld", (long long)m->id);
    snprintf(dim, sizeof dim, "%d", D);
    for (size_t i = 0; i < k && !rc; i++) {
        const float *row = out.data + i * D;
        memcpy(emb + idx[i] * D, row, (size_t)D * sizeof(float));
        const char *v[] = {mid, names[i], dim, (const char *)row};
        const int lens[] = {0, 0, 0, (int)(D * sizeof(float))}, fmts[] = {0, 0, 0, 1};
        /* Racing embedders of the same word write identical rows: keep the first. */
        PGresult *r = db_exec_bin(c, "INSERT INTO concept_embeddings (model_id, word, dim, embedding)"
                                     " VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                                  4, v, lens, fmts, e);
        if (!r) rc = -1;
        PQclear(r);
    }
    db_release(a->db, c);
    shim_free_output(&out);
    return rc;
}

/* Rows of concept_embeddings for (model_id, words) into emb (n, D), have[i] = 1 for
 * each word found. arr: the words as a text[] literal. */
static int load_cached(app *a, int64_t model_id, int D, const char *arr, size_t n, float *emb, uint8_t *have, err *e) {
    char mid[24];
    snprintf(mid, sizeof mid, "%lld", (long long)model_id);
    const char *p[] = {mid, arr};
    PGconn *c = db_acquire(a->db, e);
    if (!c) return -1;
    PGresult *r = db_exec(c, "SELECT array_position($2::text[], word), dim, embedding FROM concept_embeddings"
                             " WHERE model_id = $1 AND word = ANY($2::text[])",
                          2, p, e);
    db_release(a->db, c);
    if (!r) return -1;
    for (int i = 0; i < PQntuples(r); i++) {
        long at = strtol(PQgetvalue(r, i, 0), NULL, 10) - 1;
        if (at < 0 || (size_t)at >= n || atoi(PQgetvalue(r, i, 1)) != D) continue; /* stale row: embed again */
        if (!bytea_hex(PQgetvalue(r, i, 2), emb + (size_t)at * D, (size_t)D * sizeof(float))) have[at] = 1;
    }
    PQclear(r);
    return 0;
}

int concept_embeddings_load(app *a, int64_t model_id, int dim, char *const *words, size_t n, float **out, err *e) {
    *out = NULL;
    float *emb = calloc(n * (size_t)dim + 1, sizeof *emb); // (n, D)
    uint8_t *have = calloc(n + 1, 1);
    char *arr = db_text_array(words, n);
    int rc = -1;
    if (!emb || !have || !arr) {
        err_set(e, ERR_INTERNAL, "out of memory");
    } else if (!load_cached(a, model_id, dim, arr, n, emb, have, e)) {
        rc = 0;
        for (size_t i = 0; i < n && !rc; i++)
            if (!have[i]) rc = err_set(e, ERR_CONFLICT, "concept '%s' has no stored embedding", words[i]);
    }
    free(have), free(arr);
    if (rc) {
        free(emb);
        return -1;
    }
    segments_normalize_rows(emb, n, dim);
    *out = emb;
    return 0;
}

int concept_embed_words(app *a, model_ref *m, char *const *words, size_t n, float **out, int *dim, err *e) {
    const model_manifest *mf = &m->mf;
    *out = NULL;
    if (mf->kind != MODEL_KIND_CONCEPT) return err_set(e, ERR_UNPROCESSABLE, "the model is not a concept model");
    if (n == 0) return err_set(e, ERR_UNPROCESSABLE, "the corpus is empty: add at least one concept word");
    if (tokenize_words(mf, words, n, NULL, e)) return -1; /* fail on the words before any model run */
    const int D = mf->embedding_dim;
    float *emb = calloc(n * (size_t)D, sizeof *emb); // (n, D)
    uint8_t *have = calloc(n, 1);
    size_t *todo = malloc(n * sizeof *todo);
    char *arr = db_text_array(words, n);
    if (!emb || !have || !todo || !arr) {
        err_set(e, ERR_INTERNAL, "out of memory");
        goto fail;
    }
    if (load_cached(a, m->id, D, arr, n, emb, have, e)) goto fail;
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (!have[i]) todo[k++] = i;
    for (size_t at = 0; at < k; at += CONCEPT_TEXT_BATCH) {
        size_t b = k - at < CONCEPT_TEXT_BATCH ? k - at : CONCEPT_TEXT_BATCH;
        if (embed_batch(a, m, words, todo + at, b, emb, e)) goto fail;
    }
    segments_normalize_rows(emb, n, D);
    free(have), free(todo), free(arr);
    *out = emb;
    *dim = D;
    return 0;
fail:
    free(emb), free(have), free(todo), free(arr);
    return -1;
}
