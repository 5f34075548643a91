/* data_sweep.c — see data_sweep.h. */
#include "data_sweep.h"

#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

/* nftw passes no user pointer: one sweep at a time per process is all `serve` does. */
static _Thread_local time_t newest;
static _Thread_local long long tree_bytes;

static int note_entry(const char *path, const struct stat *st, int flag, struct FTW *f) {
    (void)path, (void)flag, (void)f;
    if (st->st_mtime > newest) newest = st->st_mtime;
    if (S_ISREG(st->st_mode)) tree_bytes += st->st_size;
    return 0;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *f) {
    (void)st, (void)flag, (void)f;
    return remove(path) ? -1 : 0;
}

/* Remove path (a file or a whole folder) when nothing in it changed for min_age_s. */
static void sweep_one(const char *path, time_t cutoff, data_sweep_report *r) {
    newest = 0;
    tree_bytes = 0;
    if (nftw(path, note_entry, 16, FTW_PHYS)) return; /* gone meanwhile */
    if (newest > cutoff) return;
    if (nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS)) {
        log_warn("sweep: cannot remove %s: %s", path, strerror(errno));
        r->failed++;
        return;
    }
    log_info("sweep: removed %s (%lld bytes, untouched since %ld s)", path, tree_bytes, (long)(time(NULL) - newest));
    r->removed++;
    r->bytes += tree_bytes;
}

static int kept(const char *path, const char *const *keep, size_t nkeep) {
    for (size_t i = 0; i < nkeep; i++)
        if (keep[i] && !strcmp(keep[i], path)) return 1;
    return 0;
}

/* Entries of dir whose names start with prefix (any name with prefix ""), except
 * dot-entries when prefix is "" and those in keep. */
static void sweep_dir(const char *dir, const char *prefix, time_t cutoff, const char *const *keep, size_t nkeep,
                      data_sweep_report *r) {
    DIR *d = opendir(dir);
    if (!d) return;
    size_t np = strlen(prefix);
    for (struct dirent *de; (de = readdir(d));) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
        if (np ? strncmp(de->d_name, prefix, np) : de->d_name[0] == '.') continue;
        char path[PATH_MAX];
        if (snprintf(path, sizeof path, "%s/%s", dir, de->d_name) >= (int)sizeof path) continue;
        if (kept(path, keep, nkeep)) continue;
        sweep_one(path, cutoff, r);
    }
    closedir(d);
}

int data_sweep(const char *data_dir, long min_age_s, const char *const *keep, size_t nkeep, data_sweep_report *out,
               err *e) {
    memset(out, 0, sizeof *out);
    struct stat sb;
    if (stat(data_dir, &sb) || !S_ISDIR(sb.st_mode))
        return err_set(e, ERR_IO, "sweep: cannot read the data folder %s", data_dir);
    const time_t cutoff = time(NULL) - min_age_s;
    char dir[PATH_MAX];
    /* Blob temporaries: in blobs/ (streamed puts) and in each fan-out folder. */
    snprintf(dir, sizeof dir, "%s/blobs", data_dir);
    sweep_dir(dir, ".tmp-", cutoff, NULL, 0, out);
    DIR *d = opendir(dir);
    if (d) {
        for (struct dirent *de; (de = readdir(d));) {
            if (strlen(de->d_name) != 2 || de->d_name[0] == '.') continue;
            char fan[PATH_MAX];
            if (snprintf(fan, sizeof fan, "%s/%s", dir, de->d_name) >= (int)sizeof fan) continue;
            sweep_dir(fan, ".tmp-", cutoff, NULL, 0, out);
        }
        closedir(d);
    }
    snprintf(dir, sizeof dir, "%s/tmp", data_dir);
    sweep_dir(dir, "upload-", cutoff, NULL, 0, out);
    sweep_dir(dir, "model-", cutoff, NULL, 0, out);
    snprintf(dir, sizeof dir, "%s/uploads", data_dir);
    sweep_dir(dir, "", cutoff, keep, nkeep, out);
    return 0;
}
