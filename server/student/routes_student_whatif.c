/* routes_student_whatif.c — what a tuning action would do, before it is applied
 * (student_whatif.h): GET …/versions/{v}/whatif with one action in the query, and
 * GET …/versions/{v}/whatif/concepts, every concept's removal ranked by its effect on
 * a split. Both read the version's (fresh) problem and store nothing.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "student/routes_student_whatif.h"
#include "student/student_analyses.h"
#include "student/student_whatif.h"

/* Student {0}, version {1} and its problem; replies and returns -1 on failure. */
static int open_or_reply(req *r, ss_version *v, ss_problem **p) {
    int64_t sid = req_id_or_reply(r, 0);
    if (sid < 0) return -1;
    int64_t num = req_id_or_reply(r, 1);
    if (num < 0) return -1;
    err e = {0};
    if (ss_analysis_open(r->app, sid, (int)num, v, p, &e)) {
        reply_err(r, &e);
        return -1;
    }
    return 0;
}

/* "actions[0].field: why" (the tune's wording) as "query parameter 'field': why". */
static void reply_query_err(req *r, const err *e) {
    const char *m = e->msg;
    if (e->code == ERR_UNPROCESSABLE && !strncmp(m, "actions[0].", 11)) {
        const char *colon = strchr(m, ':');
        if (colon) {
            reply_error(r, 422, "unprocessable", "query parameter '%.*s':%s", (int)(colon - m - 11), m + 11, colon + 1);
            return;
        }
    }
    if (e->code == ERR_UNPROCESSABLE && !strncmp(m, "actions[0]: ", 12)) {
        reply_error(r, 422, "unprocessable", "%s", m + 12);
        return;
    }
    reply_err(r, e);
}

/* A number query parameter into the action; replies 422 and returns -1 when bad. */
static int number_arg_or_reply(req *r, json_t *action, const char *key) {
    const char *s = req_query(r, key);
    if (!s) return 0;
    char *end;
    double v = strtod(s, &end);
    if (!*s || *end || !isfinite(v)) {
        reply_error(r, 422, "unprocessable", "query parameter '%s': a number", key);
        return -1;
    }
    json_object_set_new(action, key, json_real(v));
    return 0;
}

/* GET …/whatif?action=remove&concept=brick[&class=shirt][&factor=x][&value=v]: the
 * action (the tune's, student_actions.h; class left out: every class) applied to the
 * version's weights without retraining, measured on every split. */
void route_student_whatif(req *r) {
    ss_version v;
    ss_problem *p;
    if (open_or_reply(r, &v, &p)) return;
    const char *kind = req_query(r, "action"), *concept = req_query(r, "concept"), *cls = req_query(r, "class");
    json_t *action = json_object();
    if (!kind || !concept) {
        reply_error(r, 422, "unprocessable", "query parameters 'action' and 'concept' are required");
    } else {
        json_object_set_new(action, "action", json_string(kind));
        json_object_set_new(action, "concept", json_string(concept));
        if (cls) json_object_set_new(action, "class", json_string(cls));
        if (!number_arg_or_reply(r, action, "factor") && !number_arg_or_reply(r, action, "value")) {
            err e = {0};
            json_t *j = ss_whatif_action_json(p, &v, action, &e);
            if (j) reply_json(r, 200, j);
            else reply_query_err(r, &e);
        }
    }
    json_decref(action);
    ss_problem_release(p);
    ss_version_free(&v);
}

/* GET …/whatif/concepts?split=shifted[&class=shirt][&by=accuracy|fidelity][&limit=n]:
 * each concept's removal (from every class, or from one) ranked by its effect on the
 * split; the split defaults to "test" (else the first one), by to accuracy where the
 * split has true labels. */
void route_student_whatif_concepts(req *r) {
    ss_version v;
    ss_problem *p;
    if (open_or_reply(r, &v, &p)) return;
    const char *split = req_query(r, "split"), *cls = req_query(r, "class"), *by = req_query(r, "by");
    int si = split ? ss_problem_split(p, split) : ss_problem_split(p, "test");
    if (!split && si < 0) si = 0;
    long k = -1, limit;
    for (size_t t = 0; cls && t < p->c && k < 0; t++)
        if (!strcmp(p->classes[t], cls)) k = (long)t;
    if (split && si < 0) {
        reply_error(r, 422, "unprocessable", "query parameter 'split': no split '%s'", split);
    } else if (cls && k < 0) {
        reply_error(r, 422, "unprocessable", "query parameter 'class': no class '%s'", cls);
    } else if (by && strcmp(by, "accuracy") && strcmp(by, "fidelity")) {
        reply_error(r, 422, "unprocessable", "query parameter 'by': accuracy or fidelity");
    } else if (req_query_int_or_reply(r, "limit", 1, 100000, 100000, &limit)) {
        err e = {0};
        json_t *j = ss_whatif_concepts_json(p, &v, si, k, by, limit, &e);
        reply_json_or_err(r, 200, j, &e);
    }
    ss_problem_release(p);
    ss_version_free(&v);
}
