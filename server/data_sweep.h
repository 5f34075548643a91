/* data_sweep.h — removes what interrupted work left in the data folder.
 *
 * A process killed mid-write leaves files no row refers to: a blob's temporary file
 * (`blobs/.tmp-*`, `blobs/xx/.tmp-*`, see blobstore.h), a request body being streamed
 * (`tmp/upload-…`), a model being unpacked (folder `tmp/model-…`), and an uploaded tar whose
 * import job failed or was cancelled (a `.tar` in `uploads`: only a successful import
 * deletes its upload, so a recovered job can re-run from it). `serve` sweeps them once
 * at start. Only what nothing has modified for `min_age_s` seconds is removed (a
 * folder counts by the newest file in it), so work still running in another process
 * sharing the folder is never touched; uploads named in `keep` (those of queued or
 * running import jobs) stay whatever their age. Blobs under their real names, and
 * every other file, are never removed here.
 */
#ifndef INFICOND_DATA_SWEEP_H
#define INFICOND_DATA_SWEEP_H

#include <stddef.h>

#include "err.h"

typedef struct {
    long removed;         /* files and folders removed                 */
    long long bytes;      /* their size                                */
    long failed;          /* could not be removed (logged)             */
} data_sweep_report;

/* Sweep data_dir as described above; keep[0..nkeep) are absolute upload paths to
 * keep. 0, or -1 when the folder cannot be read at all. */
int data_sweep(const char *data_dir, long min_age_s, const char *const *keep, size_t nkeep,
               data_sweep_report *out, err *e) WARN_UNUSED;

#endif
