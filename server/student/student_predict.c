/* student_predict.c — one JPEG through concept extraction and a student version.
 *
 * The extraction path is the job's own (extraction_encode.c): the extraction's concept
 * model from the shared cache, extraction_encode on a batch of one (manifest
 * preprocessing, encoder, dense region merging or the 14 global crops), then
 * presence_run of that image's segments against the stored unit embeddings of the
 * student's words, with a one-entry gallery per concept to learn which segment gave
 * each presence. So a dataset image predicted here gets the presence row the
 * extraction stored for it, and the scores the student's analyses show.
 */
#include "student/student_predict.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "concepts/concepts.h"
#include "db_json.h"
#include "extraction/extraction.h"
#include "extraction/extraction_encode.h"
#include "extraction/extraction_store.h"
#include "dataset/jpeg_io.h"
#include "models/model_registry.h"
#include "extraction/presence.h"
#include "extraction/segment_store.h"
#include "student/student_store.h"

/* The student's names and whether its inputs are still the ones it was fitted on. */
typedef struct sp_student {
    int64_t extraction_id;
    size_t d, c;
    char **concepts; /* (d) borrowed from info */
    char **classes;  /* (C) borrowed from info */
    json_t *info;    /* owned */
} sp_student;

static void sp_student_free(sp_student *s) {
    free(s->concepts);
    free(s->classes);
    json_decref(s->info);
    memset(s, 0, sizeof *s);
}

/* Strings of a JSON array into a new array of borrowed pointers. */
static char **string_array(const json_t *arr, size_t *n) {
    *n = json_array_size(arr);
    char **out = calloc(*n + 1, sizeof *out);
    for (size_t i = 0; out && i < *n; i++) {
        out[i] = (char *)json_string_value(json_array_get(arr, i));
        if (!out[i]) {
            free(out);
            return NULL;
        }
    }
    return out;
}

/* Student id's names as version `number` (<= 0: the head) has them, refused when that
 * version's data changed since (student_version_stale, migration 008). */
static int sp_student_load(app *a, int64_t id, int number, sp_student *s, err *e) {
    memset(s, 0, sizeof *s);
    char ids[24], num[16], what[64];
    snprintf(ids, sizeof ids, "%lld", (long long)id);
    snprintf(num, sizeof num, "%d", number);
    snprintf(what, sizeof what, "no version %d of student %lld", number, (long long)id);
    const char *p[] = {ids, num};
    s->info = db_json(a, what,
                      "SELECT json_build_object('extraction_id', s.extraction_id, 'concepts', v.concepts, 'classes',"
                      " s.classes, 'state', x.state, 'stale', student_version_stale(v.id))::text"
                      " FROM students s JOIN student_versions v ON v.student_id = s.id AND v.number = CASE"
                      " WHEN $2::int > 0 THEN $2::int ELSE (SELECT max(number) FROM student_versions"
                      " WHERE student_id = s.id) END JOIN extractions x ON x.id = s.extraction_id WHERE s.id = $1",
                      2, p, e);
    if (!s->info) return -1;
    const char *state = json_string_value(json_object_get(s->info, "state"));
    const char *stale = json_string_value(json_object_get(s->info, "stale"));
    s->extraction_id = json_integer_value(json_object_get(s->info, "extraction_id"));
    if (!state || strcmp(state, "ready")) {
        err_set(e, ERR_CONFLICT, "student %lld cannot predict: its extraction %lld is %s, not ready", (long long)id,
                (long long)s->extraction_id, state ? state : "gone");
    } else if (stale) {
        /* The wording of ss_student_problem. */
        err_set(e, ERR_CONFLICT, "student %lld is stale: its %s was recomputed since version %d was made; distil a"
                " new student", (long long)id, stale, number);
    } else if (!(s->concepts = string_array(json_object_get(s->info, "concepts"), &s->d)) ||
               !(s->classes = string_array(json_object_get(s->info, "classes"), &s->c)) || !s->d || !s->c) {
        err_set(e, ERR_INTERNAL, "student %lld: bad stored names", (long long)id);
    } else {
        return 0;
    }
    sp_student_free(s);
    return -1;
}

/* Segment s of the (only) image of st as JSON, shaped like the segments API's. */
static json_t *segment_json(const segment_store *st, int s, const char *nearest, float cos) {
    json_t *j = json_pack("{s:i,s:{s:s?,s:f}}", "index", s, "nearest", "word", nearest, "cos", (double)cos);
    if (st->kind == SEGMENT_STORE_BOXES) {
        const float *b = st->boxes + (st->offsets[0] + (size_t)s) * 4;
        json_object_set_new(j, "box", json_pack("[f,f,f,f]", b[0], b[1], b[2], b[3]));
        return j;
    }
    const size_t hw = (size_t)st->h * st->w;
    char *bits = malloc(hw + 1);
    if (!bits) {
        json_decref(j);
        return NULL;
    }
    size_t area = 0;
    for (size_t t = 0; t < hw; t++) {
        bits[t] = st->labels[t] == s ? '1' : '0';
        area += st->labels[t] == s;
    }
    bits[hw] = 0;
    json_object_set_new(j, "mask", json_pack("{s:i,s:i,s:s}", "h", st->h, "w", st->w, "bits", bits));
    json_object_set_new(j, "area", json_real((double)area / (double)hw));
    free(bits);
    return j;
}

typedef struct contrib {
    double v;
    size_t j;
} contrib;

static int by_abs_desc(const void *pa, const void *pb) {
    const contrib *a = pa, *b = pb;
    double x = fabs(a->v), y = fabs(b->v);
    if (x != y) return x < y ? 1 : -1;
    return a->j < b->j ? -1 : 1;
}

/* Segments and presence of one decoded image: seg_of (d) is the producing segment
 * per concept (-1 where presence is 0), nearest / near_cos (segments) each
 * segment's nearest concept. */
static int extract_one(app *a, const sp_student *s, const image_rgb *img, segment_store *st, float *x, int32_t *seg_of,
                       int32_t **nearest, float **near_cos, char *encoder, err *e) {
    extraction xr = {0};
    model_ref *m = NULL;
    extraction_encoder enc = {0};
    float *concepts = NULL;
    presence pr = {0};
    int rc = -1;
    if (extraction_load(a, s->extraction_id, &xr, e) || !(m = model_registry_acquire(a, xr.model_id, e))) goto done;
    snprintf(encoder, 8, "%s", xr.encoder);
    if (m->mf.kind != MODEL_KIND_CONCEPT) {
        err_set(e, ERR_CONFLICT, "model %lld of extraction %lld is not a concept model", (long long)xr.model_id,
                (long long)xr.id);
        goto done;
    }
    if (concept_embeddings_load(a, xr.model_id, xr.dim, s->concepts, s->d, &concepts, e) ||
        extraction_encoder_init(&enc, &m->mf, m->model, xr.dim, e) || extraction_encode(&enc, img, 1, st, e) ||
        extraction_encode_finish(&enc, st, e))
        goto done;
    if (st->n != 1 || st->dim != xr.dim) {
        err_set(e, ERR_INTERNAL, "prediction: the encoder gave %d images of size %d", st->n, st->dim);
        goto done;
    }
    const size_t k = st->s_total;
    *nearest = malloc((k + 1) * sizeof **nearest);
    *near_cos = malloc((k + 1) * sizeof **near_cos);
    if (!*nearest || !*near_cos) {
        err_set(e, ERR_INTERNAL, "out of memory");
        goto done;
    }
    if (presence_init(&pr, xr.dim, (int)s->d, 1, 64, e) ||
        presence_run(&pr, concepts, st->emb, st->offsets, 1, 0, x, *nearest, *near_cos, e))
        goto done;
    for (size_t j = 0; j < s->d; j++) {
        presence_hit h;
        int count;
        if (presence_gallery(&pr, (int)j, &h, &count, e)) goto done;
        seg_of[j] = count ? h.segment : -1;
    }
    rc = 0;
done:
    presence_free(&pr);
    free(concepts);
    extraction_encoder_free(&enc);
    model_registry_release(m);
    extraction_free(&xr);
    return rc;
}

int student_predict(app *a, int64_t student_id, int number, const uint8_t *jpeg, size_t len, int top, json_t **out,
                    err *e) {
    *out = NULL;
    if (top < 1) top = SP_TOP_DEFAULT;
    sp_student s;
    if (sp_student_load(a, student_id, number, &s, e)) return -1;
    ss_version v;
    image_rgb img = {0};
    segment_store st = {0};
    float *x = NULL;                 // (d) presence
    int32_t *seg_of = NULL;          // (d) producing segment
    int32_t *nearest = NULL;         // (segments)
    float *near_cos = NULL;          // (segments)
    double *score = NULL;            // (C)
    contrib *cs = NULL;              // (d)
    json_t *segs = NULL, *res = NULL;
    char encoder[8] = "";
    int rc = -1;
    if (ss_version_load(a, student_id, number, &v, e)) goto done;
    if (v.c != s.c || v.d != s.d) {
        err_set(e, ERR_CONFLICT, "student %lld is stale: version %d has %zu x %zu weights for %zu classes and %zu concepts",
                (long long)student_id, number, v.c, v.d, s.c, s.d);
        goto done;
    }
    if (jpeg_decode(jpeg, len, &img, e)) {
        if (e->code != ERR_UNPROCESSABLE) goto done;
        char msg[sizeof e->msg];
        snprintf(msg, sizeof msg, "%s", e->msg);
        memset(e, 0, sizeof *e);
        err_set(e, ERR_UNPROCESSABLE, "the body is not a usable JPEG: %s", msg);
        goto done;
    }
    x = calloc(s.d, sizeof *x);
    seg_of = malloc(s.d * sizeof *seg_of);
    score = malloc(s.c * sizeof *score);
    cs = malloc(s.d * sizeof *cs);
    if (!x || !seg_of || !score || !cs) {
        err_set(e, ERR_INTERNAL, "out of memory");
        goto done;
    }
    if (extract_one(a, &s, &img, &st, x, seg_of, &nearest, &near_cos, encoder, e)) goto done;

    /* Scores x W^T + b, in double; the argmax takes the first of equals. */
    size_t best = 0;
    for (size_t k = 0; k < s.c; k++) {
        double z = v.b[k];
        for (size_t j = 0; j < s.d; j++) z += (double)v.w[k * s.d + j] * x[j];
        score[k] = z;
        if (z > score[best]) best = k;
    }
    segs = json_array();
    for (size_t t = 0; t < st.s_total; t++) {
        int32_t nj = nearest[t];
        json_t *sj = segment_json(&st, (int)t, nj >= 0 && (size_t)nj < s.d ? s.concepts[nj] : NULL, near_cos[t]);
        if (!sj || json_array_append_new(segs, sj)) {
            err_set(e, ERR_INTERNAL, "out of memory");
            goto done;
        }
    }
    size_t m = 0;
    for (size_t j = 0; j < s.d; j++) {
        double c = (double)v.w[best * s.d + j] * x[j];
        if (c != 0.0) cs[m++] = (contrib){c, j};
    }
    qsort(cs, m, sizeof *cs, by_abs_desc);
    json_t *scores = json_array(), *pres = json_array(), *items = json_array();
    for (size_t k = 0; k < s.c; k++)
        json_array_append_new(scores, json_pack("{s:s,s:f}", "class", s.classes[k], "score", score[k]));
    for (size_t j = 0; j < s.d; j++) json_array_append_new(pres, json_real(x[j]));
    for (size_t t = 0; t < m && t < (size_t)top; t++) {
        size_t j = cs[t].j;
        json_t *seg = seg_of[j] >= 0 ? json_array_get(segs, (size_t)seg_of[j]) : NULL;
        json_array_append_new(items, json_pack("{s:s,s:i,s:f,s:f,s:f,s:O?}", "concept", s.concepts[j], "index", (int)j,
                                               "presence", (double)x[j], "weight", (double)v.w[best * s.d + j],
                                               "contribution", cs[t].v, "segment", seg));
    }
    res = json_pack("{s:I,s:i,s:s,s:{s:i,s:i},s:s,s:i,s:f,s:o,s:o,s:O,s:o}", "student_id", (json_int_t)student_id,
                    "version", v.number, "encoder", encoder, "image", "width", img.width, "height", img.height,
                    "class", s.classes[best], "class_index", (int)best, "bias", (double)v.b[best], "scores", scores,
                    "presence", pres, "segments", segs, "concepts", items);
    if (!res) {
        err_set(e, ERR_INTERNAL, "out of memory");
        goto done;
    }
    if (st.kind == SEGMENT_STORE_LABELS) {
        json_t *lab = json_array();
        for (size_t t = 0; t < (size_t)st.h * st.w; t++) json_array_append_new(lab, json_integer(st.labels[t]));
        json_object_set_new(res, "label_map", json_pack("{s:i,s:i,s:o}", "h", st.h, "w", st.w, "labels", lab));
    }
    *out = res, res = NULL;
    rc = 0;
done:
    json_decref(res);
    json_decref(segs);
    free(cs);
    free(score);
    free(near_cos);
    free(nearest);
    free(seg_of);
    free(x);
    segment_store_free(&st);
    image_free(&img);
    ss_version_free(&v);
    sp_student_free(&s);
    return rc;
}
