/* routes_vocabulary.c — GET /api/v1/models/{id}/vocabulary: the words a concept model
 * can read, for the page's suggestions while a concept is typed (vocabulary.h): a
 * word-list model's words starting with ?prefix=, or {"open": true} for a CLIP model,
 * which reads any text. The model's manifest is read from its folder; the model
 * itself is not loaded.
 */
#include <string.h>

#include "concepts/concepts.h"
#include "concepts/routes_vocabulary.h"
#include "concepts/vocabulary.h"
#include "models/model_registry.h"

void route_model_vocabulary(req *r) {
    int64_t id = req_id_or_reply(r, 0);
    if (id < 0) return;
    long limit;
    if (!req_query_int_or_reply(r, "limit", 1, VOCABULARY_LIMIT_MAX, 20, &limit)) return;
    const char *q = req_query(r, "prefix");
    char prefix[4 * CONCEPT_WORD_MAX + 8] = "";
    size_t len = q ? strlen(q) : 0;
    /* The words tokenizer lower-cases; a prefix is normalised like a concept word. */
    if (len && (len + 1 > sizeof prefix || concept_word_normalize(q, len, prefix, sizeof prefix) < 0)) {
        reply_error(r, 422, "unprocessable",
                    "query parameter 'prefix': at most 128 bytes of text without '/' or control characters");
        return;
    }
    err e = {0};
    model_manifest mf;
    if (model_registry_manifest(r->app, id, &mf, &e)) {
        reply_err(r, &e);
        return;
    }
    json_t *j = mf.kind == MODEL_KIND_CONCEPT ? vocabulary_json(&mf, prefix, (size_t)limit, &e) : NULL;
    if (mf.kind != MODEL_KIND_CONCEPT) err_set(&e, ERR_UNPROCESSABLE, "model %lld is a teacher: it has no vocabulary", (long long)id);
    model_manifest_free(&mf);
    reply_json_or_err(r, 200, j, &e);
}
