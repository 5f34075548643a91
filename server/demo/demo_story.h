/* demo_story.h — the "demo.story" job: the demo's story told in numbers through the
 * product's own code paths, once the demo project's concept extraction is ready.
 *
 *   1. concept quality as the product sees it: AUC per corpus word on val and test
 *      of the extraction's stored presence (segments), the truth from the world's
 *      scenes.jsonl (caption words, and each item's attributes from the class table);
 *   2. the student's lambda chosen on val fidelity among DEMO_STORY_LAMBDAS (the
 *      product's solver, student_fit_all, on the train rows), then the student
 *      distilled by the "student.distill" job's own function (ss_distill_job);
 *   3. the kept student tuned with every background word removed across all classes
 *      (the across-classes "remove" action, ss_tune), which retrains it.
 *
 * Test and shifted are read once, for the report. The result is merged into the
 * world's report (also written to <out_dir>/report.json, which `inficond demo
 * --report` reads): "selection": "val", "student": {...}, "concepts_product": {...}.
 *
 * Params: {"build_job_id": a succeeded demo.build job} (its out_dir, extraction and
 * teacher output are used). Queued by `inficond demo` once the build succeeded, not
 * by serve's first start: the demo project a person first opens has no student, so
 * the person is the one who finds and removes the shortcut. Waits (polling) while the
 * extraction is queued or running.
 */
#ifndef INFICOND_DEMO_STORY_H
#define INFICOND_DEMO_STORY_H

#include <jansson.h>
#include <stdint.h>

#include "app.h"

#include "err.h"
#include "jobs.h"

/* Candidate L1 weights of the student, chosen among on val fidelity. */
#define DEMO_STORY_LAMBDAS {1e-5, 1e-4, 1e-3}

/* The demo.story job of demo.build job build_job_id: the one queued, running or done
 * already, else a new one. Its id, or -1 with e set. */
int64_t demo_story_queue(app *a, int64_t build_job_id, err *e) WARN_UNUSED;

/* The job kind (job_kinds.c). *result: {"report": the merged report, "student_id",
 * "tuned_version"}. */
int demo_story_job(job_ctx *ctx, const json_t *params, json_t **result, err *e);

#endif
