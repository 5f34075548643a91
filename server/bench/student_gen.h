/* student_gen.h — synthetic student problems for `inficond bench student --gen`: a
 * presence matrix X (N, D), teacher probabilities P (N, C) and true labels y (N),
 * written as raw little-endian files (X.f32, P.f32, y.i32) plus meta.json.
 *
 * Two kinds (see student_gen.c for the models and why):
 *   embed   — the default: presence as the extraction makes it (max over a few segments of
 *             max(0, cosine) between embeddings sharing a common direction, so values
 *             sit in a narrow band and concepts are correlated); the teacher sees the
 *             image's latent object and background, not the concepts.
 *   planted — the earlier one: independent concepts at a base level with planted
 *             signature concepts; the teacher is a sparse linear model on X itself
 *             (8 concepts per class), which the student can recover almost exactly.
 * Leaves out: real images (bench/student.sh can be pointed at real X/P files).
 */
#ifndef INFICOND_STUDENT_GEN_H
#define INFICOND_STUDENT_GEN_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

typedef enum { STUDENT_GEN_EMBED, STUDENT_GEN_PLANTED } student_gen_kind;

/* "embed" / "planted" -> kind; -1 when unknown. */
int student_gen_kind_parse(const char *s);
const char *student_gen_kind_name(student_gen_kind k);

/* Writes DIR/X.f32, P.f32, y.i32, meta.json (DIR is created when missing). */
int student_gen_write(const char *dir, student_gen_kind kind, size_t n, size_t d, size_t c, uint64_t seed,
                      err *e) WARN_UNUSED;

#endif
