/* demo_job.h — the "demo.build" job: build the demo world (demo_world.h) under the
 * data folder, then bring it in through the paths a user's data takes — the scenes
 * imported as the dataset "demo", the two model folders registered as
 * "demo-teacher" and "demo-concepts", the teacher's outputs computed, the corpus
 * "demo" created from corpus.txt, the concept extraction queued — and record them
 * as the project "demo". Also the serve start-up hook that queues it once.
 *
 * Params: {"scale": "small"|"full" (default "full"), "seed": integer >= 0 (default 1)}.
 * Result: {"report": <demo_world report>, "out_dir", "scale", "seed", "dataset_id",
 *          "teacher_model_id", "concept_model_id", "teacher_output_id", "corpus_id",
 *          "extraction_id", "extraction_job_id", "project_id", "reused": [step...]}.
 * Idempotent: every step first looks for what an earlier attempt finished (the world
 * folder's report.json, rows by their unique names) and reuses it.
 */
#ifndef INFICOND_DEMO_JOB_H
#define INFICOND_DEMO_JOB_H

#include <jansson.h>
#include <stdint.h>

#include "app.h"
#include "err.h"
#include "jobs.h"

#define DEMO_PROJECT_NAME "demo"
#define DEMO_DATASET_NAME "demo"
#define DEMO_CORPUS_NAME "demo"
#define DEMO_TEACHER_NAME "demo-teacher"
#define DEMO_CONCEPTS_NAME "demo-concepts"
#define DEMO_DEFAULT_SEED 1

/* The job kind (job_kinds.c). */
int demo_build_job(job_ctx *ctx, const json_t *params, json_t **result, err *e);

/* INFICOND_DEMO: "off" | "small" | "full" (unset: "full"). Sets *scale to NULL for
 * off, else the static scale name. ERR_CONFIG-style failure (ERR_UNPROCESSABLE)
 * naming the variable for anything else. */
int demo_mode_from_env(const char **scale, err *e) WARN_UNUSED;

/* Serve start-up: unless INFICOND_DEMO is off, queue demo.build when no project
 * "demo" exists and no demo.build job is queued or running. *job_id gets the new
 * job's id, or 0 when nothing was queued. */
int demo_autostart(app *a, int64_t *job_id, err *e) WARN_UNUSED;

/* The newest demo.build job in one of `states` (a SQL array literal such as
 * "{queued,running}"), optionally with these params (scale NULL: any). Its JSON (as
 * jobs_get_json) or NULL with ERR_NOT_FOUND. */
json_t *demo_find_job(app *a, const char *states, const char *scale, int64_t seed, err *e);

#endif
