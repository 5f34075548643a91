/* demo_world.h — the built-in demo world: scenes composed from Fashion-MNIST, a
 * teacher CNN and a dense concept model trained here, and a report of their
 * measured quality. This part knows no database: it writes a folder
 *
 *   <out>/scenes/<split>/<class>/NNNNNN.jpg, scenes.jsonl   (the dataset to import)
 *   <out>/teacher/{model.pt, manifest.json}                 (a teacher model folder)
 *   <out>/concepts/{model.pt, manifest.json, words.txt}     (a dense concept model)
 *   <out>/corpus.txt                                        (the demo concept corpus)
 *   <out>/report.json                                       (demo_world_report's JSON)
 *
 * and the demo job then imports and registers those through the normal paths. */
#ifndef INFICOND_DEMO_WORLD_H
#define INFICOND_DEMO_WORLD_H

#include <jansson.h>
#include <stdint.h>

#include "err.h"

typedef struct demo_world_opts {
    int small;           /* 2k/400/400/400 scenes and short training (tests)      */
    uint64_t seed;
    const char *fmnist_dir; /* NULL: Debian's /usr/share/datasets/fashion-mnist      */
    const char *out_dir;
} demo_world_opts;

/* Stage progress: fraction of the whole build in [0,1] and a message. Return
 * non-zero to cancel (the build stops with ERR_CANCELLED). */
typedef int (*demo_world_progress)(void *ud, double frac, const char *msg);

/* Build everything into opts->out_dir. On success *report (new) is the quality
 * report, also written to out_dir/report.json:
 * {"scale","seed","teacher":{"test":acc,"shifted":acc,"val":acc},
 *  "concepts":{"mean_auc","min_auc","min_word","per_word":{word:auc},
 *              "never_occurring_mean_presence"},
 *  "seconds":{"scenes","teacher","concepts","evaluate","total"},
 *  "cpu_seconds":{the same stages: CPU time of the whole process}} */
int demo_world_build(const demo_world_opts *opts, demo_world_progress progress, void *ud,
                     json_t **report, err *e) WARN_UNUSED;

/* Measure a built world's models again (teacher accuracy per split, per-word AUC
 * of concept presence on test) without retraining: the report's data part. The
 * concept model and teacher are read from out_dir. New JSON or NULL. */
json_t *demo_world_evaluate(const demo_world_opts *opts, err *e);

/* Area under the ROC curve of scores against 0/1 truth (ties counted half);
 * -1 when one class is absent. Exposed for tests. */
double demo_auc(const float *scores, const uint8_t *truth, int n);

#endif
