/* routes_admin.c — maintenance for admins: POST /api/v1/admin/gc removes the blobs,
 * thumbnails and model folders no row names (blob_gc.h).
 *
 * It runs in the request, not as a job: it is one database read and one pass over the
 * data folder (a stat per blob, seconds for a hundred thousand), the admin wants the
 * answer (a dry run is nothing but the answer), and a job would itself be a running
 * job, holding the cutoff back and waiting behind long extractions in the queue.
 * Two at once: the second gets 409.
 */
#include <string.h>

#include "blob_gc.h"
#include "routes_admin.h"

/* The items listed in an answer; the counts cover everything. */
#define GC_ITEMS_MAX 1000

typedef struct item_list {
    json_t *items; /* [{kind, name, bytes}], at most GC_ITEMS_MAX */
    long long more;
} item_list;

static void list_item(void *arg, const char *kind, const char *name, long long bytes) {
    item_list *l = arg;
    if (json_array_size(l->items) >= GC_ITEMS_MAX) {
        l->more++;
        return;
    }
    json_array_append_new(l->items, json_pack("{s:s,s:s,s:I}", "kind", kind, "name", name, "bytes", (json_int_t)bytes));
}

void route_admin_gc(req *r) {
    const char *key;
    json_t *v;
    json_object_foreach(r->json, key, v) {
        if (strcmp(key, "dry_run") && strcmp(key, "min_age_s")) {
            reply_error(r, 422, "unprocessable", "unknown field '%s'", key);
            return;
        }
    }
    /* Required, so that removing is never what an empty body does. */
    json_t *dry = json_object_get(r->json, "dry_run");
    if (!json_is_boolean(dry)) {
        reply_error(r, 422, "unprocessable", "field 'dry_run' must be true or false");
        return;
    }
    int64_t min_age = BLOB_GC_DEFAULT_MIN_AGE_S;
    if (json_object_get(r->json, "min_age_s") &&
        json_req_int_or_reply(r, r->json, "min_age_s", 0, BLOB_GC_MAX_MIN_AGE_S, &min_age))
        return;
    item_list list = {.items = json_array()};
    blob_gc_report rep;
    err e = {0};
    if (blob_gc_run(r->app, json_is_true(dry), (long)min_age, &rep, list_item, &list, &e)) {
        json_decref(list.items);
        reply_err(r, &e);
        return;
    }
    json_t *body = blob_gc_report_json(&rep);
    json_object_set_new(body, "items", list.items);
    json_object_set_new(body, "items_truncated", json_boolean(list.more > 0));
    reply_json(r, 200, body);
}
