/* bench_extract.c — `inficond bench extract`: concept extraction throughput, images/s,
 * of the service's own path — read file, jpeg_decode, extraction_encode (preprocess
 * or the 14 crops, the image method through the shim, segments_dense or crop rows,
 * into a segment store, as the concepts.extract job does per batch), then
 * presence_run over the stored segments (SGEMM + max per image + galleries) — against
 * bench/extract_peer.py running the same TorchScript file with Debian's python3-torch
 * on the same files and batch size (PIL decode, resize/crops, normalise, image method,
 * max-cosine presence with torch ops; see the peer for what it does not do).
 *
 * --model is a concept model folder, or a TorchScript CLIP archive (.pt): then a
 * global-encoder manifest (clip-bpe tokenizer, CLIP mean/std, patch_openai_jit
 * detected) is written in a temp folder with copies of the archive and the vocab.
 * The concepts are embedded once before timing (C tokenizes; the peer runs the text
 * method itself on the same token ids). Both sides single-threaded, both after the
 * same warm-up batches; C and Python alternate for --runs rounds and the medians
 * count: of wall time (throughput), of the per-round ratios, and of process CPU time
 * (steadier when the machine is shared). Prints a table, then one JSON line last.
 *
 * Fair peers: both sides must compute the same thing, so after each timed C run the
 * image method runs once more alone on the same preprocessed inputs (its own time:
 * the encoder's GFLOP/s for a CLIP ViT, against OpenBLAS SGEMM's peak measured in the
 * same run; and the sums of its raw outputs) and the run fails (exit 1) when those
 * sums, or a global model's presence sum, differ from the peer's beyond
 * BX_ENCODER_TOL / BX_PRESENCE_TOL. A dense CLIP folder's peer runs the same dense
 * forward in Python (tests/clip_vit/naclip_reference.py); --compare-global times the
 * same archive as a global model on 14 crops, C only, in the same run.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cblas.h>
#include <jansson.h>

#include "bench/bench_extract_inputs.h"
#include "bench/bench_util.h"
#include "commands.h"
#include "concepts/concepts.h"
#include "extraction/extraction.h"
#include "extraction/extraction_encode.h"
#include "file_read.h"
#include "dataset/jpeg_io.h"
#include "models/model_check.h"
#include "shim_dense_clip.h"
#include "extraction/presence.h"
#include "teacher/teacher.h"
#include "concepts/tokenizer_clip.h"
#include "concepts/tokenizer_words.h"

#define BX_MAX_RUNS 15
/* Checksum agreement between C and the peer (see the end of bench_extract). The image
 * method's outputs are float32 from the same pixels (the peer resizes bit for bit as
 * C does) through different but equivalent op orders: ~1e-7 relative apart. */
#define BX_ENCODER_TOL 1e-4
#define BX_PRESENCE_TOL 1e-4

/* CPU seconds of this process: both sides run one thread, so on a machine shared with
 * other work this is the steadier measure of the work done (reported beside wall time). */
static double bx_cpu(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void bench_extract_usage(FILE *out) {
    fprintf(out,
            "Usage: inficond bench extract --model DIR|FILE.pt --images FOLDER [--n 512] [--batch B]\n"
            "                              [--words a,b,c | --corpus FILE] [--runs 3] [--warmup 2]\n"
            "                              [--vocab ../shared/clip/bpe_simple_vocab_16e6.txt.gz] [--side 64]\n"
            "                              [--python /usr/bin/python3] [--peer bench/extract_peer.py]\n"
            "                              [--compare-global [--global-runs 1]]\n\n"
            "Concept extraction images/s (decode + preprocess/crops + encode + segments + presence),\n"
            "C (this binary, the concepts.extract job's path) vs Python (the peer, python3-torch), one\n"
            "thread each, same files (the first N .jpg under FOLDER, recursively, sorted) and batch\n"
            "(default: the job's, %d dense / %d global images). --model FILE.pt: a CLIP TorchScript\n"
            "archive, run as a global model (14 crops per image) with the clip-bpe --vocab and a\n"
            "--side x --side input. Concepts: --words, --corpus (one per line), else every word of a\n"
            "words tokenizer's list or a built-in list of 24. Medians of --runs alternating rounds.\n"
            "A dense CLIP folder (\"dense\": {\"from\": \"clip-vit\"}) is timed against the same dense\n"
            "forward in Python; --compare-global also times the same archive as a 14-crop global\n"
            "model (C only, --global-runs rounds). For a CLIP ViT the encoder's GFLOP/s is shown against OpenBLAS SGEMM's\n"
            "peak measured in the same run. The image method's output sums (and a global model's\n"
            "presence sum) must agree with the peer's to 1e-4, else exit 1.\n"
            "Prints a table, then one JSON line last.\n",
            EXTRACTION_BATCH_DENSE, EXTRACTION_BATCH_GLOBAL);
}

/* ---- the C side --------------------------------------------------------------- */

typedef struct bx_times {
    double total, cpu, decode, encode, presence, prep;
    double encoder;          /* the image method alone (timed apart), seconds      */
    double encoder_cpu;      /* the same, process CPU seconds                      */
    size_t segments;
    double checksum;         /* sum of the presence matrix                         */
    double enc_sum, enc_abs; /* sums of the image method's raw outputs, and of |x| */
} bx_times;

/* Decode files[0..count) into imgs; a file that fails gets pixels NULL (as the job). */
static void decode_batch(char **files, int count, image_rgb *imgs) {
    for (int i = 0; i < count; i++) {
        memset(&imgs[i], 0, sizeof imgs[i]);
        size_t len;
        err we = {0};
        uint8_t *b = (uint8_t *)file_read_all(files[i], BENCH_FILE_MAX, &len, &we);
        if (!b || jpeg_decode(b, len, &imgs[i], &we)) memset(&imgs[i], 0, sizeof imgs[i]);
        free(b);
    }
}

static int c_run(extraction_encoder *enc, char **files, int n, int warmup, const float *concepts, int d,
                 int encoder_pass, bx_times *t, err *e) {
    const int batch = enc->batch;
    image_rgb *imgs = calloc((size_t)batch, sizeof *imgs);
    float *X = malloc((size_t)n * d * sizeof *X); // (n, d)
    segment_store st = {0};
    presence p = {0};
    int rc = -1;
    if (!imgs || !X) {
        err_set(e, ERR_INTERNAL, "out of memory");
        goto done;
    }
    for (int w = 0, at = 0; w < warmup && at < n; w++, at += batch) { /* the profiling executor's first calls */
        int b = n - at < batch ? n - at : batch;
        decode_batch(files + at, b, imgs);
        int bad = extraction_encode(enc, imgs, b, &st, e);
        for (int i = 0; i < b; i++) image_free(&imgs[i]);
        if (bad) goto done;
    }
    segment_store_free(&st);
    enc->pending_empty = 0;
    memset(t, 0, sizeof *t);
    double t0 = bench_now(), c0 = bx_cpu();
    for (int at = 0; at < n; at += batch) {
        int b = n - at < batch ? n - at : batch;
        double t1 = bench_now();
        decode_batch(files + at, b, imgs);
        double t2 = bench_now();
        int bad = extraction_encode(enc, imgs, b, &st, e);
        t->decode += t2 - t1, t->encode += bench_now() - t2;
        for (int i = 0; i < b; i++) image_free(&imgs[i]);
        if (bad) goto done;
    }
    if (extraction_encode_finish(enc, &st, e)) goto done;
    double t3 = bench_now();
    if (presence_init(&p, st.dim, d, EXTRACTION_TOP_K, 0, e) ||
        presence_run(&p, concepts, st.emb, st.offsets, st.n, 0, X, NULL, NULL, e))
        goto done;
    double t4 = bench_now();
    t->presence = t4 - t3;
    t->total = t4 - t0;
    t->cpu = bx_cpu() - c0;
    t->segments = st.s_total;
    for (size_t i = 0; i < (size_t)n * d; i++) t->checksum += X[i];
    /* Outside the timed run: preprocessing alone, then the image method alone on what it
     * made (the encoder's own time, for its GFLOP/s) and the sums of its raw outputs
     * (the checksum the Python peer must match; extraction_encode keeps them to itself). */
    const model_manifest *mf = enc->mf;
    const int global = mf->encoder == MODEL_ENCODER_GLOBAL;
    for (int at = 0; at < n && encoder_pass; at += batch) {
        int b = n - at < batch ? n - at : batch, valid = 0;
        decode_batch(files + at, b, imgs);
        double t5 = bench_now();
        int bad = 0;
        for (int i = 0; i < b && !bad; i++) {
            if (!imgs[i].pixels) continue;
            float *slot = enc->x + (size_t)valid++ * enc->per;
            bad = global ? segments_global_batch(&imgs[i], mf->width, mf->height, mf->mean, mf->std, slot, enc->per, e)
                         : teacher_preprocess(mf, &imgs[i], slot, enc->scratch, e);
        }
        double t6 = bench_now(), c6 = bx_cpu();
        t->prep += t6 - t5;
        for (int i = 0; i < b; i++) image_free(&imgs[i]);
        if (bad) goto done;
        if (!valid) continue;
        const int64_t shape[4] = {global ? (int64_t)valid * SEGMENTS_GLOBAL_COUNT : valid, mf->channels, mf->height,
                                  mf->width};
        shim_output out = {0};
        char eb[320];
        bad = shim_model_run_tensor(enc->model, mf->method_image, enc->xt, 4, shape, &out, eb, sizeof eb);
        t->encoder += bench_now() - t6;
        t->encoder_cpu += bx_cpu() - c6;
        enc->x = shim_tensor_data(enc->xt);
        if (bad) {
            err_set(e, ERR_TORCH, "image method '%s': %s", mf->method_image, eb);
            goto done;
        }
        for (size_t i = 0; i < out.count; i++) t->enc_sum += out.data[i], t->enc_abs += fabs(out.data[i]);
        shim_free_output(&out);
        if (!enc->x) {
            err_set(e, ERR_INTERNAL, "out of memory (input buffer)");
            goto done;
        }
    }
    rc = 0;
done:
    presence_free(&p);
    segment_store_free(&st);
    free(X);
    free(imgs);
    return rc;
}

/* ---- the Python side ---------------------------------------------------------- */

typedef struct bx_py {
    double seconds, cpu, encode, encode_cpu, checksum, enc_sum, enc_abs;
} bx_py;

static int py_run(const char *python, const char *peer, const char *model_dir, const char *list, int batch,
                  int warmup, const char *tokens, bx_py *r) {
    char cmd[5 * PATH_MAX];
    snprintf(cmd, sizeof cmd, "OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 '%s' '%s' '%s' '%s' %d %d '%s'", python, peer,
             model_dir, list, batch, warmup, tokens);
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    char line[4096], last[4096] = "";
    while (fgets(line, sizeof line, p)) snprintf(last, sizeof last, "%s", line);
    int st = pclose(p);
    json_t *j = json_loads(last, 0, NULL);
    double s = st == 0 && j ? json_number_value(json_object_get(j, "seconds")) : -1;
    if (j) {
        r->checksum = json_number_value(json_object_get(j, "checksum"));
        r->encode = json_number_value(json_object_get(j, "encode_seconds"));
        r->encode_cpu = json_number_value(json_object_get(j, "encode_cpu_seconds"));
        r->cpu = json_number_value(json_object_get(j, "cpu_seconds"));
        r->enc_sum = json_number_value(json_object_get(j, "encoder_checksum"));
        r->enc_abs = json_number_value(json_object_get(j, "encoder_abs_checksum"));
    }
    json_decref(j);
    if (s <= 0) {
        fprintf(stderr, "bench extract: the Python peer failed (exit %d): %s\n", st, last);
        return -1;
    }
    r->seconds = s;
    return 0;
}

/* A hard link (the archive may be hundreds of MB), else a copy. */
static int link_or_copy(const char *from, const char *to) { return link(from, to) == 0 ? 0 : bx_copy_file(from, to); }

/* The same archive as a global (14-crop) model in dir: the dense folder's manifest
 * with "encoder": "global" and no "dense", and its model and tokenizer files. */
static int write_global_twin(const char *dir, const model_manifest *mf, err *e) {
    char p[PATH_MAX + 64];
    snprintf(p, sizeof p, "%s/manifest.json", mf->dir);
    json_error_t je;
    json_t *root = json_load_file(p, 0, &je);
    if (!root) return err_set(e, ERR_IO, "cannot read %s: %s", p, je.text);
    json_object_set_new(root, "encoder", json_string("global"));
    json_object_del(root, "dense");
    snprintf(p, sizeof p, "%s/manifest.json", dir);
    int rc = json_dump_file(root, p, JSON_INDENT(1)) ? err_set(e, ERR_IO, "cannot write %s", p) : 0;
    json_decref(root);
    const char *names[2] = {mf->file, mf->tokenizer_file}, *paths[2] = {mf->file_path, mf->tokenizer_path};
    for (int i = 0; i < 2 && !rc; i++) {
        if (strchr(names[i], '/')) return err_set(e, ERR_BAD_REQUEST, "--compare-global: '%s' is not in the folder's top", names[i]);
        snprintf(p, sizeof p, "%s/%s", dir, names[i]);
        if (link_or_copy(paths[i], p)) rc = err_set(e, ERR_IO, "cannot copy %s", paths[i]);
    }
    return rc;
}

/* Remove dir's files (a flat folder this benchmark made) and dir. */
static void remove_flat(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return;
    for (struct dirent *de; (de = readdir(d));) {
        if (de->d_name[0] == '.') continue;
        char p[PATH_MAX + 300];
        snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
        unlink(p);
    }
    closedir(d);
    rmdir(dir);
}

/* OpenBLAS SGEMM's best single-thread rate here, GFLOP/s: the best of 3 square 2048^3
 * products (the peak a ViT's GEMMs are held against). */
static double sgemm_peak(void) {
    const int n = 2048;
    float *a = malloc((size_t)n * n * sizeof *a), *b = malloc((size_t)n * n * sizeof *b),
          *c = malloc((size_t)n * n * sizeof *c);
    double best = 0;
    if (a && b && c) {
        for (size_t i = 0; i < (size_t)n * n; i++) a[i] = (float)(i % 7) * 0.1f, b[i] = (float)(i % 5) * 0.1f;
        for (int r = 0; r < 3; r++) {
            double t0 = bench_now();
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
            double g = 2.0 * n * n * n / (bench_now() - t0) * 1e-9;
            best = g > best ? g : best;
        }
    }
    free(a), free(b), free(c);
    return best;
}

/* The manifest of a CLIP archive run as a global concept model, in dir. */
static int write_clip_folder(const char *dir, const char *pt, const char *vocab, int side, int D, err *e) {
    char p[PATH_MAX + 32];
    snprintf(p, sizeof p, "%s/model.pt", dir);
    if (bx_copy_file(pt, p)) return err_set(e, ERR_IO, "cannot copy %s", pt);
    snprintf(p, sizeof p, "%s/bpe_simple_vocab_16e6.txt.gz", dir);
    if (bx_copy_file(vocab, p)) return err_set(e, ERR_IO, "cannot copy %s", vocab);
    snprintf(p, sizeof p, "%s/manifest.json", dir);
    FILE *f = fopen(p, "w");
    if (!f) return err_set(e, ERR_IO, "cannot write %s", p);
    fprintf(f,
            "{\"format\": \"inficond-model/1\", \"name\": \"bench clip\", \"kind\": \"concept\", \"encoder\": "
            "\"global\", \"file\": \"model.pt\",\n"
            " \"input\": {\"channels\": 3, \"height\": %d, \"width\": %d,\n"
            "   \"mean\": [0.48145466, 0.4578275, 0.40821073], \"std\": [0.26862954, 0.26130258, 0.27577711]},\n"
            " \"methods\": {\"image\": \"encode_image\", \"text\": \"encode_text\"},\n"
            " \"embedding_dim\": %d,\n"
            " \"tokenizer\": {\"type\": \"clip-bpe\", \"vocab\": \"bpe_simple_vocab_16e6.txt.gz\", "
            "\"context_length\": 77}}\n",
            side, side, D);
    return fclose(f) ? err_set(e, ERR_IO, "cannot write %s", p) : 0;
}

/* The embedding size of a CLIP archive: its text method on one SOT/EOT row. */
static int clip_dim(const char *pt, err *e) {
    char eb[320];
    shim_model *m = shim_model_load(pt, SHIM_PATCH_DETECT, eb, sizeof eb);
    if (!m) return err_set(e, ERR_TORCH, "%s: %s", pt, eb), -1;
    int64_t tok[77] = {49406, 49407};
    shim_input in = {.dtype = SHIM_INT64, .ndim = 2, .shape = {1, 77}, .data = tok, .count = 77};
    shim_output out = {0};
    int D = -1;
    if (shim_model_run(m, "encode_text", &in, 1, &out, eb, sizeof eb)) err_set(e, ERR_TORCH, "encode_text: %s", eb);
    else if (out.ndim == 2) D = (int)out.shape[1];
    else err_set(e, ERR_UNPROCESSABLE, "encode_text: not (1, D)");
    shim_free_output(&out);
    shim_model_free(m);
    return D;
}

int bench_extract(int argc, char **argv) {
    const char *images = NULL, *model_arg = NULL, *python = "/usr/bin/python3", *peer = "bench/extract_peer.py";
    const char *words_arg = NULL, *corpus = NULL, *vocab = "../shared/clip/bpe_simple_vocab_16e6.txt.gz";
    int batch = 0, n = 512, warmup = 2, runs = 3, side = 64, compare_global = 0, global_runs = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            bench_extract_usage(stdout);
            return 0;
        } else if (!strcmp(a, "--images") && v) images = v, i++;
        else if (!strcmp(a, "--model") && v) model_arg = v, i++;
        else if (!strcmp(a, "--batch") && v) batch = atoi(v), i++;
        else if (!strcmp(a, "--n") && v) n = atoi(v), i++;
        else if (!strcmp(a, "--warmup") && v) warmup = atoi(v), i++;
        else if (!strcmp(a, "--runs") && v) runs = atoi(v), i++;
        else if (!strcmp(a, "--side") && v) side = atoi(v), i++;
        else if (!strcmp(a, "--words") && v) words_arg = v, i++;
        else if (!strcmp(a, "--corpus") && v) corpus = v, i++;
        else if (!strcmp(a, "--vocab") && v) vocab = v, i++;
        else if (!strcmp(a, "--python") && v) python = v, i++;
        else if (!strcmp(a, "--peer") && v) peer = v, i++;
        else if (!strcmp(a, "--compare-global")) compare_global = 1;
        else if (!strcmp(a, "--global-runs") && v) global_runs = atoi(v), i++;
        else {
            bench_extract_usage(stderr);
            return 2;
        }
    }
    if (!images || !model_arg || batch < 0 || batch > 1024 || n < 1 || warmup < 0 || runs < 1 ||
        runs > BX_MAX_RUNS || global_runs < 1 || global_runs > BX_MAX_RUNS || side < 8 || side > 1024 || (words_arg && corpus)) {
        bench_extract_usage(stderr);
        return 2;
    }
    shim_set_threads(1);
    err e = {0};
    int rc = 1;
    bx_list files = {0}, words = {0};
    char tmpdir[] = "/tmp/inficond-bench-extract.XXXXXX", model_buf[PATH_MAX], list[PATH_MAX], tokens[PATH_MAX];
    model_manifest mf = {0}, gmf = {0};
    shim_model *model = NULL, *gmodel = NULL;
    extraction_encoder enc = {0}, genc = {0};
    char twin[PATH_MAX] = "";
    int64_t *ids = NULL;
    float *concepts = NULL;
    int made_model = 0;
    if (!mkdtemp(tmpdir)) {
        fprintf(stderr, "bench extract: mkdtemp: %s\n", strerror(errno));
        return 1;
    }
    snprintf(list, sizeof list, "%s/files.txt", tmpdir);
    snprintf(tokens, sizeof tokens, "%s/tokens.bin", tmpdir);
    snprintf(model_buf, sizeof model_buf, "%s/model", tmpdir);

    bx_walk_jpegs(images, 0, &files);
    if (files.len == 0) {
        fprintf(stderr, "bench extract: no .jpg files under %s\n", images);
        goto out;
    }
    qsort(files.v, (size_t)files.len, sizeof *files.v, bx_cmp_str);
    if (files.len > n) {
        for (int i = n; i < files.len; i++) free(files.v[i]);
        files.len = n;
    }
    n = files.len;

    const char *model_dir = model_arg;
    struct stat sb;
    if (!stat(model_arg, &sb) && S_ISREG(sb.st_mode)) { /* a CLIP archive */
        int D = clip_dim(model_arg, &e);
        mkdir(model_buf, 0755);
        made_model = 1;
        if (D < 1 || write_clip_folder(model_buf, model_arg, vocab, side, D, &e)) goto fail;
        model_dir = model_buf;
    }
    /* Loaded as the job loads it (model_registry_acquire): no probe batch first. */
    if (model_manifest_load(model_dir, &mf, &e) || !(model = model_check_load(&mf, &e))) goto fail;
    if (mf.kind != MODEL_KIND_CONCEPT) {
        err_set(&e, ERR_BAD_REQUEST, "%s is not a concept model", model_dir);
        goto fail;
    }
    if (bx_gather_words(&mf, words_arg, corpus, &words, &e) || !(ids = bx_tokenize(&mf, &words, &e)) ||
        !(concepts = bx_embed(&mf, model, ids, words.len, &e)))
        goto fail;
    const int d = words.len;
    FILE *tf = fopen(tokens, "wb");
    if (!tf || fwrite(ids, sizeof *ids, (size_t)d * mf.context_length, tf) != (size_t)d * mf.context_length) {
        if (tf) fclose(tf);
        err_set(&e, ERR_IO, "cannot write %s", tokens);
        goto fail;
    }
    fclose(tf);
    FILE *lf = fopen(list, "w");
    for (int i = 0; lf && i < n; i++) fprintf(lf, "%s\n", files.v[i]);
    if (lf) fclose(lf);

    if (extraction_encoder_init(&enc, &mf, model, mf.embedding_dim, &e)) goto fail;
    /* --batch: a bigger or smaller input buffer than the job's */
    if (batch && batch != enc.batch && extraction_encoder_set_batch(&enc, batch, &e)) goto fail;
    batch = enc.batch;
    const int global = mf.encoder == MODEL_ENCODER_GLOBAL;

    /* The encoder's arithmetic, when it is a CLIP ViT (dense mode, or an archive run on
     * crops): FLOPs per image, for its GFLOP/s against SGEMM's peak. */
    shim_clip_vit_info vi;
    char eb[320];
    double flops = 0;
    if (shim_model_dense_clip_info(model, &vi)) flops = shim_clip_vit_flops(&vi, mf.height, mf.width, mf.dense_method);
    else if (global && !shim_clip_vit_info_of(model, 0, &vi, eb, sizeof eb))
        flops = SEGMENTS_GLOBAL_COUNT * shim_clip_vit_flops(&vi, mf.height, mf.width, "plain");
    double peak = sgemm_peak();

    double c_s[BX_MAX_RUNS], py_s[BX_MAX_RUNS], c_dec[BX_MAX_RUNS], c_enc[BX_MAX_RUNS], c_pres[BX_MAX_RUNS],
        py_enc[BX_MAX_RUNS], c_prep[BX_MAX_RUNS], c_cpu[BX_MAX_RUNS], py_cpu[BX_MAX_RUNS], round_ratio[BX_MAX_RUNS],
        c_encoder[BX_MAX_RUNS], c_encoder_cpu[BX_MAX_RUNS], py_enc_cpu[BX_MAX_RUNS];
    bx_times t = {0};
    bx_py py = {0};
    size_t segs = 0;
    for (int r = 0; r < runs; r++) {
        if (c_run(&enc, files.v, n, warmup, concepts, d, 1, &t, &e)) goto fail;
        c_s[r] = t.total, c_cpu[r] = t.cpu, c_dec[r] = t.decode, c_enc[r] = t.encode, c_pres[r] = t.presence, c_prep[r] = t.prep;
        c_encoder[r] = t.encoder, c_encoder_cpu[r] = t.encoder_cpu, segs = t.segments;
        if (py_run(python, peer, model_dir, list, batch, warmup, tokens, &py)) goto out;
        py_s[r] = py.seconds, py_cpu[r] = py.cpu, py_enc[r] = py.encode, py_enc_cpu[r] = py.encode_cpu;
        round_ratio[r] = py_s[r] / c_s[r];
        fprintf(stderr, "bench extract: round %d of %d: C %.4g, Python %.4g images/s (%.3gx); CPU time %.4g, %.4g\n",
                r + 1, runs, n / c_s[r], n / py_s[r], round_ratio[r], n / c_cpu[r], py_cpu[r] > 0 ? n / py_cpu[r] : 0.0);
    }
    peak = fmax(peak, sgemm_peak());

    /* The same archive on 14 crops per image (C only), in the same run. */
    double g_s[BX_MAX_RUNS], g_enc[BX_MAX_RUNS];
    int compared = 0;
    if (compare_global) {
        snprintf(twin, sizeof twin, "%s/global", tmpdir);
        if (mkdir(twin, 0755) || write_global_twin(twin, &mf, &e) || model_manifest_load(twin, &gmf, &e) ||
            !(gmodel = model_check_load(&gmf, &e)) || extraction_encoder_init(&genc, &gmf, gmodel, gmf.embedding_dim, &e))
            goto fail;
        for (int r = 0; r < global_runs; r++) {
            bx_times gt;
            if (c_run(&genc, files.v, n, warmup, concepts, d, 0, &gt, &e)) goto fail;
            g_s[r] = gt.total, g_enc[r] = gt.encode;
            fprintf(stderr, "bench extract: round %d of %d: the same archive on 14 crops, C %.4g images/s\n", r + 1,
                    global_runs, n / g_s[r]);
        }
        compared = 1;
    }

    const double c_ips = n / bench_median(c_s, runs), py_ips = n / bench_median(py_s, runs);
    const double c_cpu_ips = n / bench_median(c_cpu, runs), py_cpu_m = bench_median(py_cpu, runs);
    const double py_cpu_ips = py_cpu_m > 0 ? n / py_cpu_m : 0.0, rr = bench_median(round_ratio, runs);
    const double enc_s = bench_median(c_encoder, runs), gflops = flops > 0 ? flops * n / enc_s * 1e-9 : 0;
    const double py_gflops = flops > 0 ? flops * n / bench_median(py_enc, runs) * 1e-9 : 0;
    /* per CPU second: what the encoder gets done while it runs, whatever else the machine does */
    const double gflops_cpu = flops > 0 ? flops * n / bench_median(c_encoder_cpu, runs) * 1e-9 : 0;
    const double py_gflops_cpu = flops > 0 && py.encode_cpu > 0 ? flops * n / bench_median(py_enc_cpu, runs) * 1e-9 : 0;
    const double g_ips = compared ? n / bench_median(g_s, global_runs) : 0;
    double g_flops = 0;
    if (compared && !shim_clip_vit_info_of(gmodel, mf.dense_heads, &vi, eb, sizeof eb))
        g_flops = SEGMENTS_GLOBAL_COUNT * shim_clip_vit_flops(&vi, mf.height, mf.width, "plain") * n /
                  bench_median(g_enc, global_runs) * 1e-9;

    /* Both sides must have done the same work: the image method's outputs summed over
     * every image (crop, location) agree to BX_ENCODER_TOL of their absolute sum; a
     * global model's presence sums (max over the same crops) to BX_PRESENCE_TOL. */
    const double enc_gap = fmax(fabs(t.enc_abs - py.enc_abs), fabs(t.enc_sum - py.enc_sum)) / fmax(t.enc_abs, 1e-30);
    const double pres_gap = fabs(t.checksum - py.checksum) / fmax(fabs(t.checksum), 1.0);
    const int same = enc_gap <= BX_ENCODER_TOL && (!global || pres_gap <= BX_PRESENCE_TOL);

    printf("extract %s: %s encoder%s, %dx%dx%d input, D %d, %d concepts, batch %d%s, %d images, 1 thread, torch %s\n",
           model_dir == model_buf ? model_arg : model_dir, model_encoder_name(mf.encoder),
           mf.dense_from == MODEL_DENSE_CLIP_VIT ? (strcmp(mf.dense_method, "naclip") ? " (CLIP ViT, MaskCLIP)" : " (CLIP ViT, NACLIP)") : "",
           mf.channels, mf.height, mf.width, mf.embedding_dim, d, batch, global ? " (x14 crops)" : "", n, shim_torch_version());
    printf("  %-46s %10s %12s\n", "path (median of runs)", "images/s", "ms/image");
    printf("  %-46s %10.4g %12.4g\n", global ? "C (jpeg_io, 14 crops, shim, presence)" : "C (jpeg_io, shim, segments, presence)",
           c_ips, 1e3 / c_ips);
    printf("  %-46s %10s %12.4g\n", "  of which read + JPEG decode", "", 1e3 * bench_median(c_dec, runs) / n);
    printf("  %-46s %10s %12.4g\n",
           global ? "  of which crops + normalise + encode" : "  of which preprocess + encode + segments_dense", "",
           1e3 * bench_median(c_enc, runs) / n);
    printf("  %-46s %10s %12.4g\n", "  of which presence_run (SGEMM, galleries)", "", 1e3 * bench_median(c_pres, runs) / n);
    printf("  %-46s %10s %12.4g\n", global ? "    (crops + normalise alone, timed apart)" : "    (preprocess alone, timed apart)", "",
           1e3 * bench_median(c_prep, runs) / n);
    printf("  %-46s %10s %12.4g\n", "    (the image method alone, timed apart)", "", 1e3 * enc_s / n);
    printf("  %-46s %10.4g %12.4g\n", global ? "Python (PIL, 14 crops, torch, max cos)" : "Python (PIL, torch, max cos/location)",
           py_ips, 1e3 / py_ips);
    printf("  %-46s %10s %12.4g\n", "  of which the image method", "", 1e3 * bench_median(py_enc, runs) / n);
    printf("  %-46s %10.4g %12.4g\n", "C, per CPU second (process CPU time)", c_cpu_ips, 1e3 / c_cpu_ips);
    printf("  %-46s %10.4g %12.4g\n", "Python, per CPU second", py_cpu_ips, py_cpu_ips > 0 ? 1e3 / py_cpu_ips : 0.0);
    if (compared)
        printf("  %-46s %10.4g %12.4g\n", "C, the same archive on 14 crops (global)", g_ips, 1e3 / g_ips);
    printf("  ratio C/Python %.3gx (median of rounds %.3gx, CPU time %.3gx); %zu segments (%.2f per image)\n",
           c_ips / py_ips, rr, py_cpu_ips > 0 ? c_cpu_ips / py_cpu_ips : 0.0, segs, (double)segs / n);
    if (compared) printf("  dense vs the same archive on 14 crops: %.3gx images/s\n", c_ips / g_ips);
    if (flops > 0) {
        printf("  encoder %.4g GFLOP/image: C %.4g GFLOP/s, Python %.4g GFLOP/s; SGEMM peak %.4g GFLOP/s (C at %.0f%%)\n"
               "  per CPU second: C %.4g GFLOP/s (%.0f%% of peak), Python %.4g GFLOP/s\n",
               flops * 1e-9, gflops, py_gflops, peak, 100 * gflops / peak, gflops_cpu, 100 * gflops_cpu / peak,
               py_gflops_cpu);
        if (g_flops > 0) printf("  the 14-crop path's encoder (with its crops): %.4g GFLOP/s (%.0f%% of peak)\n", g_flops, 100 * g_flops / peak);
    }
    printf("  encoder checksums C %.9g (|x| %.9g), Python %.9g (|x| %.9g): relative gap %.2g (tolerance %.0e)\n",
           t.enc_sum, t.enc_abs, py.enc_sum, py.enc_abs, enc_gap, BX_ENCODER_TOL);
    printf("  presence checksums C %.6f, Python %.6f%s\n", t.checksum, py.checksum,
           global ? "" : " (dense: C takes the max over segments, Python over locations: not compared)");
    if (global) printf("  presence gap %.2g (tolerance %.0e)\n", pres_gap, BX_PRESENCE_TOL);
    if (!same) fprintf(stderr, "bench extract: checksum mismatch: C and Python did not compute the same thing\n");
    printf("{\"bench\":\"extract\",\"encoder\":\"%s\",\"dense_from\":\"%s\",\"c_images_per_s\":%.4g,"
           "\"python_images_per_s\":%.4g,\"ratio\":%.4g,\"round_ratio_median\":%.4g,\"c_cpu_images_per_s\":%.4g,"
           "\"python_cpu_images_per_s\":%.4g,\"cpu_ratio\":%.4g,\"batch\":%d,\"n\":%d,\"concepts\":%d,\"runs\":%d,"
           "\"segments_per_image\":%.3f,\"encoder_gflop_per_image\":%.4g,\"c_encoder_gflops\":%.4g,"
           "\"python_encoder_gflops\":%.4g,\"c_encoder_gflops_cpu\":%.4g,\"python_encoder_gflops_cpu\":%.4g,"
           "\"sgemm_peak_gflops\":%.4g,\"fraction_of_peak\":%.3f,"
           "\"global_images_per_s\":%.4g,\"dense_vs_global\":%.4g,\"global_encoder_gflops\":%.4g,"
           "\"c_checksum\":%.6f,\"python_checksum\":%.6f,\"c_encoder_checksum\":%.9g,\"python_encoder_checksum\":%.9g,"
           "\"encoder_checksum_gap\":%.3g,\"checksums_agree\":%s}\n",
           model_encoder_name(mf.encoder), mf.dense_from == MODEL_DENSE_CLIP_VIT ? "clip-vit" : "native", c_ips, py_ips,
           c_ips / py_ips, rr, c_cpu_ips, py_cpu_ips, py_cpu_ips > 0 ? c_cpu_ips / py_cpu_ips : 0.0, batch, n, d, runs,
           (double)segs / n, flops * 1e-9, gflops, py_gflops, gflops_cpu, py_gflops_cpu, peak, peak > 0 ? gflops / peak : 0.0, g_ips,
           compared ? c_ips / g_ips : 0.0, g_flops, t.checksum, py.checksum, t.enc_abs, py.enc_abs, enc_gap,
           same ? "true" : "false");
    rc = same ? 0 : 1;
    goto out;
fail:
    fprintf(stderr, "bench extract: %s\n", e.msg);
out:
    extraction_encoder_free(&enc);
    shim_model_free(model);
    model_manifest_free(&mf);
    extraction_encoder_free(&genc);
    shim_model_free(gmodel);
    model_manifest_free(&gmf);
    if (twin[0]) remove_flat(twin);
    free(concepts);
    free(ids);
    for (int i = 0; i < files.len; i++) free(files.v[i]);
    free(files.v);
    for (int i = 0; i < words.len; i++) free(words.v[i]);
    free(words.v);
    unlink(list);
    unlink(tokens);
    if (made_model) {
        const char *names[] = {"model.pt", "manifest.json", "bpe_simple_vocab_16e6.txt.gz"};
        for (int i = 0; i < 3; i++) {
            char p[PATH_MAX + 40];
            snprintf(p, sizeof p, "%s/%s", model_buf, names[i]);
            unlink(p);
        }
        rmdir(model_buf);
    }
    rmdir(tmpdir);
    return rc;
}
