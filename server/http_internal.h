/* http_internal.h — long-poll parking for handlers (implemented in http.c).
 *
 * Usage in a handler: g = req_wait_generation(); read the job; if it has not
 * changed past the client's cursor and !req_wait_expired(r), then
 * `if (req_wait_job(r, id, seconds, g)) return;` — the request is parked and the
 * handler runs again when the job changes or the time is up. If it returns 0, a
 * notification raced the read: read again. */
#ifndef INFICOND_HTTP_INTERNAL_H
#define INFICOND_HTTP_INTERNAL_H

#include <stdint.h>

#include "http.h"

uint64_t req_wait_generation(void);
int req_wait_job(req *r, int64_t job_id, double seconds, uint64_t seen_gen);
int req_wait_expired(req *r);

#endif
