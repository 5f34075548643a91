/* fuzz_segment_store — segment_store_parse on blobs read back from the blob store. */
#include "fuzz_common.h"
#include "extraction/segment_store.h"

/* INFICOND_FUZZ_WRITE_SEEDS=DIR: write two valid blobs (labels, boxes) there and exit. */
int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    const char *dir = getenv("INFICOND_FUZZ_WRITE_SEEDS");
    if (!dir) return 0;
    for (int kind = 0; kind < 2; kind++) {
        segment_store st;
        err e = {0};
        segment_store_kind k = kind ? SEGMENT_STORE_BOXES : SEGMENT_STORE_LABELS;
        if (segment_store_init(&st, k, 3, 2, 2, &e)) abort();
        float emb[6] = {1, 2, 3, 4, 5, 6};
        uint8_t labels[4] = {0, 1, 1, 0};
        segment_box boxes[2] = {{0, 0, 0.5f, 0.5f}, {0.25f, 0.1f, 1, 1}};
        for (int img = 0; img < 2; img++) {
            int rc = kind ? segment_store_add_boxes(&st, 2 - img, emb, boxes, &e)
                          : segment_store_add_labels(&st, 2, emb, labels, &e);
            if (rc) abort();
        }
        uint8_t *buf;
        size_t len;
        if (segment_store_serialize(&st, &buf, &len, &e)) abort();
        char path[512];
        snprintf(path, sizeof path, "%s/%s", dir, kind ? "boxes" : "labels");
        FILE *f = fopen(path, "wb");
        if (!f || fwrite(buf, 1, len, f) != len) abort();
        fclose(f);
        free(buf);
        segment_store_free(&st);
    }
    exit(0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    uint8_t *buf = malloc(size ? size : 1);
    if (!buf) return 0;
    if (size) memcpy(buf, data, size);
    segment_store st;
    memset(&st, 0, sizeof st);
    err e = {0};
    if (segment_store_parse(&st, buf, size, &e) == 0) {
        for (int i = 0; i < st.n; i++) {
            int count = 0;
            const float *emb = segment_store_image(&st, i, &count);
            volatile float x = 0;
            for (int k = 0; emb && k < count * st.dim; k++) x += emb[k];
            (void)x;
        }
        uint8_t *out = NULL;
        size_t len = 0;
        err e2 = {0};
        if (segment_store_serialize(&st, &out, &len, &e2) == 0) free(out);
        segment_store_free(&st);
    }
    return 0;
}
