/* class_name_filter.c — dropping corpus words near a class name (class_name_filter.h
 * says why): probes per class, a by-name match, and cosines of text embeddings under
 * the project's concept model.
 */
#include "concepts/class_name_filter.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "concepts/concepts.h"
#include "db_json.h"
#include "models/model_registry.h"



int class_filter_probes(const char *name, char out[][CLASS_FILTER_PROBE_CAP], size_t cap) {
    static const char *const forms[CLASS_FILTER_PROBES] = {"%s", "a %s", "an %s", "the %s", "a photo of a %s"};
    for (int k = 0; k < CLASS_FILTER_PROBES; k++) snprintf(out[k], cap, forms[k], name);
    return CLASS_FILTER_PROBES;
}

/* A dataset class as a concept word: '_' and '/' (folder names, "T-shirt/top") read
 * as spaces, then normalised. 0 and out[0] = 0 when nothing is left of it. */
static int class_as_word(const char *cls, char *out, size_t cap) {
    char tmp[4 * CONCEPT_WORD_MAX + 8];
    size_t L = strlen(cls);
    if (L + 1 > sizeof tmp) L = sizeof tmp - 1;
    for (size_t i = 0; i < L; i++) tmp[i] = cls[i] == '_' || cls[i] == '/' ? ' ' : cls[i];
    int k = concept_word_normalize(tmp, L, out, cap);
    if (k <= 0) out[0] = 0;
    return k > 0 ? k : 0;
}

/* Which of words[0..n) the model's tokenizer reads: the whole list at once, else
 * one by one (a word-list model names every unknown word in one error). */
static void readable_mask(const model_manifest *mf, char *const *words, size_t n, uint8_t *ok) {
    err e = {0};
    if (n && !concept_check_words(mf, words, n, &e)) {
        memset(ok, 1, n);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        err we = {0};
        ok[i] = !concept_check_words(mf, words + i, 1, &we);
    }
}

/* The filter's arrays, freed together. */
typedef struct filter_work {
    char (*probe)[CLASS_FILTER_PROBE_CAP];  /* (n_classes * CLASS_FILTER_PROBES) */
    char **classes;            /* (n_classes) as words, "" when unusable */
    size_t n_classes;
    uint8_t *probe_ok, *word_ok; /* readable by the model: (n_probes), (n) */
    char **text;               /* (n_text) the readable probes, then the readable words (borrowed) */
    size_t n_text;
    float *emb;                /* (n_text, dim) unit rows */
} filter_work;

static void filter_work_free(filter_work *w) {
    if (w->classes)
        for (size_t i = 0; i < w->n_classes; i++) free(w->classes[i]);
    free(w->classes), free(w->probe), free(w->probe_ok), free(w->word_ok), free(w->text), free(w->emb);
}

/* The nearest readable probe to text row t: its cosine in *best, its probe index. */
static size_t nearest_probe(const filter_work *w, const size_t *probe_row, size_t n_probes, size_t t, int dim,
                            double *best) {
    size_t arg = (size_t)-1;
    *best = -2;
    for (size_t p = 0; p < n_probes; p++) {
        if (!w->probe_ok[p]) continue;
        const float *u = w->emb + probe_row[p] * (size_t)dim, *v = w->emb + t * (size_t)dim;
        double c = 0;
        for (int d = 0; d < dim; d++) c += (double)u[d] * v[d];
        if (c > *best) *best = c, arg = p;
    }
    return arg;
}

int class_name_filter(app *a, int64_t dataset_id, int64_t concept_model_id, double tau, char **words, size_t *n,
                      json_t **report, err *e) {
    *report = NULL;
    if (!(tau >= -1 && tau <= 1)) return err_set(e, ERR_UNPROCESSABLE, "tau: a cosine in [-1, 1]");
    json_t *ds =
        db_json_by_id(a, "dataset", dataset_id, "SELECT to_json(classes)::text FROM datasets WHERE id = $1::bigint", e);
    if (!ds) return -1;
    model_ref *m = model_registry_acquire(a, concept_model_id, e);
    if (!m) {
        json_decref(ds);
        return -1;
    }
    filter_work w = {0};
    json_t *dropped = json_array(), *not_embedded = json_array(), *class_list = json_array();
    size_t *probe_row = NULL, words_unread = 0;
    int rc = -1, dim = 0;
    if (m->mf.kind != MODEL_KIND_CONCEPT) {
        err_set(e, ERR_UNPROCESSABLE, "model %lld is not a concept model", (long long)concept_model_id);
        goto done;
    }
    w.n_classes = json_array_size(ds);
    const size_t n_probes = w.n_classes * CLASS_FILTER_PROBES;
    w.classes = calloc(w.n_classes + 1, sizeof *w.classes);
    w.probe = calloc(n_probes + 1, sizeof *w.probe);
    w.probe_ok = calloc(n_probes + 1, 1);
    w.word_ok = calloc(*n + 1, 1);
    w.text = calloc(n_probes + *n + 1, sizeof *w.text);
    probe_row = calloc(n_probes + 1, sizeof *probe_row);
    if (!w.classes || !w.probe || !w.probe_ok || !w.word_ok || !w.text || !probe_row || !dropped || !not_embedded ||
        !class_list) {
        err_set(e, ERR_INTERNAL, "out of memory");
        goto done;
    }
    for (size_t c = 0; c < w.n_classes; c++) {
        char name[4 * CONCEPT_WORD_MAX + 8];
        class_as_word(json_string_value(json_array_get(ds, c)) ? json_string_value(json_array_get(ds, c)) : "", name,
                      sizeof name);
        if (!(w.classes[c] = strdup(name))) {
            err_set(e, ERR_INTERNAL, "out of memory");
            goto done;
        }
        json_array_append_new(class_list, json_string(name));
        class_filter_probes(name, w.probe + c * CLASS_FILTER_PROBES, CLASS_FILTER_PROBE_CAP);
    }
    /* Readable probes first, then readable words: one embedding call for both. */
    char **probe_ptrs = malloc((n_probes + 1) * sizeof *probe_ptrs);
    if (!probe_ptrs) {
        err_set(e, ERR_INTERNAL, "out of memory");
        goto done;
    }
    for (size_t p = 0; p < n_probes; p++) probe_ptrs[p] = w.probe[p];
    readable_mask(&m->mf, probe_ptrs, n_probes, w.probe_ok);
    free(probe_ptrs);
    readable_mask(&m->mf, words, *n, w.word_ok);
    for (size_t c = 0; c < w.n_classes; c++) {
        if (!w.classes[c][0]) /* nothing is left of the name */
            memset(w.probe_ok + c * CLASS_FILTER_PROBES, 0, CLASS_FILTER_PROBES);
        int any = 0;
        for (int k = 0; k < CLASS_FILTER_PROBES; k++) any |= w.probe_ok[c * CLASS_FILTER_PROBES + k];
        if (!any) json_array_append_new(not_embedded, json_string(w.classes[c]));
    }
    for (size_t p = 0; p < n_probes; p++)
        if (w.probe_ok[p]) probe_row[p] = w.n_text, w.text[w.n_text++] = w.probe[p];
    const size_t first_word = w.n_text;
    for (size_t i = 0; i < *n; i++) {
        if (w.word_ok[i]) w.text[w.n_text++] = words[i];
        else words_unread++;
    }
    if (first_word > 0 && w.n_text > first_word && concept_embed_words(a, m, w.text, w.n_text, &w.emb, &dim, e))
        goto done;
    size_t kept = 0, t = first_word;
    for (size_t i = 0; i < *n; i++) {
        const char *cls = NULL, *near = NULL, *by = NULL;
        double cos = 0;
        for (size_t p = 0; p < n_probes && !by; p++)
            if (w.classes[p / CLASS_FILTER_PROBES][0] && !strcmp(words[i], w.probe[p]))
                cls = w.classes[p / CLASS_FILTER_PROBES], near = w.probe[p], by = "name";
        if (w.word_ok[i] && w.emb) {
            size_t p = nearest_probe(&w, probe_row, n_probes, t++, dim, &cos);
            if (p != (size_t)-1 && cos >= tau && !by)
                cls = w.classes[p / CLASS_FILTER_PROBES], near = w.probe[p], by = "embedding";
            else if (by && p == (size_t)-1)
                cos = -2; /* no readable probe: the cosine is unknown */
        } else if (by) {
            cos = -2;
        }
        if (!by) {
            words[kept++] = words[i];
            continue;
        }
        json_array_append_new(dropped, json_pack("{s:s,s:s,s:s,s:o,s:s}", "word", words[i], "class", cls, "near", near,
                                                 "cosine", cos < -1 ? json_null() : json_real(cos), "by", by));
        free(words[i]);
    }
    *n = kept;
    *report = json_pack("{s:f,s:I,s:I,s:O,s:O,s:I,s:O,s:I}", "tau", tau, "dataset_id", (json_int_t)dataset_id,
                        "concept_model_id", (json_int_t)concept_model_id, "classes", class_list, "dropped", dropped,
                        "kept", (json_int_t)kept, "classes_not_embedded", not_embedded, "words_not_embedded",
                        (json_int_t)words_unread);
    rc = *report ? 0 : err_set(e, ERR_INTERNAL, "out of memory");
done:
    filter_work_free(&w);
    free(probe_row);
    json_decref(dropped), json_decref(not_embedded), json_decref(class_list), json_decref(ds);
    model_registry_release(m);
    return rc;
}
