/* routes_corpora.c — the corpus routes: create (JSON words or a text file, one
 * concept per line), list, show, rename or replace the words, add and remove one
 * word. Rows are read and written by corpus.c.
 *
 * A word change is checked against the tokenizer of every concept model the corpus
 * is extracted with first (and embedded there), so a word a model cannot read is a
 * 422 that changes nothing. Once committed, every ready extraction of the corpus is
 * brought up to date from its stored segments (extraction_sync_corpus: only new
 * words are embedded and computed) before the answer.
 *
 * Create and import take an optional class-name filter (class_name_filter.h): a
 * project, or a dataset and a concept model, and tau; the dropped words are reported
 * in the answer's class_filter.
 */
#include "concepts/routes_corpora.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "concepts/class_name_filter.h"
#include "concepts/concepts.h"
#include "concepts/corpus.h"
#include "extraction/extraction_sync.h"
#include "projects/project_store.h"

/* Normalise a JSON array of words into *out; replies 422 naming a bad or repeated
 * word (and returns -1). */
static int words_from_json_or_reply(req *r, const json_t *arr, corpus_text *out) {
    const int limit = corpus_word_limit(r->app);
    memset(out, 0, sizeof *out);
    if (!json_is_array(arr)) {
        reply_error(r, 422, "unprocessable", "field 'words': expected an array of strings");
        return -1;
    }
    if (json_array_size(arr) == 0) {
        reply_error(r, 422, "unprocessable", "field 'words': the corpus is empty; give at least one concept word");
        return -1;
    }
    if (json_array_size(arr) > (size_t)limit) {
        reply_error(r, 422, "unprocessable", "field 'words': %zu words is " CORPUS_LIMIT_FMT, json_array_size(arr),
                    limit);
        return -1;
    }
    out->words = calloc(json_array_size(arr), sizeof *out->words);
    if (!out->words) {
        reply_error(r, 500, "internal", "out of memory");
        return -1;
    }
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v) {
        const char *s = json_string_value(v);
        char buf[4 * CONCEPT_WORD_MAX + 8];
        size_t L = s ? strlen(s) : 0;
        int k = !s ? -3 : L + 1 > sizeof buf ? -2 : concept_word_normalize(s, L, buf, sizeof buf);
        const char *why = k == -3   ? "is not a string"
                          : k == -2 ? "is longer than 128 bytes"
                          : k == -1 ? "holds a character a concept word may not ('/', control characters, invalid UTF-8)"
                          : k == 0  ? "is blank"
                                    : NULL;
        for (size_t j = 0; !why && j < out->n; j++)
            if (!strcmp(out->words[j], buf)) why = "repeats an earlier word";
        if (why) {
            reply_error(r, 422, "unprocessable", "field 'words': item %zu %s", i, why);
            corpus_text_free(out);
            return -1;
        }
        if (!(out->words[out->n] = strdup(buf))) {
            corpus_text_free(out);
            reply_error(r, 500, "internal", "out of memory");
            return -1;
        }
        out->n++;
    }
    return 0;
}

static const char *name_or_reply(req *r, const char *name) {
    if (!name || !name[0] || strlen(name) > 128) {
        reply_error(r, 422, "unprocessable", "field 'name': 1 to 128 characters");
        return NULL;
    }
    return name;
}

/* 201 with the new corpus (and the import and filter reports, stolen, when there
 * are). */
static void reply_created_corpus(req *r, int64_t id, json_t *report, json_t *filtered) {
    err e = {0};
    json_t *j = corpus_json(r->app, id, &e);
    if (!j) {
        json_decref(report), json_decref(filtered);
        reply_err(r, &e);
        return;
    }
    if (report) json_object_set_new(j, "import", report);
    if (filtered) json_object_set_new(j, "class_filter", filtered);
    char loc[64];
    snprintf(loc, sizeof loc, "/api/v1/corpora/%lld", (long long)id);
    reply_add_header(r, "Location", loc);
    reply_json(r, 201, j);
}

/* After a committed word change: sync extractions and answer with the corpus. */
static void reply_after_change(req *r, int64_t id) {
    err e = {0};
    int updated = 0;
    json_t *sync = NULL;
    if (extraction_sync_corpus(r->app, id, &updated, &e))
        sync = json_pack("{s:s}", "error", e.msg); /* the word change stands; extractions show stale */
    err e2 = {0};
    json_t *j = corpus_json(r->app, id, &e2);
    if (!j) {
        json_decref(sync);
        reply_err(r, &e2);
        return;
    }
    json_object_set_new(j, "extractions_updated", json_integer(updated));
    if (sync) json_object_set_new(j, "sync_error", sync);
    reply_json(r, 200, j);
}

/* Where the class names and their embeddings come from, and the cut. */
typedef struct class_filter_args {
    int on;
    int64_t dataset_id, concept_model_id;
    double tau;
} class_filter_args;

/* A project's dataset and concept model ids; replies 422 naming the field (-1). */
static int project_parts_or_reply(req *r, int64_t project_id, class_filter_args *f) {
    err e = {0};
    json_t *p = project_store_get_json(r->app, project_id, &e);
    if (!p) {
        reply_error(r, 422, "unprocessable", "class filter: field 'project_id': %s", e.msg);
        return -1;
    }
    const json_t *parts = json_object_get(p, "parts");
    f->dataset_id = json_integer_value(json_object_get(json_object_get(parts, "dataset"), "id"));
    f->concept_model_id = json_integer_value(json_object_get(json_object_get(parts, "concept_model"), "id"));
    json_decref(p);
    return 0;
}

/* Parse "project_id" or "dataset_id" + "concept_model_id", and "tau", each read by
 * get(src, key) as text or NULL. Replies 422 (-1) on a bad or missing value. */
static int class_filter_parse_or_reply(req *r, const char *(*get)(const void *, const char *), const void *src,
                                       class_filter_args *f) {
    const char *keys[] = {"project_id", "dataset_id", "concept_model_id"};
    int64_t ids[3] = {0, 0, 0};
    for (int k = 0; k < 3; k++) {
        const char *v = get(src, keys[k]);
        if (!v) continue;
        char *end;
        long long x = strtoll(v, &end, 10);
        if (!*v || *end || x <= 0) {
            reply_error(r, 422, "unprocessable", "class filter: field '%s': expected a positive id", keys[k]);
            return -1;
        }
        ids[k] = x;
    }
    f->tau = CLASS_FILTER_TAU_DEFAULT;
    const char *t = get(src, "tau");
    if (t) {
        char *end;
        f->tau = strtod(t, &end);
        if (!*t || *end || !(f->tau >= -1 && f->tau <= 1)) {
            reply_error(r, 422, "unprocessable", "class filter: field 'tau': a cosine in [-1, 1]");
            return -1;
        }
    }
    f->on = ids[0] || ids[1] || ids[2];
    if (!f->on) {
        if (t) {
            reply_error(r, 422, "unprocessable",
                        "class filter: 'tau' needs a 'project_id' (or a 'dataset_id' and a 'concept_model_id')");
            return -1;
        }
        return 0;
    }
    if (ids[0]) return (ids[1] || ids[2]) ? (reply_error(r, 422, "unprocessable",
                                                         "class filter: give a 'project_id' or a 'dataset_id' and a "
                                                         "'concept_model_id', not both"),
                                             -1)
                                          : project_parts_or_reply(r, ids[0], f);
    if (!ids[1] || !ids[2]) {
        reply_error(r, 422, "unprocessable", "class filter: a 'dataset_id' and a 'concept_model_id' go together");
        return -1;
    }
    f->dataset_id = ids[1], f->concept_model_id = ids[2];
    return 0;
}

/* A JSON field as text (numbers printed; other types as a value no parser takes). */
static const char *json_field_text(const void *obj, const char *key) {
    static _Thread_local char buf[64];
    const json_t *v = json_object_get(obj, key);
    if (!v) return NULL;
    if (json_is_integer(v)) snprintf(buf, sizeof buf, "%lld", (long long)json_integer_value(v));
    else if (json_is_real(v)) snprintf(buf, sizeof buf, "%.17g", json_real_value(v));
    else snprintf(buf, sizeof buf, "%s", "not a number");
    return buf;
}

static const char *query_text(const void *r, const char *key) { return req_query((req *)r, key); }

/* Run the filter when asked: words shrink, *report (new) says what went. Replies
 * (-1) on an error, or 422 when no word is left. */
static int class_filter_or_reply(req *r, const class_filter_args *f, corpus_text *w, json_t **report) {
    *report = NULL;
    if (!f->on) return 0;
    err e = {0};
    if (class_name_filter(r->app, f->dataset_id, f->concept_model_id, f->tau, w->words, &w->n, report, &e)) {
        if (e.code == ERR_NOT_FOUND) reply_error(r, 422, "unprocessable", "class filter: %s", e.msg);
        else reply_err(r, &e);
        return -1;
    }
    if (w->n == 0) {
        json_decref(*report);
        *report = NULL;
        reply_error(r, 422, "unprocessable", "class filter: every word is within tau %.3g of a class name", f->tau);
        return -1;
    }
    return 0;
}

void route_corpora_create(req *r) {
    const char *name = name_or_reply(r, json_string_value(json_object_get(r->json, "name")));
    if (!name) return;
    const json_t *jf = json_object_get(r->json, "class_filter");
    class_filter_args f = {0};
    if (jf && !json_is_object(jf)) {
        reply_error(r, 422, "unprocessable", "field 'class_filter': expected an object");
        return;
    }
    if (jf && class_filter_parse_or_reply(r, json_field_text, jf, &f)) return;
    corpus_text w;
    if (words_from_json_or_reply(r, json_object_get(r->json, "words"), &w)) return;
    json_t *filtered;
    if (class_filter_or_reply(r, &f, &w, &filtered)) {
        corpus_text_free(&w);
        return;
    }
    err e = {0};
    int64_t id;
    int bad = corpus_create(r->app, name, w.words, w.n, r->user_id, &id, &e);
    corpus_text_free(&w);
    if (bad) {
        json_decref(filtered);
        reply_err(r, &e);
    } else {
        reply_created_corpus(r, id, NULL, filtered);
    }
}

/* The import report: what was taken and what was dropped, with line numbers. */
static json_t *import_report(const corpus_text *w) {
    json_t *tl = json_array(), *il = json_array();
    for (size_t i = 0; i < w->too_long && i < CONCEPT_REPORT_LINES; i++)
        json_array_append_new(tl, json_integer(w->too_long_lines[i]));
    for (size_t i = 0; i < w->invalid && i < CONCEPT_REPORT_LINES; i++)
        json_array_append_new(il, json_integer(w->invalid_lines[i]));
    return json_pack("{s:I,s:I,s:I,s:I,s:o,s:I,s:o,s:i}", "added", (json_int_t)w->n, "dropped_duplicates",
                     (json_int_t)w->dropped_duplicates, "dropped_blank", (json_int_t)w->dropped_blank, "too_long",
                     (json_int_t)w->too_long, "too_long_lines", tl, "invalid", (json_int_t)w->invalid, "invalid_lines",
                     il, "max_word_bytes", CONCEPT_WORD_MAX);
}

void route_corpora_import(req *r) {
    const char *name = name_or_reply(r, req_query(r, "name"));
    if (!name) return;
    class_filter_args cf = {0};
    if (class_filter_parse_or_reply(r, query_text, r, &cf)) return;
    if (!r->body_path || r->body_len == 0) {
        reply_error(r, 422, "unprocessable", "send the corpus as a text body: one concept per line");
        return;
    }
    FILE *f = fopen(r->body_path, "rb");
    char *text = malloc(r->body_len + 1);
    size_t got = f && text ? fread(text, 1, r->body_len, f) : 0;
    if (f) fclose(f);
    if (!text || got != r->body_len) {
        free(text);
        reply_error(r, 500, "internal", "could not read the uploaded corpus");
        return;
    }
    const int limit = corpus_word_limit(r->app);
    corpus_text w;
    err e = {0};
    if (corpus_text_parse(text, got, &w, &e)) {
        free(text);
        if (e.code == ERR_UNPROCESSABLE) /* its only refusal: too many words */
            reply_error(r, 422, "unprocessable", "the file holds more concept words than allowed: " CORPUS_LIMIT_FMT,
                        limit);
        else
            reply_err(r, &e);
        return;
    }
    free(text);
    if (w.n > (size_t)limit) {
        reply_error(r, 422, "unprocessable", "the file holds %zu concept words, " CORPUS_LIMIT_FMT, w.n, limit);
        corpus_text_free(&w);
        return;
    }
    if (w.n == 0) {
        corpus_text_free(&w);
        reply_error(r, 422, "unprocessable", "the file holds no concept words: the corpus would be empty");
        return;
    }
    json_t *report = import_report(&w), *filtered;
    if (class_filter_or_reply(r, &cf, &w, &filtered)) {
        json_decref(report);
        corpus_text_free(&w);
        return;
    }
    int64_t id;
    int bad = corpus_create(r->app, name, w.words, w.n, r->user_id, &id, &e);
    corpus_text_free(&w);
    if (bad) {
        json_decref(report), json_decref(filtered);
        reply_err(r, &e);
        return;
    }
    reply_created_corpus(r, id, report, filtered);
}

void route_corpora_list(req *r) {
    req_page pg;
    if (!req_page_or_reply(r, 1000, 100, 1L << 40, &pg)) return;
    err e = {0};
    json_t *j = corpus_list_json(r->app, pg.limit_text, pg.offset_text, &e);
    reply_json_or_err(r, 200, j, &e);
}

void route_corpora_get(req *r) {
    int64_t id = req_id_or_reply(r, 0);
    if (id < 0) return;
    err e = {0};
    json_t *j = corpus_json(r->app, id, &e);
    reply_json_or_err(r, 200, j, &e);
}

void route_corpora_update(req *r) {
    int64_t id = req_id_or_reply(r, 0);
    if (id < 0) return;
    const json_t *jn = json_object_get(r->json, "name"), *jw = json_object_get(r->json, "words");
    const char *key;
    json_t *v;
    json_object_foreach(r->json, key, v) if (strcmp(key, "name") && strcmp(key, "words")) {
        reply_error(r, 422, "unprocessable", "unknown field '%s'", key);
        return;
    }
    const char *name = NULL;
    if (jn && !(name = name_or_reply(r, json_string_value(jn)))) return;
    corpus_text w = {0};
    if (jw && words_from_json_or_reply(r, jw, &w)) return;
    err e = {0};
    int bad = corpus_exists(r->app, id, &e) ||
              (jw && extraction_embed_for_corpus(r->app, id, w.words, w.n, &e)) ||
              corpus_update(r->app, id, name, jw ? w.words : NULL, w.n, &e);
    corpus_text_free(&w);
    if (bad) reply_err(r, &e);
    else reply_after_change(r, id);
}

void route_corpora_word_add(req *r) {
    int64_t id = req_id_or_reply(r, 0);
    if (id < 0) return;
    const char *s = json_req_string_or_reply(r, r->json, "word", 4 * CONCEPT_WORD_MAX);
    if (!s) return;
    char word[4 * CONCEPT_WORD_MAX + 8];
    int k = concept_word_normalize(s, strlen(s), word, sizeof word);
    if (k <= 0 || k > CONCEPT_WORD_MAX) {
        reply_error(r, 422, "unprocessable", "field 'word': %s",
                    k == 0    ? "blank"
                    : k == -2 ? "longer than 128 bytes"
                              : "holds a character a concept word may not ('/', control characters, invalid UTF-8)");
        return;
    }
    err e = {0};
    char *words[] = {word};
    /* The checks before the embedding is computed and stored; the limit is checked
     * again under the row lock. */
    if (corpus_exists(r->app, id, &e) || corpus_check_room(r->app, id, &e) ||
        extraction_embed_for_corpus(r->app, id, words, 1, &e) || corpus_word_add(r->app, id, word, &e))
        reply_err(r, &e);
    else
        reply_after_change(r, id);
}

void route_corpora_word_delete(req *r) {
    int64_t id = req_id_or_reply(r, 0);
    if (id < 0) return;
    const char *s = r->params[1];
    char word[4 * CONCEPT_WORD_MAX + 8];
    size_t L = strlen(s);
    int k = L + 1 > sizeof word ? -2 : concept_word_normalize(s, L, word, sizeof word);
    if (k <= 0) {
        reply_error(r, 404, "not_found", "no such word in corpus %lld", (long long)id);
        return;
    }
    err e = {0};
    if (corpus_word_remove(r->app, id, word, &e)) reply_err(r, &e);
    else reply_after_change(r, id);
}
