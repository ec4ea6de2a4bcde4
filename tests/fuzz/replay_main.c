/*
 * Replays files through a fuzz target without libFuzzer, so that every build (gcc included)
 * runs the corpus through it with the target's property checks.
 *
 *   <target>_replay [--valid | --invalid | --any] PATH...
 *
 * PATH is a file or a directory (its files, in name order). After --valid every file must
 * be accepted; after --invalid every file must be refused; --any (the default) accepts either.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz_target.h"

enum expect { ANY, VALID, INVALID };

static int failures, files;

static void replay_file(const char *path, enum expect want)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "%s: cannot open\n", path);
        failures++;
        return;
    }
    size_t cap = 1 << 16, n = 0;
    unsigned char *buf = malloc(cap);
    size_t got;
    while (buf && (got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap)
            buf = realloc(buf, cap *= 2);
    }
    fclose(f);
    if (buf == NULL) {
        fprintf(stderr, "%s: out of memory\n", path);
        failures++;
        return;
    }
    LLVMFuzzerTestOneInput(buf, n);
    free(buf);
    files++;
    int rc = fuzz_last_rc;
    if ((want == VALID && rc != 0) || (want == INVALID && rc == 0)) {
        fprintf(stderr, "%s: the target returned %d, expected %s\n", path, rc,
                want == VALID ? "success" : "a refusal");
        failures++;
    }
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void replay_dir(const char *dir, enum expect want)
{
    DIR *d = opendir(dir);
    if (d == NULL) {
        fprintf(stderr, "%s: cannot open\n", dir);
        failures++;
        return;
    }
    char **names = NULL;
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        names = realloc(names, sizeof(*names) * (n + 1));
        names[n++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof(*names), by_name);
    for (size_t i = 0; i < n; i++) {
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        replay_file(path, want);
        free(names[i]);
    }
    free(names);
}

int main(int argc, char **argv)
{
    enum expect want = ANY;
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (strcmp(argv[i], "--valid") == 0)
            want = VALID;
        else if (strcmp(argv[i], "--invalid") == 0)
            want = INVALID;
        else if (strcmp(argv[i], "--any") == 0)
            want = ANY;
        else if (stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode))
            replay_dir(argv[i], want);
        else
            replay_file(argv[i], want);
    }
    printf("replayed %d files, %d failures\n", files, failures);
    return failures == 0 && files > 0 ? 0 : 1;
}
