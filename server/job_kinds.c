/* job_kinds.c — the table of job kinds: name, handler, the role needed to start it
 * through POST /api/v1/jobs, and its chunk tasks (job_tasks.h) when it splits its
 * work across workers; and the queue those tasks go through, both handed to the app
 * by job_kinds_install. Each pipeline stage declares its job in its own header and
 * adds its kind here. */
#include <string.h>
#include <unistd.h>

#include "dataset/dataset_import.h"
#include "demo/demo_job.h"
#include "demo/demo_story.h"
#include "extraction/extraction_job.h"
#include "extraction/extraction_tasks.h"
#include "job_kinds.h"
#include "job_tasks.h"
#include "jobs.h"
#include "student/student_distill.h"
#include "teacher/teacher_job.h"
#include "teacher/teacher_tasks.h"

/* diag.sleep — an operator's check that workers claim, report progress, heartbeat
 * and honour cancel, end to end through the database. Params: {"seconds": 0..3600,
 * "fail": "message" (optional: end as failed with this message)}. */
static int diag_sleep(job_ctx *ctx, const json_t *params, json_t **result, err *e) {
    json_t *s = json_object_get(params, "seconds");
    double seconds = json_is_number(s) ? json_number_value(s) : 1.0;
    if (seconds < 0 || seconds > 3600)
        return err_set(e, ERR_UNPROCESSABLE, "seconds must be within [0, 3600]");
    int steps = (int)(seconds * 20.0);
    for (int i = 0; i < steps; i++) {
        if (job_progress(ctx, (double)i / steps, e, "waited %.2f of %.2f s", i / 20.0, seconds))
            return -1;
        usleep(50000);
    }
    const char *fail = json_string_value(json_object_get(params, "fail"));
    if (fail) return err_set(e, ERR_UNPROCESSABLE, "%s", fail);
    *result = json_pack("{s:f,s:i}", "slept_seconds", seconds, "attempt", job_attempt(ctx));
    return 0;
}

static const job_kind kinds[] = {
    {"diag.sleep", diag_sleep, "admin", NULL},
    {"dataset.import", dataset_import_job, "admin", NULL}, /* params name server files; editors upload */
    {"teacher.outputs", teacher_outputs_job, "editor", teacher_chunk_task},
    {"concepts.extract", extraction_job, "editor", extraction_chunk_task},
    {"student.distill", ss_distill_job, "editor", NULL},
    {"demo.build", demo_build_job, "admin", NULL}, /* builds and registers the demo project */
    {"demo.story", demo_story_job, "admin", NULL}, /* the demo's student and its report, after its extraction */
};

void job_kinds_install(app *a) {
    a->job_kinds = kinds;
    a->n_job_kinds = (int)(sizeof kinds / sizeof *kinds);
    a->job_tasks = &job_tasks_hooks;
}
