/* class_name_filter.h — dropping corpus words that only restate a class name.
 *
 * A student whose corpus holds its classes' names reads the label off a detector
 * of the label ("shirt because shirt"); Label-free CBM drops such concepts. Before a
 * corpus is created or imported for a project, every word whose text embedding
 * (under the project's concept model) is within cosine tau of a class name, or of
 * "a photo of a {class}", is dropped and reported. A word that spells the class
 * name, alone or after "a", "an", "the" or "a photo of a", is dropped by name
 * whatever the model says: that is the case a word-list model cannot embed (a
 * class name or an article outside its vocabulary), and it is reported as such.
 */
#ifndef INFICOND_CLASS_NAME_FILTER_H
#define INFICOND_CLASS_NAME_FILTER_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "app.h"
#include "err.h"

#define CLASS_FILTER_TAU_DEFAULT 0.85 /* Label-free CBM's cut for concepts near a class */

/* Drop from words[0..*n) (normalised, distinct; owned by the caller's array) the
 * words near a class name of dataset_id under concept_model_id, keeping the others
 * in order: dropped strings are freed and *n shrinks. *report (new):
 * {tau, dataset_id, concept_model_id, classes, dropped: [{word, class, near, cosine
 * (null when matched by name only), by: "embedding"|"name"}], kept, classes_not_embedded:
 * [class names the model cannot read: matched by name only], words_not_embedded: n}.
 * tau in [-1, 1]. ERR_NOT_FOUND for a missing dataset or model; ERR_UNPROCESSABLE when
 * the model is not a concept model. */
int class_name_filter(app *a, int64_t dataset_id, int64_t concept_model_id, double tau, char **words, size_t *n,
                      json_t **report, err *e) WARN_UNUSED;

/* The probes of one normalised class name: the name, "a|an|the {name}" and "a photo
 * of a {name}", written into out[k] (cap bytes each); returns k (CLASS_FILTER_PROBES).
 * Exposed for tests. */
#define CLASS_FILTER_PROBES 5
#define CLASS_FILTER_PROBE_CAP 160 /* bytes of one probe */
int class_filter_probes(const char *name, char out[][CLASS_FILTER_PROBE_CAP], size_t cap);

#endif
