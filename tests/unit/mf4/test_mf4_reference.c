/*
 * test_mf4_reference.c - for every sample file in tests/data/mf4, `mf4dump --json FILE`
 * must equal asammdf 8.0.0's reference (EXPECTED_asammdf_8.0.0.json): every key present on
 * both sides, strings and counts exactly, integer statistics exactly, float statistics
 * within 1e-9 relative.
 *
 * Usage: test-mf4-reference MF4DUMP DATA_DIR
 */
#include "../../wsm_test.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <sys/wait.h>

static const char *mf4dump;
static const char *datadir;

static char *slurp_cmd(const char *cmd, int *status)
{
    FILE *p = popen(cmd, "r");
    if (!p)
        return NULL;
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    size_t k;
    while (buf && (k = fread(buf + len, 1, cap - len - 1, p)) > 0) {
        len += k;
        if (cap - len < 2) {
            cap *= 2;
            buf = realloc(buf, cap);
        }
    }
    *status = pclose(p);
    if (buf)
        buf[len] = 0;
    return buf;
}

static char *slurp_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    if (b && fread(b, 1, (size_t)n, f) != (size_t)n) {
        free(b);
        b = NULL;
    }
    if (b)
        b[n] = 0;
    fclose(f);
    return b;
}

static int mismatches;

static void fail_at(const char *path, const char *what)
{
    mismatches++;
    if (mismatches <= 40)
        fprintf(stderr, "  mismatch at %s: %s\n", path, what);
}

static int is_int_dtype(const char *dt)
{
    return dt && (strncmp(dt, "uint", 4) == 0 || strncmp(dt, "int", 3) == 0 ||
                  strncmp(dt, ">u", 2) == 0 || strncmp(dt, ">i", 2) == 0);
}

/* exact: integer semantics (counts, indexes, integer-typed statistics) */
static void compare(const cJSON *got, const cJSON *exp, const char *path, int exact)
{
    char sub[1024], msg[512];
    if (cJSON_IsObject(exp)) {
        if (!cJSON_IsObject(got)) {
            fail_at(path, "not an object");
            return;
        }
        const cJSON *dt = cJSON_GetObjectItemCaseSensitive(exp, "dtype");
        int int_stats = cJSON_IsString(dt) && is_int_dtype(dt->valuestring);
        const cJSON *e;
        cJSON_ArrayForEach(e, exp)
        {
            snprintf(sub, sizeof sub, "%s.%s", path, e->string);
            const cJSON *g = cJSON_GetObjectItemCaseSensitive(got, e->string);
            if (!g) {
                fail_at(sub, "missing");
                continue;
            }
            int ex = strcmp(e->string, "n") == 0 || strcmp(e->string, "index") == 0 ||
                     strcmp(e->string, "cycles") == 0 || strcmp(e->string, "shape") == 0 ||
                     (int_stats && strcmp(e->string, "sum") != 0);
            compare(g, e, sub, ex);
        }
        cJSON_ArrayForEach(e, got)
        {
            if (!cJSON_GetObjectItemCaseSensitive(exp, e->string)) {
                snprintf(sub, sizeof sub, "%s.%s", path, e->string);
                fail_at(sub, "unexpected key");
            }
        }
    } else if (cJSON_IsArray(exp)) {
        int n = cJSON_GetArraySize(exp);
        if (!cJSON_IsArray(got) || cJSON_GetArraySize(got) != n) {
            fail_at(path, "array length differs");
            return;
        }
        for (int i = 0; i < n; i++) {
            snprintf(sub, sizeof sub, "%s[%d]", path, i);
            compare(cJSON_GetArrayItem(got, i), cJSON_GetArrayItem(exp, i), sub, exact);
        }
    } else if (cJSON_IsNumber(exp)) {
        if (!cJSON_IsNumber(got)) {
            fail_at(path, "not a number");
            return;
        }
        double a = got->valuedouble, b = exp->valuedouble;
        int ok = exact ? a == b : (a == b || fabs(a - b) <= 1e-9 * fmax(fabs(a), fabs(b)));
        if (!ok) {
            snprintf(msg, sizeof msg, "%.17g != expected %.17g", a, b);
            fail_at(path, msg);
        }
    } else if (cJSON_IsString(exp)) {
        if (!cJSON_IsString(got) || strcmp(got->valuestring, exp->valuestring) != 0) {
            snprintf(msg, sizeof msg, "\"%.200s\" != expected \"%.200s\"",
                     cJSON_IsString(got) ? got->valuestring : "(not a string)", exp->valuestring);
            fail_at(path, msg);
        }
    } else if (!cJSON_Compare(got, exp, 1)) {
        fail_at(path, "value differs");
    }
}

TEST(every_sample_matches_asammdf)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/EXPECTED_asammdf_8.0.0.json", datadir);
    char *text = slurp_file(path);
    CHECK(text != NULL);
    if (!text)
        return;
    cJSON *ref = cJSON_Parse(text);
    free(text);
    CHECK(ref != NULL);
    const cJSON *files = cJSON_GetObjectItemCaseSensitive(ref, "files");
    CHECK(cJSON_GetArraySize(files) == 6);
    const cJSON *fe;
    cJSON_ArrayForEach(fe, files)
    {
        char cmd[8192];
        snprintf(cmd, sizeof cmd, "'%s' --json '%s/%s'", mf4dump, datadir, fe->string);
        int status = -1;
        char *out = slurp_cmd(cmd, &status);
        CHECK_EQ_INT(status, 0);
        cJSON *got = out ? cJSON_Parse(out) : NULL;
        CHECK(got != NULL);
        int before = mismatches;
        if (got)
            compare(got, fe, fe->string, 0);
        if (mismatches != before)
            fprintf(stderr, "%s: %d mismatches\n", fe->string, mismatches - before);
        CHECK_EQ_INT(mismatches - before, 0);
        cJSON_Delete(got);
        free(out);
    }
    cJSON_Delete(ref);
}

TEST(mf4dump_errors_have_exit_codes)
{
    char cmd[8192];
    int status;
    char *out;
    snprintf(cmd, sizeof cmd, "'%s' --json /nonexistent/file.mf4 2>/dev/null", mf4dump);
    out = slurp_cmd(cmd, &status);
    CHECK_EQ_INT(WEXITSTATUS(status), 2);
    free(out);
    snprintf(cmd, sizeof cmd, "'%s' --json '%s/SOURCES.md' 2>/dev/null", mf4dump, datadir);
    out = slurp_cmd(cmd, &status);
    CHECK_EQ_INT(WEXITSTATUS(status), 3);
    free(out);
    snprintf(cmd, sizeof cmd, "'%s' --bogus 2>/dev/null", mf4dump);
    out = slurp_cmd(cmd, &status);
    CHECK_EQ_INT(WEXITSTATUS(status), 1);
    free(out);
    snprintf(cmd, sizeof cmd, "'%s' --csv '%s/Vector_CANape.MF4' --group 7 2>/dev/null", mf4dump,
             datadir);
    out = slurp_cmd(cmd, &status);
    CHECK_EQ_INT(WEXITSTATUS(status), 6);
    free(out);
    snprintf(cmd, sizeof cmd,
             "'%s' --csv '%s/Vector_CANape.MF4' --group 0 --channels nope 2>/dev/null", mf4dump,
             datadir);
    out = slurp_cmd(cmd, &status);
    CHECK_EQ_INT(WEXITSTATUS(status), 6);
    free(out);
    /* a truncated copy: corrupt/truncated exit code */
    snprintf(cmd, sizeof cmd,
             "t=$(mktemp) && head -c 20000 '%s/Vector_CANape.MF4' > $t && '%s' --json $t "
             ">/dev/null 2>&1; rc=$?; rm -f $t; exit $rc",
             datadir, mf4dump);
    out = slurp_cmd(cmd, &status);
    CHECK_EQ_INT(WEXITSTATUS(status), 4);
    free(out);
}

TEST(mf4dump_csv)
{
    char cmd[8192];
    int status;
    snprintf(cmd, sizeof cmd,
             "'%s' --csv '%s/Vector_CANape.MF4' --group 0 --channels dwordCounter,Triangle",
             mf4dump, datadir);
    char *out = slurp_cmd(cmd, &status);
    CHECK_EQ_INT(status, 0);
    CHECK(out != NULL);
    if (!out)
        return;
    /* header + 102 rows; first row from the reference: t 0.02022, 124637, 37 */
    CHECK(strncmp(out, "t,dwordCounter,Triangle\n0.02022", 31) == 0);
    CHECK(strstr(out, ",124637,37\n") != NULL);
    int lines = 0;
    for (char *p = out; *p; p++)
        lines += *p == '\n';
    CHECK_EQ_INT(lines, 103);
    free(out);
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s MF4DUMP DATA_DIR\n", argv[0]);
        return 2;
    }
    mf4dump = argv[1];
    datadir = argv[2];
    RUN(every_sample_matches_asammdf);
    RUN(mf4dump_errors_have_exit_codes);
    RUN(mf4dump_csv);
    return TEST_DONE();
}
