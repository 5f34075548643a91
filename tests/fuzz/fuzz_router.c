/* fuzz_router — router_match over the real route table (decoded paths from the
 * network), plus static_resolve / static_mime_type for the static web page.
 * Input: "<method>\n<path>" (method optional). */
#include "fuzz_common.h"
#include <limits.h>
#include <sys/stat.h>
#include "routes.h"
#include "static_files.h"

static char root[PATH_MAX];

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    const char *d = fz_tmpdir();
    snprintf(root, sizeof root, "%s/static", d);
    mkdir(root, 0700);
    char p[PATH_MAX];
    snprintf(p, sizeof p, "%s/static/index.html", d);
    FILE *f = fopen(p, "w");
    if (f) fclose(f);
    snprintf(p, sizeof p, "%s/static/js", d);
    mkdir(p, 0700);
    snprintf(p, sizeof p, "%s/static/js/app.js", d);
    f = fopen(p, "w");
    if (f) fclose(f);
    snprintf(p, sizeof p, "%s/secret", d);
    f = fopen(p, "w");
    if (f) fclose(f);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *s = fz_cstr(data, size);
    const char *method = "GET", *path = s;
    char *nl = memchr(s, '\n', size);
    if (nl) {
        *nl = 0;
        method = s;
        path = nl + 1;
    }
    size_t plen = strlen(path);
    char *scratch = malloc(plen + 1);
    const route *rt = NULL;
    const char *params[REQ_MAX_PARAMS];
    int np = 0;
    char allow[128];
    route_match_result m = router_match(routes_table(), method, path, scratch, plen + 1, &rt, params, &np,
                                        allow, sizeof allow);
    if (m == ROUTE_FOUND) {
        if (!rt || np < 0 || np > REQ_MAX_PARAMS) abort();
        for (int i = 0; i < np; i++) (void)strlen(params[i]);
    } else if (m == ROUTE_NO_METHOD) {
        (void)strlen(allow);
    }
    free(scratch);
    char out[PATH_MAX];
    if (static_resolve(root, path, out, sizeof out) == 0) {
        if (strncmp(out, root, strlen(root))) abort(); /* escaped the static folder */
        (void)static_mime_type(out);
    }
    free(s);
    return 0;
}
