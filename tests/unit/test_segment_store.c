/* test_segment_store.c — exact round trips of label-map and box stores through the
 * blob store (temp data folder), one flipped byte detected by the checksum, and
 * malformed blobs (lying header, out-of-range label) refused by the parser. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "extraction/segment_store.h"
#include "tmpdir.h"

enum { DIM = 8, H = 3, W = 4 };

static void fill(float *x, int n, float seed) {
    for (int i = 0; i < n; i++) x[i] = sinf(seed + 0.37f * (float)i);
}

static void build_labels(segment_store *st) {
    err e = {0};
    assert_int_equal(segment_store_init(st, SEGMENT_STORE_LABELS, DIM, H, W, &e), 0);
    const int counts[3] = {2, 0, 3};
    for (int i = 0; i < 3; i++) {
        float emb[3 * DIM];
        uint8_t lab[H * W];
        fill(emb, counts[i] * DIM, (float)i);
        for (int l = 0; l < H * W; l++) lab[l] = counts[i] ? (uint8_t)(l % counts[i]) : 0;
        assert_int_equal(segment_store_add_labels(st, counts[i], emb, lab, &e), 0);
    }
    /* a segments_result appends too */
    segments_result r = {.k = 1, .dim = DIM, .h = H, .w = W};
    float emb[DIM];
    uint8_t lab[H * W] = {0};
    int32_t size = H * W;
    fill(emb, DIM, 9.0f);
    r.emb = emb;
    r.labels = lab;
    r.size = &size;
    assert_int_equal(segment_store_add_result(st, &r, &e), 0);
}

static void assert_same(const segment_store *a, const segment_store *b) {
    assert_int_equal(a->kind, b->kind);
    assert_int_equal(a->n, b->n);
    assert_int_equal(a->dim, b->dim);
    assert_int_equal(a->h, b->h);
    assert_int_equal(a->w, b->w);
    assert_int_equal(a->s_total, b->s_total);
    assert_memory_equal(a->offsets, b->offsets, ((size_t)a->n + 1) * sizeof(uint64_t));
    assert_memory_equal(a->emb, b->emb, a->s_total * a->dim * sizeof(float));
    if (a->kind == SEGMENT_STORE_LABELS) assert_memory_equal(a->labels, b->labels, (size_t)a->n * a->h * a->w);
    else assert_memory_equal(a->boxes, b->boxes, a->s_total * 4 * sizeof(float));
}

static void test_labels_round_trip_and_corruption(void **state) {
    (void)state;
    char dir[64], data[128];
    assert_non_null(tmpdir_make(dir));
    snprintf(data, sizeof data, "%s/data", dir); /* created by put */
    segment_store st, back;
    build_labels(&st);
    assert_int_equal(st.n, 4);
    assert_int_equal(st.s_total, 6);
    int cnt;
    const float *rows = segment_store_image(&st, 2, &cnt);
    assert_int_equal(cnt, 3);
    assert_ptr_equal(rows, st.emb + 2 * DIM);
    assert_null(segment_store_image(&st, 4, &cnt));

    err e = {0};
    char sha[65];
    assert_int_equal(segment_store_put(&st, data, sha, &e), 0);
    /* the stored bytes are the serialised bytes */
    uint8_t *buf;
    size_t len;
    assert_int_equal(segment_store_serialize(&st, &buf, &len, &e), 0);
    assert_int_equal(len, segment_store_size(&st));
    char sha2[65];
    blobstore_hash(buf, len, sha2);
    assert_string_equal(sha, sha2);
    free(buf);

    assert_int_equal(segment_store_load(&back, data, sha, &e), 0);
    assert_same(&st, &back);
    assert_int_equal(segment_store_add_labels(&back, 0, NULL, st.labels, &e), -1); /* read-only */
    err_clear(&e);
    segment_store_free(&back);

    /* flip one byte (in the embeddings) of the stored file */
    char path[512];
    assert_int_equal(blobstore_path(data, sha, path, sizeof path, &e), 0);
    FILE *f = fopen(path, "r+b");
    assert_non_null(f);
    fseek(f, 300, SEEK_SET);
    int c = fgetc(f);
    fseek(f, 300, SEEK_SET);
    fputc(c ^ 0x01, f);
    fclose(f);
    assert_int_equal(segment_store_load(&back, data, sha, &e), -1);
    assert_int_equal(e.code, ERR_CORRUPT);
    assert_non_null(strstr(e.msg, "checksum"));
    assert_null(back.emb);
    segment_store_free(&back);

    segment_store_free(&st);
    segment_store_free(&st);
    tmpdir_remove(dir);
}

static void test_boxes_round_trip(void **state) {
    (void)state;
    char dir[64];
    assert_non_null(tmpdir_make(dir));
    err e = {0};
    segment_store st, back;
    assert_int_equal(segment_store_init(&st, SEGMENT_STORE_BOXES, DIM, 0, 0, &e), 0);
    segment_box boxes[SEGMENTS_GLOBAL_COUNT];
    segments_global_boxes(boxes);
    float emb[SEGMENTS_GLOBAL_COUNT * DIM];
    for (int i = 0; i < 70; i++) { /* grows past the initial capacities */
        fill(emb, SEGMENTS_GLOBAL_COUNT * DIM, (float)i);
        assert_int_equal(segment_store_add_boxes(&st, SEGMENTS_GLOBAL_COUNT, emb, boxes, &e), 0);
    }
    char sha[65];
    assert_int_equal(segment_store_put(&st, dir, sha, &e), 0);
    assert_int_equal(segment_store_load(&back, dir, sha, &e), 0);
    assert_same(&st, &back);
    assert_true(back.boxes[9 * 4 + 0] == boxes[9].x0);
    segment_store_free(&back);

    segment_box bad = {0.5f, 0, 0.4f, 1};
    assert_int_equal(segment_store_add_boxes(&st, 1, emb, &bad, &e), -1);
    assert_int_equal(e.code, ERR_BAD_REQUEST);
    err_clear(&e);
    assert_int_equal(segment_store_add_labels(&st, 1, emb, (uint8_t[1]){0}, &e), -1);
    segment_store_free(&st);
    tmpdir_remove(dir);
}

static void test_parse_rejects_malformed(void **state) {
    (void)state;
    segment_store st, back;
    build_labels(&st);
    err e = {0};
    uint8_t *buf;
    size_t len;

    /* header says one more image than the bytes hold */
    assert_int_equal(segment_store_serialize(&st, &buf, &len, &e), 0);
    uint32_t n;
    memcpy(&n, buf + 16, 4);
    n++;
    memcpy(buf + 16, &n, 4);
    assert_int_equal(segment_store_parse(&back, buf, len, &e), -1); /* frees buf */
    assert_int_equal(e.code, ERR_IO);
    assert_non_null(strstr(e.msg, "corrupt"));

    /* a label map value >= that image's segment count */
    err_clear(&e);
    assert_int_equal(segment_store_serialize(&st, &buf, &len, &e), 0);
    buf[len - 1] = 7; /* last image has 1 segment */
    assert_int_equal(segment_store_parse(&back, buf, len, &e), -1);
    assert_non_null(strstr(e.msg, "label"));

    /* bad magic, truncated */
    err_clear(&e);
    assert_int_equal(segment_store_serialize(&st, &buf, &len, &e), 0);
    assert_int_equal(segment_store_parse(&back, buf, len - 1, &e), -1);
    err_clear(&e);
    assert_int_equal(segment_store_serialize(&st, &buf, &len, &e), 0);
    buf[0] = 'X';
    assert_int_equal(segment_store_parse(&back, buf, len, &e), -1);
    assert_non_null(strstr(e.msg, "magic"));

    /* an intact one parses */
    err_clear(&e);
    assert_int_equal(segment_store_serialize(&st, &buf, &len, &e), 0);
    assert_int_equal(segment_store_parse(&back, buf, len, &e), 0);
    assert_same(&st, &back);
    segment_store_free(&back);

    /* labels out of range are refused on append */
    uint8_t lab[H * W] = {0};
    lab[5] = 2;
    float emb[2 * DIM] = {0};
    assert_int_equal(segment_store_add_labels(&st, 2, emb, lab, &e), -1);
    assert_int_equal(e.code, ERR_BAD_REQUEST);
    emb[0] = NAN;
    lab[5] = 1;
    err_clear(&e);
    assert_int_equal(segment_store_add_labels(&st, 2, emb, lab, &e), -1);
    assert_int_equal(e.code, ERR_UNPROCESSABLE);
    segment_store_free(&st);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_labels_round_trip_and_corruption),
        cmocka_unit_test(test_boxes_round_trip),
        cmocka_unit_test(test_parse_rejects_malformed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
