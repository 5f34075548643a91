/* student_add_words.c — a tune's added words made presence columns of the student's
 * extraction (see student_add_words.h).
 */
#include "student/student_add_words.h"

#include <stdlib.h>
#include <string.h>

#include "concepts/concepts.h"
#include "concepts/corpus.h"
#include "extraction/extraction.h"
#include "extraction/extraction_store.h"
#include "extraction/extraction_sync.h"
#include "log.h"
#include "models/model_registry.h"

/* Which of words (n) the extraction lacks: missing (n) flags, returns how many. */
static size_t lacking(const extraction *x, char *const *words, size_t n, unsigned char *missing) {
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        missing[i] = 1;
        for (int j = 0; j < x->d && missing[i]; j++) missing[i] = strcmp(x->words[j], words[i]) != 0;
        m += missing[i];
    }
    return m;
}

int ss_add_words_ensure(app *a, int64_t extraction_id, char *const *words, const size_t *action_of, size_t n,
                        int *changed, err *e) {
    *changed = 0;
    extraction x;
    if (extraction_load(a, extraction_id, &x, e)) return -1;
    unsigned char *missing = calloc(n + 1, 1);
    char **add = calloc(n + 1, sizeof *add);
    model_ref *m = NULL;
    int rc = -1;
    if (!missing || !add) {
        err_set(e, ERR_INTERNAL, "out of memory");
        goto done;
    }
    size_t n_add = lacking(&x, words, n, missing);
    if (n_add == 0) {
        rc = 0;
        goto done;
    }
    if (strcmp(x.state, "ready")) {
        err_set(e, ERR_CONFLICT, "extraction %lld is %s, not ready: no word can be added now",
                (long long)extraction_id, x.state);
        goto done;
    }
    /* Each word against the extraction's own model first, so the refusal names the
     * action; then the corpus takes them all (its other models check them too). */
    if (!(m = model_registry_acquire(a, x.model_id, e))) goto done;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (!missing[i]) continue;
        err we = {0};
        if (concept_check_words(&m->mf, &words[i], 1, &we)) {
            err_set(e, ERR_UNPROCESSABLE, "actions[%zu].concept: %s", action_of[i], we.msg);
            goto done;
        }
        add[k++] = words[i];
    }
    size_t added;
    if (extraction_embed_for_corpus(a, x.corpus_id, add, k, e) ||
        corpus_words_append(a, x.corpus_id, add, k, &added, e))
        goto done;
    int updated = 0;
    err se = {0};
    if (extraction_sync_corpus(a, x.corpus_id, &updated, &se))
        log_warn("corpus %lld: extractions not all brought up to date: %s", (long long)x.corpus_id, se.msg);
    extraction_free(&x);
    if (extraction_load(a, extraction_id, &x, e)) goto done;
    for (size_t i = 0; i < n; i++) {
        if (!lacking(&x, &words[i], 1, &missing[i])) continue;
        err_set(e, ERR_CONFLICT, "actions[%zu].concept: '%s' is in the corpus now, but extraction %lld could not"
                " compute its presence: %s", action_of[i], words[i], (long long)extraction_id,
                se.msg[0] ? se.msg : "it changed meanwhile; try again");
        goto done;
    }
    *changed = 1;
    rc = 0;
done:
    model_registry_release(m);
    extraction_free(&x);
    free(missing), free(add);
    return rc;
}
