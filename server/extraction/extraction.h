/* extraction.h — an extraction as its readers see it: the segments and concept
 * presence of a dataset under a concept model and a corpus (README.md of this folder
 * gives the whole stage; docs/ARCHITECTURE.md "The pipeline's data" the flow).
 *
 * Segments are stored per chunk of INFICOND_CHUNK_IMAGES images (ascending id) as
 * segment-store blobs, shared by every corpus extracted with the same model.
 * Presence is an (N, d) float32 matrix blob over the corpus words, with per-word
 * galleries (the top EXTRACTION_TOP_K images and the segment behind each).
 * The row (its type, extraction_load, extraction_free) is the store's
 * (extraction_store.h); here, what is read from a loaded row's blobs.
 */
#ifndef INFICOND_EXTRACTION_H
#define INFICOND_EXTRACTION_H

#include <stddef.h>
#include <stdint.h>

#include "app.h"
#include "err.h"
#include "extraction/extraction_store.h" /* the row type, extraction_load and _free */

#define EXTRACTION_TOP_K 48          /* gallery images kept per concept          */

/* The extraction's image ids (n, ascending), a new malloc'd array. */
int extraction_image_ids(app *a, const extraction *x, int64_t **ids, err *e) WARN_UNUSED;
/* Row of image_id in ids (n ascending), or -1. */
long extraction_image_index(const int64_t *ids, int n, int64_t image_id);
/* The chunk holding image row `index` and its first row. */
int extraction_chunk_of(const extraction *x, long index, long *first_row);

/* Row `row` of the presence matrix into v (d floats), read alone: call it once
 * blobstore_verify_cached has passed the whole blob (it remembers a verified file
 * while it is unchanged, so this stays cheap). ERR_IO "cannot read the presence
 * matrix of extraction N". */
int extraction_presence_row(app *a, const extraction *x, long row, float *v, err *e) WARN_UNUSED;

/* The presence matrix of a ready extraction, for the student:
 *   *x (N, d) float32 row-major, malloc'd; *image_ids (N) ascending; *words (d)
 *   column names; presence_sha, ids_sha (65 bytes each, nullable): the checksums of
 *   the presence and image ids blobs read. Free with extraction_presence_free. */
int extraction_presence_load(app *a, int64_t extraction_id, float **x, int64_t **image_ids, int *n, int *d,
                             char ***words, char *presence_sha, char *ids_sha, err *e) WARN_UNUSED;
void extraction_presence_free(float *x, int64_t *image_ids, char **words, int d);

#endif
