/* demo_job.c — the "demo.build" job and the serve start-up hook that queues it.
 *
 * Steps and their share of the progress bar: the world itself (demo_world_build,
 * 0-70%), the scenes imported as dataset "demo" with dataset_import_run (70-80%),
 * both model folders registered with model_registry_register (80-85%), the teacher's
 * outputs on the dataset (85-95%: the same loading, preprocessing, softmax and
 * storing helpers the "teacher.outputs" job uses, run here so the bar keeps moving
 * forward and a single worker cannot deadlock waiting on a second job), then the
 * corpus, the concept extraction (queued as its own "concepts.extract" job; the
 * project reports its readiness) and the project row. Every step looks for what an
 * earlier attempt finished first, so a crashed build resumes where it stopped.
 */
#include "demo/demo_job.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "blobstore.h"
#include "concepts/class_name_filter.h"
#include "concepts/concepts.h"
#include "concepts/corpus.h"
#include "dataset/dataset_import.h"
#include "dataset/dataset_store.h"
#include "db_json.h"
#include "demo/demo_world.h"
#include "extraction/extraction_job.h"
#include "extraction/extraction_store.h"
#include "file_read.h"
#include "log.h"
#include "models/model_registry.h"
#include "demo/scenes.h"
#include "projects/project_store.h"
#include "teacher/teacher.h"
#include "teacher/teacher_store.h"

#define DEMO_CORPUS_FILE_MAX ((size_t)1 << 20)

/* A slice [lo, hi] of the job's progress bar. */
typedef struct span {
    job_ctx *ctx;
    double lo, hi;
} span;

static int world_progress(void *ud, double frac, const char *msg) {
    span *s = ud;
    err e = {0};
    return job_progress(s->ctx, s->lo + (s->hi - s->lo) * frac, &e, "building the world: %s", msg) ? 1 : 0;
}

static int import_progress(void *arg, double frac, const char *msg, err *e) {
    span *s = arg;
    return job_progress(s->ctx, s->lo + (s->hi - s->lo) * frac, e, "importing the scenes: %s", msg);
}

static int file_exists(const char *dir, const char *name) {
    char p[PATH_MAX + 64];
    struct stat st;
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

static void id_text(char *buf, size_t cap, int64_t id) { snprintf(buf, cap, "%lld", (long long)id); }

/* ---- step 1: the world ---------------------------------------------------- */

/* Reuse <out>/report.json when the models are there too (the report is written
 * last, so its presence means the build finished), else build. */
static json_t *world_step(job_ctx *ctx, const char *out, int small, uint64_t seed, int *reused, err *e) {
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/report.json", out);
    *reused = 0;
    if (file_exists(out, "teacher/model.pt") && file_exists(out, "concepts/model.pt") &&
        file_exists(out, "scenes/scenes.jsonl")) {
        json_t *r = json_load_file(path, 0, NULL);
        if (json_is_object(r)) {
            *reused = 1;
            return r;
        }
        json_decref(r);
    }
    if (mkdir(out, 0755) && errno != EEXIST)
        return err_set(e, ERR_IO, "cannot create %s: %s", out, strerror(errno)), NULL;
    demo_world_opts opts = {.small = small, .seed = seed, .out_dir = out};
    span s = {ctx, 0.0, 0.70};
    json_t *report = NULL;
    if (demo_world_build(&opts, world_progress, &s, &report, e)) {
        if (e->code != ERR_CANCELLED && job_should_stop(ctx)) e->code = ERR_CANCELLED;
        return NULL;
    }
    return report;
}

/* ---- step 2: the dataset --------------------------------------------------- */

static int64_t dataset_step(job_ctx *ctx, const char *out, const json_t *report, int *reused, err *e) {
    app *a = job_app(ctx);
    json_t *sc = json_object_get(report, "scenes");
    long expect = 0;
    const char *k;
    json_t *v;
    json_object_foreach(sc, k, v) expect += (long)json_integer_value(v);
    char desc[256];
    snprintf(desc, sizeof desc, "The built-in demo world (scale %s, seed %lld): Fashion-MNIST items composed on backgrounds",
             json_string_value(json_object_get(report, "scale")),
             (long long)json_integer_value(json_object_get(report, "seed")));
    int64_t id = dataset_store_find_or_create(a, DEMO_DATASET_NAME, desc, e);
    if (id < 0) return -1;
    long have = dataset_store_image_count(a, id, e);
    if (have < 0) return -1;
    *reused = have == expect && expect > 0;
    if (!*reused) {
        /* The same import a user's folder goes through; classes fixed in label order. */
        char path[PATH_MAX + 16];
        snprintf(path, sizeof path, "%s/scenes", out);
        json_t *classes = json_array();
        for (int c = 0; c < SCENES_CLASSES; c++) json_array_append_new(classes, json_string(scenes_class_dir(c)));
        json_t *params = json_pack("{s:I,s:s,s:s,s:o}", "dataset_id", (json_int_t)id, "source", "folder", "path",
                                   path, "classes", classes);
        json_t *res = NULL;
        span s = {ctx, 0.70, 0.80};
        int rc = dataset_import_check(params, e);
        if (!rc) rc = dataset_import_run(a, params, import_progress, &s, &res, e);
        json_decref(params);
        json_decref(res);
        if (rc) return -1;
        if ((have = dataset_store_image_count(a, id, e)) < 0) return -1;
    }
    if (have != expect)
        return err_set(e, ERR_CONFLICT,
                       "dataset '%s' holds %ld images but this demo world has %ld: it holds other images"
                       " (delete it and run the demo again)",
                       DEMO_DATASET_NAME, have, expect),
               -1;
    return id;
}

/* ---- step 3: the models ---------------------------------------------------- */

static int64_t model_step(app *a, const char *name, const char *dir, const char *kind, int *reused, err *e) {
    const char *p[] = {name};
    for (int tries = 0; tries < 2; tries++) {
        json_t *row = db_json(a, "none", "SELECT json_build_object('id', id, 'kind', kind)::text FROM models WHERE name = $1",
                              1, p, e);
        if (row) {
            int64_t id = (int64_t)json_integer_value(json_object_get(row, "id"));
            const char *have = json_string_value(json_object_get(row, "kind"));
            int same = have && !strcmp(kind, have);
            json_decref(row);
            if (!same)
                return err_set(e, ERR_CONFLICT, "a model named '%s' exists and is not a %s model", name, kind), -1;
            *reused = 1;
            return id;
        }
        if (e->code != ERR_NOT_FOUND) return -1;
        err_clear(e);
        json_t *m = NULL;
        if (model_registry_register(a, name, dir, 0, &m, e) == 0) {
            int64_t id = (int64_t)json_integer_value(json_object_get(m, "id"));
            json_decref(m);
            *reused = 0;
            return id;
        }
        if (e->code != ERR_CONFLICT) return -1;
        err_clear(e); /* registered by someone else meanwhile: read it */
    }
    return err_set(e, ERR_INTERNAL, "could not register the model '%s'", name), -1;
}

/* ---- step 4: teacher outputs ----------------------------------------------- */

/* Probabilities of every image (ascending id) under the teacher, stored as the
 * (dataset, model) teacher output. Classes are matched by name, as the job does. */
static int64_t teacher_step(job_ctx *ctx, int64_t dataset_id, int64_t model_id, int *reused, err *e) {
    app *a = job_app(ctx);
    char ds[24], ms[24];
    id_text(ds, sizeof ds, dataset_id);
    id_text(ms, sizeof ms, model_id);
    const char *p[] = {ds, ms};
    int64_t out_id = db_json_id(a,
                              "SELECT t.id::text FROM teacher_outputs t WHERE t.dataset_id = $1 AND t.model_id = $2"
                              " AND t.n = (SELECT count(*) FROM images i WHERE i.dataset_id = $1)",
                              2, p, e);
    if (out_id) {
        *reused = out_id > 0;
        return out_id;
    }
    *reused = 0;
    dataset_images d;
    if (dataset_store_load(a, dataset_id, &d, e)) return -1;
    model_ref *m = NULL;
    float *probs = NULL;
    int64_t rc = -1;
    if (!(m = model_registry_acquire(a, model_id, e))) goto done;
    if (m->mf.kind != MODEL_KIND_TEACHER || m->mf.n_classes != d.n_classes || d.n == 0) {
        err_set(e, ERR_UNPROCESSABLE, "model %lld does not fit dataset '%s' (%zu classes, %zu images)",
                (long long)model_id, d.name, d.n_classes, d.n);
        goto done;
    }
    if (teacher_outputs_compute(ctx, &d, m, 0.85, 0.95, "teacher outputs: ", &probs, NULL, e)) goto done;
    char name[160];
    snprintf(name, sizeof name, "%s", DEMO_TEACHER_NAME);
    if (teacher_store_put(a, &d, model_id, name, probs, 0, job_id(ctx), 0, &out_id, e)) goto done;
    rc = out_id;
done:
    model_registry_release(m);
    free(probs);
    dataset_images_free(&d);
    return rc;
}

/* ---- step 5: the corpus ---------------------------------------------------- */

static int64_t corpus_step(app *a, const char *out, int64_t dataset_id, int64_t concept_model_id, int *reused,
                           err *e) {
    int64_t id;
    if (corpus_find(a, DEMO_CORPUS_NAME, &id, e)) return -1;
    *reused = id > 0;
    if (id) return id;
    char path[PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/corpus.txt", out);
    size_t len = 0;
    char *text = file_read_all(path, DEMO_CORPUS_FILE_MAX, &len, e);
    if (!text) return -1;
    corpus_text ct = {0};
    int bad = corpus_text_parse(text, len, &ct, e);
    free(text);
    if (bad) return -1;
    /* The class-name filter, as a user's corpus for a project gets it by default: the
     * demo corpus holds no class words, so this drops nothing unless that changes. */
    json_t *filtered = NULL;
    if (class_name_filter(a, dataset_id, concept_model_id, CLASS_FILTER_TAU_DEFAULT, ct.words, &ct.n, &filtered, e)) {
        corpus_text_free(&ct);
        return -1;
    }
    size_t n_dropped = json_array_size(json_object_get(filtered, "dropped"));
    if (n_dropped) log_warn("demo: the class-name filter dropped %zu corpus words", n_dropped);
    json_decref(filtered);
    /* One transaction: the corpus and its words appear together. */
    bad = corpus_create(a, DEMO_CORPUS_NAME, ct.words, ct.n, 0, &id, e);
    corpus_text_free(&ct);
    if (bad && e->code == ERR_CONFLICT) { /* made meanwhile by another attempt: read it */
        err_clear(e);
        bad = corpus_find(a, DEMO_CORPUS_NAME, &id, e);
    }
    return bad ? -1 : id;
}

/* ---- step 6: the extraction ------------------------------------------------ */

/* Reuse an extraction of the triple that is ready or whose job is still coming;
 * else reset it and queue "concepts.extract". *job gets the job id (0: reused). */
static int64_t extraction_step(app *a, int64_t ds, int64_t mid, int64_t cid, int64_t *job, err *e) {
    *job = 0;
    int64_t xid, j;
    if (extraction_find_live(a, ds, mid, cid, &xid, e)) return -1;
    if (xid) return xid;
    if (extraction_queue(a, ds, mid, cid, 0, &xid, &j, e)) return -1;
    *job = j;
    return xid;
}

/* ---- step 7: the project --------------------------------------------------- */

static int64_t project_step(app *a, const int64_t ids[6], err *e) {
    project_parts parts = {.dataset_id = ids[0], .teacher_model_id = ids[1], .teacher_output_id = ids[2],
                           .concept_model_id = ids[3], .corpus_id = ids[4], .extraction_id = ids[5]};
    return project_store_put_demo(a, DEMO_PROJECT_NAME, &parts, e);
}

/* ---- the job --------------------------------------------------------------- */

int demo_build_job(job_ctx *ctx, const json_t *params, json_t **result, err *e) {
    app *a = job_app(ctx);
    json_t *js = json_object_get(params, "scale"), *jseed = json_object_get(params, "seed");
    const char *scale = js ? json_string_value(js) : "full";
    if (!scale || (strcmp(scale, "small") && strcmp(scale, "full")))
        return err_set(e, ERR_UNPROCESSABLE, "params.scale must be \"small\" or \"full\"");
    if (jseed && (!json_is_integer(jseed) || json_integer_value(jseed) < 0))
        return err_set(e, ERR_UNPROCESSABLE, "params.seed must be an integer >= 0");
    uint64_t seed = jseed ? (uint64_t)json_integer_value(jseed) : DEMO_DEFAULT_SEED;
    int small = !strcmp(scale, "small");
    char out[PATH_MAX];
    if ((size_t)snprintf(out, sizeof out, "%s/demo-%s-%llu", a->cfg.data_dir, scale, (unsigned long long)seed) >=
        sizeof out - 64)
        return err_set(e, ERR_IO, "the data folder's path is too long");

    json_t *reused = json_array();
    int r = 0;
    int64_t ids[6] = {0}; /* dataset, teacher, teacher output, concepts, corpus, extraction */
    int64_t xjob = 0, project = -1;
    json_t *report = world_step(ctx, out, small, seed, &r, e);
    if (!report) goto fail;
    if (r) json_array_append_new(reused, json_string("world"));
    if (job_progress(ctx, 0.70, e, "importing the scenes as dataset '%s'", DEMO_DATASET_NAME)) goto fail;
    if ((ids[0] = dataset_step(ctx, out, report, &r, e)) < 0) goto fail;
    if (r) json_array_append_new(reused, json_string("dataset"));

    char dir[PATH_MAX + 16];
    if (job_progress(ctx, 0.80, e, "registering the models")) goto fail;
    snprintf(dir, sizeof dir, "%s/teacher", out);
    if ((ids[1] = model_step(a, DEMO_TEACHER_NAME, dir, "teacher", &r, e)) < 0) goto fail;
    if (r) json_array_append_new(reused, json_string("teacher_model"));
    if (job_progress(ctx, 0.83, e, "registering the concept model")) goto fail;
    snprintf(dir, sizeof dir, "%s/concepts", out);
    if ((ids[3] = model_step(a, DEMO_CONCEPTS_NAME, dir, "concept", &r, e)) < 0) goto fail;
    if (r) json_array_append_new(reused, json_string("concept_model"));

    if (job_progress(ctx, 0.85, e, "computing the teacher's outputs")) goto fail;
    if ((ids[2] = teacher_step(ctx, ids[0], ids[1], &r, e)) < 0) goto fail;
    if (r) json_array_append_new(reused, json_string("teacher_outputs"));

    if (job_progress(ctx, 0.95, e, "creating the corpus and the project")) goto fail;
    if ((ids[4] = corpus_step(a, out, ids[0], ids[3], &r, e)) < 0) goto fail;
    if (r) json_array_append_new(reused, json_string("corpus"));
    if ((ids[5] = extraction_step(a, ids[0], ids[3], ids[4], &xjob, e)) < 0) goto fail;
    if ((project = project_step(a, ids, e)) < 0) goto fail;

    *result = json_pack("{s:o,s:s,s:s,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:o}", "report", report, "out_dir", out,
                        "scale", scale, "seed", (json_int_t)seed, "dataset_id", (json_int_t)ids[0],
                        "teacher_model_id", (json_int_t)ids[1], "teacher_output_id", (json_int_t)ids[2],
                        "concept_model_id", (json_int_t)ids[3], "corpus_id", (json_int_t)ids[4], "extraction_id",
                        (json_int_t)ids[5], "extraction_job_id", (json_int_t)xjob, "project_id", (json_int_t)project,
                        "reused", reused);
    log_info("demo: project '%s' ready (dataset %lld, teacher %lld, concept model %lld, corpus %lld)",
             DEMO_PROJECT_NAME, (long long)ids[0], (long long)ids[1], (long long)ids[3], (long long)ids[4]);
    return *result ? 0 : err_set(e, ERR_INTERNAL, "out of memory");
fail:
    json_decref(report);
    json_decref(reused);
    return -1;
}

/* ---- start-up hook --------------------------------------------------------- */

int demo_mode_from_env(const char **scale, err *e) {
    const char *v = getenv("INFICOND_DEMO");
    if (!v || !*v) v = "full";
    if (!strcmp(v, "off")) *scale = NULL;
    else if (!strcmp(v, "small")) *scale = "small";
    else if (!strcmp(v, "full")) *scale = "full";
    else return err_set(e, ERR_UNPROCESSABLE, "INFICOND_DEMO must be off, small or full (not '%s')", v);
    return 0;
}

json_t *demo_find_job(app *a, const char *states, const char *scale, int64_t seed, err *e) {
    char ss[24];
    id_text(ss, sizeof ss, seed);
    const char *p[] = {states, scale, scale ? ss : NULL};
    int64_t id = db_json_id(a,
                          "SELECT id::text FROM jobs WHERE kind = 'demo.build' AND state = ANY($1::text[])"
                          " AND ($2::text IS NULL OR (coalesce(params->>'scale', 'full') = $2"
                          "      AND coalesce((params->>'seed')::bigint, 1) = $3::bigint))"
                          " ORDER BY id DESC LIMIT 1",
                          3, p, e);
    if (id < 0) return NULL;
    if (id == 0) return err_set(e, ERR_NOT_FOUND, "no demo.build job"), NULL;
    return jobs_get_json(a, id, e);
}

int demo_autostart(app *a, int64_t *job_id, err *e) {
    *job_id = 0;
    const char *scale;
    if (demo_mode_from_env(&scale, e)) return -1;
    if (!scale) return 0;
    /* Serialise the check between servers starting together: the advisory lock is
     * held until this transaction ends, after the job row is committed. */
    PGconn *c = db_acquire(a->db, e);
    if (!c) return -1;
    int rc = -1;
    if (db_begin(c, e)) goto out;
    PGresult *r = db_exec(c,
                          "SELECT pg_advisory_xact_lock(hashtext('inficond.demo.autostart')),"
                          " EXISTS (SELECT 1 FROM projects WHERE name = $1)"
                          "  OR EXISTS (SELECT 1 FROM jobs WHERE kind = 'demo.build' AND state IN ('queued', 'running'))",
                          1, (const char *[]){DEMO_PROJECT_NAME}, e);
    if (!r) goto rollback;
    int exists = !strcmp(PQgetvalue(r, 0, 1), "t");
    PQclear(r);
    if (!exists) {
        json_t *params = json_pack("{s:s,s:i}", "scale", scale, "seed", DEMO_DEFAULT_SEED);
        *job_id = jobs_enqueue(a, "demo.build", params, 0, e);
        json_decref(params);
        if (*job_id < 0) {
            *job_id = 0;
            goto rollback;
        }
    }
    rc = db_commit(c, e);
    if (!rc && *job_id)
        log_info("demo: no demo project yet: building the demo world (INFICOND_DEMO=%s) as job %lld; the page shows"
                 " its progress (also GET /api/v1/jobs/%lld)%s",
                 scale, (long long)*job_id, (long long)*job_id,
                 a->cfg.workers > 0 ? "" : " once an `inficond worker` runs (INFICOND_WORKERS=0 here)");
    goto out;
rollback:
    db_rollback(c);
out:
    db_release(a->db, c);
    return rc;
}
