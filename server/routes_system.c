/* routes_system.c — health. */
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include "inficond_shim.h"
#include "routes_system.h"
#include "version.h"

/* The database check is cached for a quarter second: health is polled by load
 * balancers and benchmarks, and one SELECT 1 per call would make it the slowest
 * route in the service while telling nothing newer. */
static pthread_mutex_t health_lock = PTHREAD_MUTEX_INITIALIZER;
static struct timespec health_checked;
static int health_db_ok;
static char health_db_msg[sizeof(((err *)0)->msg)];

void route_health(req *r) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    pthread_mutex_lock(&health_lock);
    double age = (double)(now.tv_sec - health_checked.tv_sec) +
                 (double)(now.tv_nsec - health_checked.tv_nsec) / 1e9;
    if (health_checked.tv_sec == 0 || age > 0.25) {
        err e = {0};
        health_db_ok = db_ping(r->app->db, &e) == 0;
        snprintf(health_db_msg, sizeof health_db_msg, "%s", health_db_ok ? "ok" : e.msg);
        health_checked = now;
    }
    int ok = health_db_ok;
    char msg[sizeof health_db_msg];
    snprintf(msg, sizeof msg, "%s", health_db_msg);
    pthread_mutex_unlock(&health_lock);
    json_t *body = json_pack("{s:s,s:s,s:s,s:s,s:s}", "status", ok ? "ok" : "degraded", "db",
                             ok ? "ok" : "unavailable", "torch", shim_torch_version(), "version",
                             INFICOND_VERSION, "device", shim_device_name());
    if (!ok) json_object_set_new(body, "db_error", json_string(msg));
    reply_json(r, ok ? 200 : 503, body);
}
