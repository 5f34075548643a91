/* cmd_routes.c — `inficond routes`: the route table as JSON, one object per
 * route (method, path, role, body). Scripts and the API-description test read it. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "commands.h"
#include "routes.h"

static const char *body_name(body_kind b) {
    return b == BODY_JSON ? "json" : b == BODY_FILE ? "file" : "none";
}

int cmd_routes(int argc, char **argv) {
    if (argc > 1 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        printf("Usage: inficond routes\n\nPrints the REST API's route table as a JSON array:\n"
               "method, path, the role each needs, its body kind and summary.\n");
        return 0;
    }
    json_t *out = json_array();
    for (const route *r = routes_table(); r->method; r++)
        json_array_append_new(out, json_pack("{s:s,s:s,s:s,s:s,s:s}", "method", r->method, "path",
                                             r->pattern, "role", role_name(r->min_role), "body",
                                             body_name(r->body), "summary", r->summary));
    char *s = json_dumps(out, JSON_INDENT(1));
    json_decref(out);
    if (!s) return 1;
    puts(s);
    free(s);
    return 0;
}
