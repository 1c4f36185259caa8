/*
 * bench_mf4.c - libmf4 decode throughput and peak memory.
 *
 * Writes a file of N records x 7 channels with libmf4's writer (time f64, speed u16 with a
 * linear conversion, range/rel-speed f32 with invalidation bits, i32, u8, f64), once
 * uncompressed (DT) and once with transposed-deflate DZ blocks, then measures in the same run,
 * each in a fresh child process (so peak RSS is per phase):
 *   seq:    a plain sequential read() of the file (the baseline: bytes off the page cache)
 *   decode: mf4_open + mf4_reader over all 7 channels (raw + physical values), batch 65536
 *   zlib:   for the DZ file, zlib's own inflate of every DZ block (the compression baseline)
 * Each phase runs --runs times (rounds interleaved: seq, decode, ..., zlib, then again), and
 * the table shows medians of wall time and of the phase's own CPU time (user + system of
 * the child, measured around the phase only): the machine is shared, so CPU time is the
 * steadier figure and the ratios are given for both. Peak RSS is the largest of the runs.
 * Prints a table and one JSON line with the ratios. Target (issue 4): decode >= 1 GB/s from an
 * uncompressed file in page cache, DZ decode within 1.5x of zlib's inflate time, peak RSS
 * independent of file size.
 *
 * Usage: bench-mf4 [--records N] [--dir DIR] [--runs N] [--smoke] [--keep]
 *        --records N: records per file (default 2000000; 67108864 writes two ~2 GiB files)
 *        --dir DIR: where to write the files (default: a new directory under /tmp)
 *        --runs N: runs of every phase, medians reported (default 5)
 *        --keep: leave the two files in DIR.
 *        --smoke: 20000 records, one run, checks the values read back, no timing claims.
 */
#include "mf4.h"

#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#define NCH 7

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* CPU time (user + system) of this process so far. */
static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int write_file(const char *path, uint64_t n, int compress)
{
    mf4_writer *w;
    mf4_error e;
    if (mf4_writer_open(&w, path, NULL, &e)) {
        fprintf(stderr, "bench-mf4: %s\n", e.message);
        return -1;
    }
    double lin[2] = {0, 0.01};
    mf4_wchannel ch[NCH] = {
        {.name = "t", .unit = "s", .type = MF4_W_F64},
        {.name = "speed",
         .unit = "km/h",
         .type = MF4_W_U16,
         .conv = {.type = MF4_CONV_LINEAR, .n_params = 2, .params = lin}},
        {.name = "range", .unit = "m", .type = MF4_W_F32, .invalidation = true},
        {.name = "rel_speed", .unit = "m/s", .type = MF4_W_F32, .invalidation = true},
        {.name = "counter", .type = MF4_W_I32},
        {.name = "state", .type = MF4_W_U8},
        {.name = "accel", .unit = "m/s^2", .type = MF4_W_F64},
    };
    mf4_wgroup g = {.acq_name = "100 Hz", .channels = ch, .n_channels = NCH, .compress = compress};
    if (mf4_writer_begin_group(w, &g, &e)) {
        fprintf(stderr, "bench-mf4: %s\n", e.message);
        mf4_writer_abort(w);
        return -1;
    }
    for (uint64_t i = 0; i < n; i++) {
        double t = i * 0.01;
        double v[NCH] = {t,
                         (double)((i * 7) % 20000),
                         50.0 + 40.0 * sin(t * 0.1),
                         -3.0 + (double)(i % 600) * 0.01,
                         (double)(int32_t)(i * 2654435761u),
                         (double)(i % 6),
                         0.5 * cos(t)};
        uint8_t ok[NCH] = {1, 1, i % 50 != 0, i % 50 != 0, 1, 1, 1};
        if (mf4_writer_record(w, v, ok, &e)) {
            fprintf(stderr, "bench-mf4: %s\n", e.message);
            mf4_writer_abort(w);
            return -1;
        }
    }
    if (mf4_writer_close(w, &e)) {
        fprintf(stderr, "bench-mf4: %s\n", e.message);
        return -1;
    }
    return 0;
}

typedef struct result {
    double seconds;
    double cpu;   /* CPU seconds of the phase */
    double check; /* a value derived from what was read, so nothing is optimised away */
    uint64_t values;
    uint64_t bytes; /* bytes processed (inflated bytes for zlib) */
    long maxrss_kb;
    int ok;
} result;

static void phase_seq(const char *path, result *r)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return;
    size_t cap = 1 << 20;
    unsigned char *b = malloc(cap);
    double t0 = now();
    ssize_t k;
    uint64_t x = 0;
    while ((k = read(fd, b, cap)) > 0) {
        for (ssize_t i = 0; i < k; i += 4096)
            x += b[i];
        r->bytes += (uint64_t)k;
    }
    r->seconds = now() - t0;
    r->check = (double)x;
    r->ok = k == 0;
    free(b);
    close(fd);
}

static void phase_decode(const char *path, result *r, int verify)
{
    mf4_file *f;
    mf4_error e;
    double t0 = now();
    if (mf4_open(&f, path, &e)) {
        fprintf(stderr, "bench-mf4: %s\n", e.message);
        return;
    }
    size_t sel[NCH] = {0, 1, 2, 3, 4, 5, 6};
    mf4_reader *rd;
    if (mf4_reader_open(&rd, f, 0, sel, NCH, 65536, &e)) {
        fprintf(stderr, "bench-mf4: %s\n", e.message);
        mf4_close(f);
        return;
    }
    size_t n;
    double acc = 0;
    uint64_t rec = 0;
    int bad = 0, rc;
    e.message[0] = 0;
    while ((rc = mf4_reader_next(rd, &n, &e)) == MF4_OK && n > 0) {
        /* the columns are the product: touch them lightly so that the time is the
         * library's, not a consumer loop's */
        for (int k = 0; k < NCH; k++) {
            const mf4_column *c = mf4_reader_column(rd, (size_t)k);
            acc += c->phys[0] + c->phys[n - 1] + c->valid[n / 2];
        }
        if (verify) {
            const mf4_column *sp = mf4_reader_column(rd, 1), *rg = mf4_reader_column(rd, 2);
            for (size_t i = 0; i < n; i++) {
                uint64_t j = rec + i;
                if (fabs(sp->phys[i] - (double)((j * 7) % 20000) * 0.01) > 1e-9)
                    bad = 1;
                if (rg->valid[i] != (j % 50 != 0))
                    bad = 1;
            }
        }
        rec += n;
        r->values += n * NCH;
    }
    r->seconds = now() - t0;
    r->bytes = mf4_info(f)->file_size;
    r->check = acc;
    r->ok = rc == MF4_OK && rec == mf4_group_at(f, 0)->cycles && !bad;
    if (!r->ok)
        fprintf(stderr, "bench-mf4: decode failed or wrong values (%s)\n", e.message);
    mf4_reader_free(rd);
    mf4_close(f);
}

/* zlib baseline: inflate every ##DZ block of the file with zlib's uncompress(), walking the
 * block chain the writer laid out (each block starts at the 8-aligned end of the previous one)
 * and reading each block with pread, so memory is one block, like the decoder's. */
static void phase_zlib(const char *path, result *r)
{
    int fd = open(path, O_RDONLY);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0)
        return;
    uint64_t size = (uint64_t)st.st_size;
    unsigned char *in = NULL, *out = NULL;
    size_t icap = 0, ocap = 0;
    double t0 = now();
    uint64_t x = 0;
    uint64_t off = 64;
    while (off + 24 <= size) {
        unsigned char h[48];
        if (pread(fd, h, 24, (off_t)off) != 24 || h[0] != '#' || h[1] != '#')
            break;
        uint64_t len;
        memcpy(&len, h + 8, 8);
        if (len < 24 || len > size - off)
            break;
        if (h[2] == 'D' && h[3] == 'Z' && len >= 48 && pread(fd, h, 48, (off_t)off) == 48) {
            uint64_t org, clen;
            memcpy(&org, h + 32, 8);
            memcpy(&clen, h + 40, 8);
            if (clen <= len - 48) {
                if (clen > icap) {
                    icap = (size_t)clen;
                    in = realloc(in, icap);
                }
                if (org > ocap) {
                    ocap = (size_t)org;
                    out = realloc(out, ocap);
                }
                uLongf ol = (uLongf)org;
                if (pread(fd, in, (size_t)clen, (off_t)(off + 48)) == (ssize_t)clen &&
                    uncompress(out, &ol, in, (uLong)clen) == Z_OK) {
                    x += out[ol / 2];
                    r->bytes += ol;
                }
            }
        }
        off = (off + len + 7) & ~(uint64_t)7;
    }
    r->seconds = now() - t0;
    r->check = (double)x;
    r->ok = r->bytes > 0;
    free(in);
    free(out);
    close(fd);
}

/* Runs a phase in a child process; returns its result with the child's peak RSS. */
static result run_child(int phase, const char *path, int verify)
{
    result r;
    memset(&r, 0, sizeof r);
    int pfd[2];
    if (pipe(pfd) != 0)
        return r;
    pid_t pid = fork();
    if (pid == 0) {
        close(pfd[0]);
        double c0 = cpu_now();
        if (phase == 0)
            phase_seq(path, &r);
        else if (phase == 1)
            phase_decode(path, &r, verify);
        else
            phase_zlib(path, &r);
        r.cpu = cpu_now() - c0;
        ssize_t w = write(pfd[1], &r, sizeof r);
        _exit(w == (ssize_t)sizeof r ? 0 : 1);
    }
    close(pfd[1]);
    ssize_t k = read(pfd[0], &r, sizeof r);
    close(pfd[0]);
    int status;
    struct rusage ru;
    wait4(pid, &status, 0, &ru);
    if (k != (ssize_t)sizeof r || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
        r.ok = 0;
    r.maxrss_kb = ru.ru_maxrss;
    return r;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Median of v[0..n) (sorts v). */
static double median_of(double *v, int n)
{
    qsort(v, (size_t)n, sizeof v[0], cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Median wall and CPU seconds of n results (each sorted on its own), largest peak RSS. */
static result median(const result *rs, int n)
{
    double w[99], c[99];
    result m = rs[0];
    for (int i = 0; i < n; i++) {
        w[i] = rs[i].seconds;
        c[i] = rs[i].cpu;
        if (rs[i].maxrss_kb > m.maxrss_kb)
            m.maxrss_kb = rs[i].maxrss_kb;
    }
    m.seconds = median_of(w, n);
    m.cpu = median_of(c, n);
    return m;
}

static void warm(const char *path)
{
    result r;
    memset(&r, 0, sizeof r);
    phase_seq(path, &r); /* into the page cache */
}

int main(int argc, char **argv)
{
    uint64_t n = 2000000;
    const char *dir = NULL;
    int smoke = 0, keep = 0, runs = 5;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--records") == 0 && i + 1 < argc)
            n = strtoull(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc)
            dir = argv[++i];
        else if (strcmp(argv[i], "--runs") == 0 && i + 1 < argc)
            runs = atoi(argv[++i]);
        else if (strcmp(argv[i], "--smoke") == 0)
            smoke = 1;
        else if (strcmp(argv[i], "--keep") == 0)
            keep = 1;
        else {
            fprintf(stderr, "usage: bench-mf4 [--records N] [--dir DIR] [--runs N] [--smoke] "
                            "[--keep]\n"
                            "  --records N  records per file (default 2000000; 67108864 makes "
                            "two ~2 GiB files)\n"
                            "  --dir DIR    where the files go (default: a new /tmp directory)\n"
                            "  --runs N     runs of every phase, medians reported (default 5)\n"
                            "  --keep       leave the files in DIR\n"
                            "  --smoke      20000 records, one run, values checked, no timing\n");
            return strcmp(argv[i], "--help") == 0 ? 0 : 2;
        }
    }
    if (smoke) {
        n = 20000;
        runs = 1;
    }
    if (runs < 1 || runs > 99)
        runs = 5;
    char tmpl[] = "/tmp/bench-mf4-XXXXXX";
    char own[4096];
    if (!dir) {
        if (!mkdtemp(tmpl)) {
            perror("mkdtemp");
            return 1;
        }
        dir = tmpl;
    }
    char dt_path[4200], dz_path[4200];
    snprintf(dt_path, sizeof dt_path, "%s/bench_dt.mf4", dir);
    snprintf(dz_path, sizeof dz_path, "%s/bench_dz.mf4", dir);
    snprintf(own, sizeof own, "%s", dir);
    double t0 = now();
    if (write_file(dt_path, n, 0) || write_file(dz_path, n, 1))
        return 1;
    double wsec = now() - t0;
    struct stat s1, s2;
    stat(dt_path, &s1);
    stat(dz_path, &s2);
    warm(dt_path);
    warm(dz_path);
    /* rounds of the five phases, interleaved so that a busy moment of the machine hits them
     * all alike; then the median of each */
    result all[5][99];
    int ok = 1;
    for (int k = 0; k < runs; k++) {
        all[0][k] = run_child(0, dt_path, 0);
        all[1][k] = run_child(1, dt_path, smoke);
        all[2][k] = run_child(0, dz_path, 0);
        all[3][k] = run_child(1, dz_path, smoke);
        all[4][k] = run_child(2, dz_path, 0);
        for (int p = 0; p < 5; p++)
            ok = ok && all[p][k].ok;
    }
    result med[5];
    for (int p = 0; p < 5; p++)
        med[p] = median(all[p], runs);
    result seq = med[0], dec = med[1], seqz = med[2], decz = med[3], zl = med[4];
    double mb = 1e6;
    printf("bench-mf4: %" PRIu64 " records x %d channels (writer: both files in %.2f s), "
           "median of %d runs\n",
           n, NCH, wsec, runs);
    printf("%-24s %8s %8s %8s %9s %9s %10s %9s\n", "phase", "file MB", "wall s", "cpu s", "MB/s",
           "MB/s cpu", "values/s", "peak RSS");
#define ROW(name, fmb, r, bytes, values)                                                           \
    printf("%-24s %8.1f %8.4f %8.4f %9.0f %9.0f %10.3g %6ld MB\n", name, fmb, (r).seconds,         \
           (r).cpu, (bytes) / mb / (r).seconds, (bytes) / mb / (r).cpu,                            \
           (values) ? (values) / (r).seconds : 0.0, (r).maxrss_kb / 1024)
    ROW("DT sequential read()", s1.st_size / mb, seq, (double)s1.st_size, 0.0);
    ROW("DT decode (7 ch, phys)", s1.st_size / mb, dec, (double)s1.st_size, (double)dec.values);
    ROW("DZ sequential read()", s2.st_size / mb, seqz, (double)s2.st_size, 0.0);
    ROW("DZ zlib inflate only", s2.st_size / mb, zl, (double)zl.bytes, 0.0);
    ROW("DZ decode (7 ch, phys)", s2.st_size / mb, decz, (double)s1.st_size, (double)decz.values);
#undef ROW
    printf("(DZ MB/s count uncompressed bytes; values/s by wall time; peak RSS is each phase's "
           "own child process, the largest of the runs)\n");
    printf("ratios (wall / cpu): DT decode vs read() %.3f / %.3f, DZ decode vs zlib inflate "
           "%.3f / %.3f\n",
           dec.seconds / seq.seconds, dec.cpu / seq.cpu, decz.seconds / zl.seconds,
           decz.cpu / zl.cpu);
    printf(
        "{\"bench\": \"mf4\", \"records\": %" PRIu64 ", \"channels\": %d, \"runs\": %d, "
        "\"ok\": %s, \"dt_file_mb\": %.1f, \"seq_read_mb_s\": %.0f, \"decode_mb_s\": %.0f, "
        "\"decode_mb_s_cpu\": %.0f, \"decode_values_s\": %.4g, \"decode_time_vs_seq_read\": %.3f, "
        "\"decode_time_vs_seq_read_cpu\": %.3f, \"decode_peak_rss_mb\": %ld, \"dz_file_mb\": %.1f, "
        "\"zlib_inflate_s\": %.4f, \"zlib_inflate_cpu_s\": %.4f, \"dz_decode_s\": %.4f, "
        "\"dz_decode_cpu_s\": %.4f, \"dz_decode_vs_zlib\": %.3f, \"dz_decode_vs_zlib_cpu\": "
        "%.3f, \"dz_decode_peak_rss_mb\": %ld}\n",
        n, NCH, runs, ok ? "true" : "false", s1.st_size / mb, s1.st_size / mb / seq.seconds,
        s1.st_size / mb / dec.seconds, s1.st_size / mb / dec.cpu, dec.values / dec.seconds,
        dec.seconds / seq.seconds, dec.cpu / seq.cpu, dec.maxrss_kb / 1024, s2.st_size / mb,
        zl.seconds, zl.cpu, decz.seconds, decz.cpu, decz.seconds / zl.seconds, decz.cpu / zl.cpu,
        decz.maxrss_kb / 1024);
    if (!keep) {
        unlink(dt_path);
        unlink(dz_path);
    }
    if (dir == tmpl && !keep)
        rmdir(own);
    return ok ? 0 : 1;
}
