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
 * Params: {"out_dir", "extraction_id", "teacher_output_id"}; queued by demo.build
 * after the extraction. Waits (polling) while the extraction is queued or running.
 */
#ifndef INFICOND_DEMO_STORY_H
#define INFICOND_DEMO_STORY_H

#include <jansson.h>

#include "err.h"
#include "jobs.h"

/* Candidate L1 weights of the student, chosen among on val fidelity. */
#define DEMO_STORY_LAMBDAS {1e-5, 1e-4, 1e-3}

/* The job kind (job_kinds.c). *result: {"report": the merged report, "student_id",
 * "tuned_version"}. */
int demo_story_job(job_ctx *ctx, const json_t *params, json_t **result, err *e);

#endif
