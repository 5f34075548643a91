/* bench_teacher.c — `inficond bench teacher`: teacher inference throughput, images/s,
 * of the service's own path (read file, jpeg_decode, teacher_preprocess, forward
 * through the shim, softmax — what the teacher.outputs job does per batch) against
 * bench/teacher_peer.py running the same TorchScript file with Debian's python3-torch
 * on the same files and batch size. Both single-threaded, both after the same warm-up
 * batches; each side runs twice, alternating, and its best run counts. Both do the
 * same work: the peer also freezes the module and runs torch.jit.optimize_for_inference
 * on it, as shim_infer_load does (the plain module on both sides is in the table too).
 *
 * Both sides sum every image's class-0 probability (the checksum) and the bench fails
 * (exit 1, both values and the tolerance on stderr) when the C path, optimised or
 * plain, and the peer differ by more than CHECKSUM_REL_TOL. Prints a table, then one
 * JSON line last (also on a mismatch).
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

#include <jansson.h>

#include "bench/bench_util.h"
#include "commands.h"
#include "file_read.h"
#include "dataset/jpeg_io.h"
#include "models/model_check.h"
#include "models/model_registry.h"
#include "demo/scenes.h"
#include "teacher/teacher.h"

/* Relative tolerance on the checksum, a sum of n probabilities (about 0.1 each for the
 * default 10-class teacher). Measured on that teacher and 256 demo scenes: the
 * optimised and plain forwards and the two sides' float32 summation orders differ by
 * less than 1e-6 relative; uniform noise of +-0.5/255 on every input pixel (more than
 * two JPEG decoders' rounding differences) moves it 1.2e-5; a one-pixel shift 6e-4,
 * skipping normalisation 2e-2, swapped colour channels 4e-2. So 1e-4 passes rounding
 * and catches different preprocessing or a different model. */
#define CHECKSUM_REL_TOL 1e-4

static void bench_teacher_usage(FILE *out) {
    fprintf(out,
            "Usage: inficond bench teacher --images FOLDER [--model DIR] [--batch 64] [--n 2000]\n"
            "                              [--make-images] [--warmup 2] [--python /usr/bin/python3]\n"
            "                              [--peer bench/teacher_peer.py]\n\n"
            "Teacher inference images/s including JPEG decode and preprocessing, C (this binary)\n"
            "vs Python (the peer script, python3-torch), one thread each, same files and batch.\n"
            "--model: a teacher folder (default: a fresh `teacher-init` CNN, 3x64x64, 10 classes).\n"
            "--make-images: first fill FOLDER with N demo scenes (64x64 RGB JPEGs) when it holds\n"
            "fewer than N .jpg files. Both sides' checksums (sum of class-0 probabilities) must\n"
            "agree within a relative 1e-4, else exit status 1. Prints a table, then one JSON\n"
            "line last.\n");
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Up to n .jpg paths in FOLDER, sorted. */
static char **list_jpegs(const char *folder, int n, int *count) {
    *count = 0;
    DIR *d = opendir(folder);
    if (!d) return NULL;
    char **v = NULL;
    int len = 0, cap = 0;
    for (struct dirent *de; (de = readdir(d));) {
        size_t L = strlen(de->d_name);
        if (L < 5 || strcasecmp(de->d_name + L - 4, ".jpg")) continue;
        if (len == cap) {
            cap = cap ? 2 * cap : 256;
            char **nv = realloc(v, (size_t)cap * sizeof *v);
            if (!nv) break;
            v = nv;
        }
        size_t need = strlen(folder) + L + 2;
        v[len] = malloc(need);
        snprintf(v[len++], need, "%s/%s", folder, de->d_name);
    }
    closedir(d);
    if (v) qsort(v, (size_t)len, sizeof *v, cmp_str);
    for (int i = n; i < len; i++) free(v[i]);
    *count = len < n ? len : n;
    return v;
}

static int make_images(const char *folder, int n, err *e) {
    scenes_world *w = scenes_open(NULL, e);
    if (!w) return -1;
    scenes_config cfg;
    scenes_config_default(&cfg, 0);
    scene *s = malloc(sizeof *s);
    int rc = s ? 0 : err_set(e, ERR_INTERNAL, "out of memory");
    for (int i = 0; !rc && i < n; i++) {
        if ((rc = scenes_generate(w, &cfg, "test", i, s, e))) break;
        image_rgb img = {.width = SCENES_SIZE, .height = SCENES_SIZE, .pixels = s->pixels};
        uint8_t *jpg = NULL;
        size_t len = 0;
        if ((rc = jpeg_encode(&img, 92, &jpg, &len, e))) break;
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/%06d.jpg", folder, i);
        FILE *f = fopen(path, "wb");
        if (!f || fwrite(jpg, 1, len, f) != len) rc = err_set(e, ERR_IO, "cannot write %s", path);
        if (f) fclose(f);
        free(jpg);
    }
    free(s);
    scenes_close(w);
    return rc;
}

/* Seconds spent in the forward call (the rest of a C run is file read, decode,
 * preprocessing and softmax), for the table. */
static double c_forward_s;

/* One batch through the service's path. Adds column 0 of the probabilities to *checksum. */
static int c_batch(model_ref *m, char **files, int count, float *x, float *scratch, double *checksum, err *e) {
    const model_manifest *mf = &m->mf;
    size_t per = (size_t)mf->channels * mf->height * mf->width;
    for (int i = 0; i < count; i++) {
        size_t len;
        uint8_t *b = (uint8_t *)file_read_all(files[i], BENCH_FILE_MAX, &len, e);
        if (!b) return -1;
        image_rgb img;
        int rc = jpeg_decode(b, len, &img, e);
        free(b);
        if (rc) return -1;
        rc = teacher_preprocess(mf, &img, x + (size_t)i * per, scratch, e);
        image_free(&img);
        if (rc) return -1;
    }
    shim_input in = {.dtype = SHIM_FLOAT32, .ndim = 4, .shape = {count, mf->channels, mf->height, mf->width},
                     .data = x, .count = per * (size_t)count};
    shim_output out = {0};
    char eb[320];
    double t0 = bench_now();
    if (m->fast ? shim_infer_run(m->fast, &in, &out, eb, sizeof eb)
                : shim_model_run(m->model, mf->method_forward, &in, 1, &out, eb, sizeof eb))
        return err_set(e, ERR_TORCH, "forward: %s", eb);
    c_forward_s += bench_now() - t0;
    size_t c = (size_t)out.shape[1];
    teacher_softmax_rows(out.data, (size_t)count, c); // (B, C)
    for (int i = 0; i < count; i++) *checksum += out.data[(size_t)i * c];
    shim_free_output(&out);
    return 0;
}

static double c_run(model_ref *m, char **files, int n, int batch, int warmup, double *checksum, err *e) {
    size_t per = (size_t)m->mf.channels * m->mf.height * m->mf.width;
    float *x = malloc(per * (size_t)batch * sizeof(float)); // (B, C, H, W)
    float *scratch = malloc(3 * (size_t)m->mf.height * m->mf.width * sizeof(float));
    double dt = -1, ignored = 0;
    if (!x || !scratch) goto done;
    for (int w = 0, at = 0; w < warmup && at < n; w++, at += batch)
        if (c_batch(m, files + at, n - at < batch ? n - at : batch, x, scratch, &ignored, e)) goto done;
    *checksum = 0;
    c_forward_s = 0;
    double t0 = bench_now();
    for (int at = 0; at < n; at += batch)
        if (c_batch(m, files + at, n - at < batch ? n - at : batch, x, scratch, checksum, e)) goto done;
    dt = bench_now() - t0;
done:
    free(x);
    free(scratch);
    return dt;
}

/* Run the peer (mode "optimized" or "plain"); returns its seconds, or -1 (message on
 * stderr). *optimized: whether it ran the optimised module. */
static double py_run(const char *python, const char *peer, const char *model_dir, const char *list, int batch,
                     int warmup, const char *mode, double *checksum, int *optimized) {
    char cmd[3 * PATH_MAX];
    snprintf(cmd, sizeof cmd, "OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 '%s' '%s' '%s' '%s' %d %d %s", python, peer,
             model_dir, list, batch, warmup, mode);
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    char line[4096], last[4096] = "";
    while (fgets(line, sizeof line, p)) snprintf(last, sizeof last, "%s", line);
    int st = pclose(p);
    json_t *j = json_loads(last, 0, NULL);
    double s = st == 0 && j ? json_number_value(json_object_get(j, "seconds")) : -1;
    if (j) *checksum = json_number_value(json_object_get(j, "checksum"));
    if (j && optimized) *optimized = json_is_true(json_object_get(j, "optimized"));
    json_decref(j);
    if (s <= 0) fprintf(stderr, "bench teacher: the Python peer failed (exit %d): %s\n", st, last);
    return s > 0 ? s : -1;
}

int bench_teacher(int argc, char **argv) {
    const char *images = NULL, *model_dir = NULL, *python = "/usr/bin/python3", *peer = "bench/teacher_peer.py";
    int batch = TEACHER_BATCH, n = 2000, warmup = 2, make = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            bench_teacher_usage(stdout);
            return 0;
        } else if (!strcmp(a, "--images") && v) images = v, i++;
        else if (!strcmp(a, "--model") && v) model_dir = v, i++;
        else if (!strcmp(a, "--batch") && v) batch = atoi(v), i++;
        else if (!strcmp(a, "--n") && v) n = atoi(v), i++;
        else if (!strcmp(a, "--warmup") && v) warmup = atoi(v), i++;
        else if (!strcmp(a, "--python") && v) python = v, i++;
        else if (!strcmp(a, "--peer") && v) peer = v, i++;
        else if (!strcmp(a, "--make-images")) make = 1;
        else {
            bench_teacher_usage(stderr);
            return 2;
        }
    }
    if (!images || batch < 1 || batch > 4096 || n < 1) {
        bench_teacher_usage(stderr);
        return 2;
    }
    shim_set_threads(1);
    err e = {0};
    int count = 0;
    char **files = NULL;
    if (make) {
        mkdir(images, 0755);
        files = list_jpegs(images, n, &count);
        if (count < n) {
            for (int i = 0; i < count; i++) free(files[i]);
            free(files);
            fprintf(stderr, "bench teacher: writing %d demo scenes to %s\n", n, images);
            if (make_images(images, n, &e)) {
                fprintf(stderr, "bench teacher: %s\n", e.msg);
                return 1;
            }
            files = list_jpegs(images, n, &count);
        }
    } else {
        files = list_jpegs(images, n, &count);
    }
    if (count == 0) {
        fprintf(stderr, "bench teacher: no .jpg files in %s\n", images);
        return 1;
    }
    n = count;

    char tmpdir[] = "/tmp/inficond-bench-teacher.XXXXXX";
    if (!mkdtemp(tmpdir)) {
        fprintf(stderr, "bench teacher: mkdtemp: %s\n", strerror(errno));
        return 1;
    }
    char model_buf[PATH_MAX], list[PATH_MAX];
    if (!model_dir) {
        snprintf(model_buf, sizeof model_buf, "%s/teacher", tmpdir);
        mkdir(model_buf, 0755);
        char cls[] = "c0,c1,c2,c3,c4,c5,c6,c7,c8,c9";
        char *args[] = {"teacher-init", model_buf, "--classes", cls, "--size", "64", NULL};
        FILE *saved = stdout;
        stdout = fopen("/dev/null", "w");
        int rc = cmd_teacher_init(6, args);
        fclose(stdout);
        stdout = saved;
        if (rc) return 1;
        model_dir = model_buf;
    }
    snprintf(list, sizeof list, "%s/files.txt", tmpdir);
    FILE *lf = fopen(list, "w");
    for (int i = 0; lf && i < n; i++) fprintf(lf, "%s\n", files[i]);
    if (lf) fclose(lf);

    model_ref m = {0};
    /* Loaded as the job loads it (model_registry_acquire): no probe batch first, whose
     * other batch size would steer the profiling executor's first specialisation. */
    if (model_manifest_load(model_dir, &m.mf, &e) || !(m.model = model_check_load(&m.mf, &e))) {
        fprintf(stderr, "bench teacher: %s\n", e.msg);
        return 1;
    }
    /* The job's path: the forward optimised at load (shim_infer.h), as the registry
     * does for teachers; the plain shim run is measured too, for the table. */
    char eb[320];
    shim_infer *fast = shim_infer_load(m.mf.file_path, m.mf.method_forward, eb, sizeof eb);
    if (!fast) fprintf(stderr, "bench teacher: not optimised (%s)\n", eb);
    double c_best = 1e30, py_best = 1e30, c_fwd = 0, plain_best = 1e30, plain_fwd = 0;
    double c_sum = 0, plain_sum = 0, py_sum = 0, py_plain_sum = 0, py_plain = -1; /* checksums, seconds */
    int py_optimized = 0, rc = 1;
    for (int round = 0; round < 2; round++) {
        m.fast = NULL;
        double t = c_run(&m, files, n, batch, warmup, &plain_sum, &e);
        if (t > 0 && t < plain_best) plain_best = t, plain_fwd = c_forward_s;
        m.fast = fast;
        if (t > 0) t = c_run(&m, files, n, batch, warmup, &c_sum, &e);
        if (t < 0) {
            fprintf(stderr, "bench teacher: %s\n", e.msg);
            goto done;
        }
        if (t < c_best) c_best = t, c_fwd = c_forward_s;
        t = py_run(python, peer, model_dir, list, batch, warmup, "optimized", &py_sum, &py_optimized);
        if (t < 0) goto done;
        if (t < py_best) py_best = t;
    }
    /* Once, for the table: the peer on the module as loaded (what it used to run). */
    py_plain = py_run(python, peer, model_dir, list, batch, warmup, "plain", &py_plain_sum, NULL);
    if (py_plain < 0) goto done;

    /* Every path computes the same function: the largest difference to the peer's
     * optimised checksum, relative to it. */
    double ref = fabs(py_sum) > 0 ? fabs(py_sum) : 1.0;
    double rel = fmax(fabs(c_sum - py_sum), fmax(fabs(plain_sum - py_sum), fabs(py_plain_sum - py_sum))) / ref;
    int match = rel <= CHECKSUM_REL_TOL; /* false for a NaN too */
    double c_ips = n / c_best, py_ips = n / py_best;
    printf("teacher %s: %dx%dx%d input, %zu classes, batch %d, %d images, 1 thread, torch %s\n", model_dir,
           m.mf.channels, m.mf.height, m.mf.width, m.mf.n_classes, batch, n, shim_torch_version());
    printf("  %-36s %10s %12s %16s\n", "path", "images/s", "ms/image", "checksum");
    printf("  %-36s %10.1f %12.3f %16.7f\n", fast ? "C (jpeg_io + optimised forward)" : "C (jpeg_io + shim)", c_ips,
           1e3 / c_ips, c_sum);
    printf("  %-36s %10.1f %12.3f %16.7f\n",
           py_optimized ? "Python (PIL + frozen, optimised)" : "Python (PIL + python3-torch)", py_ips, 1e3 / py_ips,
           py_sum);
    printf("  %-36s %10s %12.3f\n", "  of which C forward", "", 1e3 * c_fwd / n);
    printf("  %-36s %10.1f %12.3f %16.7f  (forward %.3f)\n", "C, plain shim_model_run", n / plain_best,
           1e3 * plain_best / n, plain_sum, 1e3 * plain_fwd / n);
    printf("  %-36s %10.1f %12.3f %16.7f\n", "Python, plain module", n / py_plain, 1e3 * py_plain / n, py_plain_sum);
    printf("  ratio C/Python %.2fx (plain modules: %.2fx); checksums (sum of class-0 probabilities) agree to %.2g "
           "relative (tolerance %.0e)\n",
           c_ips / py_ips, py_plain / plain_best, rel, CHECKSUM_REL_TOL);
    fflush(stdout);
    if (!match)
        fprintf(stderr,
                "bench teacher: checksums differ beyond the tolerance: C %.9g (plain %.9g) vs Python %.9g (plain "
                "%.9g): largest relative difference %.3g > %.0e\n",
                c_sum, plain_sum, py_sum, py_plain_sum, rel, CHECKSUM_REL_TOL);
    printf("{\"bench\":\"teacher\",\"c_images_per_s\":%.1f,\"python_images_per_s\":%.1f,\"ratio\":%.3f,"
           "\"c_plain_images_per_s\":%.1f,\"python_plain_images_per_s\":%.1f,\"ratio_plain\":%.3f,"
           "\"optimized\":%s,\"python_optimized\":%s,\"checksum_c\":%.9g,\"checksum_c_plain\":%.9g,"
           "\"checksum_python\":%.9g,\"checksum_python_plain\":%.9g,\"checksum_rel_diff\":%.3g,"
           "\"checksum_tolerance\":%g,\"checksums_match\":%s,\"batch\":%d,\"n\":%d}\n",
           c_ips, py_ips, c_ips / py_ips, n / plain_best, n / py_plain, py_plain / plain_best, fast ? "true" : "false",
           py_optimized ? "true" : "false", c_sum, plain_sum, py_sum, py_plain_sum, isfinite(rel) ? rel : -1.0,
           CHECKSUM_REL_TOL, match ? "true" : "false", batch, n);
    rc = match ? 0 : 1;
done:
    shim_infer_free(fast);
    shim_model_free(m.model);
    model_manifest_free(&m.mf);
    for (int i = 0; i < n; i++) free(files[i]);
    free(files);
    unlink(list);
    if (model_dir == model_buf) {
        char p[PATH_MAX + 16];
        snprintf(p, sizeof p, "%s/model.pt", model_buf), unlink(p);
        snprintf(p, sizeof p, "%s/manifest.json", model_buf), unlink(p);
        rmdir(model_buf);
    }
    rmdir(tmpdir);
    return rc;
}
