/* extraction_views.c — one image's presence and segments, a page of a concept's
 * gallery, as the extraction routes answer them (shapes in extraction_views.h).
 *
 * Segment chunks come from the shared segment cache: read and verified once per
 * process, then shared read-only by every request.
 */
#include "extraction/extraction_views.h"

#include <stdlib.h>

#include "concepts/concepts.h"
#include "extraction/segment_cache.h"
#include "extraction/segment_store.h"

json_t *extraction_image_presence_json(const extraction *x, int64_t image_id, const float *v) {
    int *order = malloc((size_t)x->d * sizeof *order + 1);
    for (int j = 0; order && j < x->d; j++) order[j] = j;
    /* insertion sort by presence, descending (d is small) — stable: ties keep corpus order */
    for (int i = 1; order && i < x->d; i++)
        for (int k = i; k > 0 && v[order[k]] > v[order[k - 1]]; k--) {
            int t = order[k];
            order[k] = order[k - 1], order[k - 1] = t;
        }
    json_t *cs = json_array();
    for (int j = 0; order && j < x->d; j++)
        json_array_append_new(cs, json_pack("{s:s,s:f}", "word", x->words[order[j]], "presence", (double)v[order[j]]));
    free(order);
    return json_pack("{s:I,s:I,s:o}", "extraction_id", (json_int_t)x->id, "image_id", (json_int_t)image_id, "concepts",
                     cs);
}

/* Segment s of image i in a store, as JSON: box or mask bits. */
static json_t *segment_shape(const segment_store *st, int i, int s) {
    if (st->kind == SEGMENT_STORE_BOXES) {
        const float *b = st->boxes + (st->offsets[i] + (size_t)s) * 4;
        return json_pack("{s:[f,f,f,f]}", "box", b[0], b[1], b[2], b[3]);
    }
    const size_t hw = (size_t)st->h * st->w;
    const uint8_t *lab = st->labels + (size_t)i * hw;
    char *bits = malloc(hw + 1);
    if (!bits) return json_object();
    for (size_t k = 0; k < hw; k++) bits[k] = lab[k] == s ? '1' : '0';
    bits[hw] = 0;
    json_t *j = json_pack("{s:{s:i,s:i,s:s}}", "mask", "h", st->h, "w", st->w, "bits", bits);
    free(bits);
    return j;
}

/* The segments of image i of st, each with its nearest concept (concepts: (d, dim)). */
static json_t *segments_json(const extraction *x, const segment_store *st, int i, const float *concepts) {
    int k;
    const float *seg = segment_store_image(st, i, &k); // (k, dim)
    json_t *segs = json_array();
    for (int s = 0; s < k; s++) {
        /* nearest concept: a (d, dim) x (dim) product per segment, small enough here */
        int best = -1;
        float bc = -2;
        for (int j = 0; j < x->d; j++) {
            float dot = 0;
            for (int t = 0; t < x->dim; t++) dot += seg[(size_t)s * x->dim + t] * concepts[(size_t)j * x->dim + t];
            if (dot > bc) bc = dot, best = j;
        }
        json_t *js = json_pack("{s:i,s:{s:s,s:f}}", "segment", s, "nearest", "word", x->words[best], "cos", (double)bc);
        json_t *shape = segment_shape(st, i, s);
        json_object_update(js, shape);
        json_decref(shape);
        if (st->kind == SEGMENT_STORE_LABELS) {
            int area = 0;
            for (int t = 0; t < st->h * st->w; t++) area += st->labels[(size_t)i * st->h * st->w + t] == s;
            json_object_set_new(js, "area", json_real((double)area / (st->h * st->w)));
        }
        json_array_append_new(segs, js);
    }
    return segs;
}

json_t *extraction_image_segments_json(app *a, const extraction *x, long row, int64_t image_id, err *e) {
    long first;
    int c = extraction_chunk_of(x, row, &first);
    const segment_store *st = NULL; /* shared, read-only: from the segment cache */
    segment_cache_entry *held = NULL;
    float *concepts = NULL;
    json_t *out = NULL;
    if (c < 0) {
        err_set(e, ERR_IO, "extraction %lld has no chunk for row %ld", (long long)x->id, row);
    } else if (!segment_cache_get(segment_cache_shared(), a->cfg.data_dir, x->chunks[c], &st, &held, e) &&
               !concept_embeddings_load(a, x->model_id, x->dim, x->words, (size_t)x->d, &concepts, e)) {
        int i = (int)(row - first);
        out = json_pack("{s:I,s:I,s:s,s:o}", "extraction_id", (json_int_t)x->id, "image_id", (json_int_t)image_id,
                        "encoder", x->encoder, "segments", segments_json(x, st, i, concepts));
        if (st->kind == SEGMENT_STORE_LABELS) {
            json_t *lab = json_array();
            for (int t = 0; t < st->h * st->w; t++)
                json_array_append_new(lab, json_integer(st->labels[(size_t)i * st->h * st->w + t]));
            json_object_set_new(out, "label_map", json_pack("{s:i,s:i,s:o}", "h", st->h, "w", st->w, "labels", lab));
        }
    }
    free(concepts);
    segment_cache_release(held);
    return out;
}

json_t *extraction_gallery_items_json(app *a, const extraction *x, const json_t *gallery, const int64_t *ids,
                                      long offset, long limit, err *e) {
    /* Each entry needs its chunk's masks: each chunk taken once from the cache. */
    const segment_store **stores = calloc(x->n_chunks + 1, sizeof *stores);
    segment_cache_entry **held = calloc(x->n_chunks + 1, sizeof *held);
    json_t *items = json_array();
    int bad = !stores || !held;
    if (bad) err_set(e, ERR_INTERNAL, "out of memory");
    for (long i = offset; !bad && i < (long)json_array_size(gallery) && i < offset + limit; i++) {
        json_t *h = json_array_get(gallery, (size_t)i);
        int64_t image_id = json_integer_value(json_array_get(h, 0));
        int seg = (int)json_integer_value(json_array_get(h, 1));
        long row = extraction_image_index(ids, x->n, image_id), first;
        int c = row < 0 ? -1 : extraction_chunk_of(x, row, &first);
        if (c < 0) continue;
        if (!stores[c] && segment_cache_get(segment_cache_shared(), a->cfg.data_dir, x->chunks[c], &stores[c], &held[c], e)) {
            bad = 1;
            break;
        }
        json_t *it = json_pack("{s:I,s:f,s:i}", "image_id", (json_int_t)image_id, "presence",
                               json_number_value(json_array_get(h, 2)), "segment", seg);
        json_t *shape = segment_shape(stores[c], (int)(row - first), seg);
        json_object_update(it, shape);
        json_decref(shape);
        json_array_append_new(items, it);
    }
    for (size_t c = 0; held && c < x->n_chunks; c++) segment_cache_release(held[c]);
    free(held);
    free((void *)stores);
    if (bad) {
        json_decref(items);
        return NULL;
    }
    return items;
}

static int cmp_id(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

json_t *extraction_gallery_in_split(const json_t *gallery, const int64_t *split_ids, size_t n) {
    json_t *out = json_array();
    size_t i;
    json_t *h;
    json_array_foreach(gallery, i, h) {
        int64_t id = json_integer_value(json_array_get(h, 0));
        if (out && n && bsearch(&id, split_ids, n, sizeof *split_ids, cmp_id) && json_array_append(out, h)) {
            json_decref(out);
            return NULL;
        }
    }
    return out;
}
