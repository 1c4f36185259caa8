/*
 * supervisor.c - starts, restarts and stops the services declared in mesh.json (`services`),
 * on the hub's libuv loop: uv_spawn for the processes, uv_pipe for their stdout/stderr (each
 * line is written to the hub's stderr prefixed with `name[i]`), uv_timer for the restart
 * backoff and the SIGKILL deadline, uv_signal to begin the stop with the hub's drain.
 *
 * Per instance:
 *
 *     start ──spawn──► RUNNING ──exit──► policy says restart? ──yes──► BACKOFF ──timer──► spawn
 *                         │                    │ no                       (delay doubles from
 *                         │                    ▼                        0.25 s to 30 s; reset
 *                         │                 STOPPED                     after 10 s of running)
 *                         └─ stop: SIGTERM (SIGKILL after stop_timeout) ─► exit ─► STOPPED
 *
 * Policies: always (restart after any exit), on-failure (after a non-zero exit status or a
 * signal), never.
 *
 * Invariants:
 *  - args and env values may use ${VAR} or ${VAR:-default} (the hub's environment, expanded
 *    once at start; an unset VAR without default is a startup error naming it).
 *  - Every child gets WSMESH_URL (this hub, with the bound port), WSMESH_SERVICE (name) and
 *    WSMESH_INSTANCE (`name[i]`), then the service's own env (which wins), and runs in the
 *    config's base dir (so ./var/... means the same place for the hub and its services).
 *  - Children are started through setpriv --pdeathsig KILL when /usr/bin/setpriv exists, so a
 *    hub that dies (even by SIGKILL) takes its children with it and a restarted hub never finds
 *    a previous generation still connected.
 *  - While the hub runs every supervisor handle is unreferenced; once `stopping` is set no child
 *    is ever spawned again; supervisor_shutdown returns only when every handle is closed.
 *  - A run (sv_run) owns the process handle and both pipes; it stays on sv->runs until all
 *    three are closed, which may be after the instance already has a new run (a helper the
 *    child started may hold its pipes). At shutdown, pipes still open SV_PIPE_GRACE ms after
 *    the last child exited are closed.
 *  - Each child leads its own process group (UV_PROCESS_DETACHED): SIGTERM/SIGKILL go to the
 *    group, so helpers it started stop with it.
 */
#include "supervisor.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern char **environ;

#define SV_BACKOFF_MIN 0.25 /* s before the first restart */
#define SV_BACKOFF_MAX 30.0 /* s, cap of the doubling */
#define SV_RESET_AFTER 10.0 /* s of running that reset the backoff */
#define SV_LINE_MAX    8192 /* longer output lines are cut into pieces of this size */
#define SV_SETPRIV     "/usr/bin/setpriv"
#define SV_PIPE_GRACE  200 /* ms after the last exit before pipes still open are closed */

typedef struct sv_inst sv_inst;

typedef struct sv_run {
    struct sv_run *prev, *next; /* supervisor's list of runs with open handles */
    sv_inst *inst;
    bool exited;
    uv_process_t proc;
    uv_pipe_t pipes[2]; /* child's stdout, stderr */
    int open;           /* handles of this run not yet closed */
    int64_t started_ms;
    int pid;
    size_t llen[2];
    char line[2][SV_LINE_MAX];
} sv_run;

struct sv_inst {
    supervisor *sv;
    const hubcfg_service *svc;
    int index;
    char label[96];
    sv_run *run; /* the running process, NULL when none */
    uv_timer_t timer;
    double backoff;
    unsigned long restarts;
};

struct supervisor {
    uv_loop_t *loop;
    const hubcfg *cfg;
    char *url;
    double stop_timeout;
    bool use_setpriv;
    size_t n_svc;      /* cfg->n_services (supervisor_free must not read cfg: it may be gone) */
    char **exec_paths; /* resolved, one per service */
    char ***args;      /* per service: args with ${VAR} expanded, NULL-terminated */
    char ***envs;      /* per service: env "K=V" with ${VAR} expanded, NULL-terminated */
    sv_inst *inst;
    size_t n_inst;
    size_t n_running;
    size_t open_handles; /* every supervisor handle not yet closed */
    uv_signal_t sig[2];
    uv_timer_t kill_timer;
    bool started, stopping, killed, shut, grace;
    sv_run *runs;     /* every run whose handles are not all closed */
    char rbuf[65536]; /* read buffer shared by every pipe (reads never interleave) */
};

/* ------------------------------------------------------------------ helpers */

static int64_t now_ms(const supervisor *sv)
{
    return (int64_t)uv_now(sv->loop);
}

static char *dup_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *dup_printf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return NULL;
    char *s = malloc((size_t)n + 1);
    if (!s)
        return NULL;
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}

static bool is_exec(const char *p)
{
    return access(p, X_OK) == 0;
}

/* p when it names an executable, else NULL with p freed (accepts NULL). */
static char *exec_or_free(char *p)
{
    if (p && is_exec(p))
        return p;
    free(p);
    return NULL;
}

/* Directory of the running wshub (from /proc/self/exe) into out; false if unknown. */
static bool self_dir(char *out, size_t n)
{
    size_t len = n;
    if (uv_exepath(out, &len) != 0 || len == 0)
        return false;
    char *slash = strrchr(out, '/');
    if (!slash)
        return false;
    *slash = '\0';
    return true;
}

/* Resolves a service's exec (see supervisor.h). Returns a new string or NULL. */
static char *resolve_exec(const hubcfg *cfg, const char *ex)
{
    if (strchr(ex, '/'))
        return exec_or_free(ex[0] == '/' ? strdup(ex) : dup_printf("%s/%s", cfg->base_dir, ex));
    char *p;
    const char *bin = getenv("WSMESH_BIN_DIR");
    if (bin && *bin && (p = exec_or_free(dup_printf("%s/%s", bin, ex))))
        return p;
    char dir[PATH_MAX];
    if (self_dir(dir, sizeof dir)) {
        /* installed: next to wshub; build tree: src/hub/wshub -> src/{services,tools}/X/X */
        static const char *const sub[] = {"", "/../services/", "/../tools/"};
        for (size_t i = 0; i < sizeof sub / sizeof *sub; i++) {
            p = exec_or_free(i == 0 ? dup_printf("%s/%s", dir, ex)
                                    : dup_printf("%s%s%s/%s", dir, sub[i], ex, ex));
            if (p)
                return p;
        }
    }
    const char *path = getenv("PATH");
    if (path) {
        const char *s = path;
        while (*s) {
            const char *e = strchr(s, ':');
            size_t n = e ? (size_t)(e - s) : strlen(s);
            if (n && (p = exec_or_free(dup_printf("%.*s/%s", (int)n, s, ex))))
                return p;
            s += n + (e ? 1 : 0);
        }
    }
    return NULL;
}

static void free_strv(char **v)
{
    if (!v)
        return;
    for (char **p = v; *p; p++)
        free(*p);
    free(v);
}

/* Expands ${NAME} and ${NAME:-default} in s from the hub's environment ("$$" is "$").
 * Returns a new string; NULL on OOM or when NAME is unset (empty counts as set) and has no
 * default, then *missing (if not NULL) gets a copy of NAME. */
static char *expand(const char *s, char **missing)
{
    size_t cap = strlen(s) + 64, n = 0;
    char *out = malloc(cap);
    if (!out)
        return NULL;
    while (*s) {
        const char *val = NULL;
        size_t vlen = 0, adv = 1;
        char one = *s;
        if (s[0] == '$' && s[1] == '$') {
            adv = 2;
        } else if (s[0] == '$' && s[1] == '{' && strchr(s, '}')) {
            const char *end = strchr(s, '}');
            const char *name = s + 2;
            const char *dflt = strstr(name, ":-");
            size_t nlen = (dflt && dflt < end ? (size_t)(dflt - name) : (size_t)(end - name));
            char nm[256];
            snprintf(nm, sizeof nm, "%.*s", (int)(nlen < 255 ? nlen : 255), name);
            val = getenv(nm);
            if (!val && dflt && dflt < end) {
                val = dflt + 2;
                vlen = (size_t)(end - val);
            } else if (!val) {
                if (missing)
                    *missing = strdup(nm);
                free(out);
                return NULL;
            } else {
                vlen = strlen(val);
            }
            adv = (size_t)(end - s) + 1;
        }
        size_t need = val ? vlen : 1;
        if (n + need + 1 > cap) {
            cap = (n + need + 1) * 2;
            char *nb = realloc(out, cap);
            if (!nb) {
                free(out);
                return NULL;
            }
            out = nb;
        }
        if (val) {
            memcpy(out + n, val, vlen);
            n += vlen;
        } else {
            out[n++] = one;
        }
        s += adv;
    }
    out[n] = '\0';
    return out;
}

/* A NULL-terminated copy of v[0..n) with ${VAR} expanded; NULL with err filled on failure. */
static char **expand_all(char *const *v, size_t n, const char *what, wsm_err *err)
{
    char **out = calloc(n + 1, sizeof *out);
    if (!out) {
        wsm_err_set(err, WSM_E_NOMEM, "out of memory");
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        char *missing = NULL;
        out[i] = expand(v[i], &missing);
        if (!out[i]) {
            if (missing)
                wsm_err_set(err, WSM_E_BAD_FIELD,
                            "%s[%zu]: environment variable %s is not set (write ${%s:-default} "
                            "for a default)",
                            what, i, missing, missing);
            else
                wsm_err_set(err, WSM_E_NOMEM, "out of memory");
            free(missing);
            free_strv(out);
            return NULL;
        }
    }
    return out;
}

/* environ minus the keys set below, then WSMESH_URL/SERVICE/INSTANCE, then the service's env
 * (later entries of the same key replace earlier ones). NULL on OOM. */
static char **make_env(const supervisor *sv, const sv_inst *in)
{
    size_t n_env = 0;
    while (environ[n_env])
        n_env++;
    const hubcfg_service *s = in->svc;
    char **own = calloc(3 + s->n_env + 1, sizeof *own);
    if (!own)
        return NULL;
    size_t n_own = 0;
    own[n_own++] = dup_printf("WSMESH_URL=%s", sv->url);
    own[n_own++] = dup_printf("WSMESH_SERVICE=%s", s->name);
    own[n_own++] = dup_printf("WSMESH_INSTANCE=%s", in->label);
    char **senv = sv->envs[s - sv->cfg->services];
    for (size_t i = 0; i < s->n_env; i++)
        own[n_own++] = strdup(senv[i]);
    for (size_t i = 0; i < n_own; i++)
        if (!own[i]) {
            free_strv(own);
            return NULL;
        }
    char **env = calloc(n_env + n_own + 1, sizeof *env);
    if (!env) {
        free_strv(own);
        return NULL;
    }
    size_t k = 0;
    for (size_t i = 0; i < n_env + n_own; i++) {
        const char *kv = i < n_env ? environ[i] : own[i - n_env];
        size_t klen = strcspn(kv, "=");
        bool later = false;
        for (size_t j = (i < n_env ? 0 : i - n_env + 1); j < n_own && !later; j++)
            later = strncmp(own[j], kv, klen) == 0 && own[j][klen] == '=';
        if (later)
            continue;
        env[k] = strdup(kv);
        if (!env[k]) {
            free_strv(env);
            free_strv(own);
            return NULL;
        }
        k++;
    }
    free_strv(own);
    return env;
}

/* ------------------------------------------------------------------ handles */

static void handle_closed(supervisor *sv)
{
    sv->open_handles--;
}

static void run_handle_closed(uv_handle_t *h)
{
    sv_run *r = h->data;
    supervisor *sv = r->inst->sv;
    handle_closed(sv);
    if (--r->open == 0) {
        if (r->prev)
            r->prev->next = r->next;
        else
            sv->runs = r->next;
        if (r->next)
            r->next->prev = r->prev;
        free(r);
    }
}

/* Sends sig to the child's process group (it leads one: UV_PROCESS_DETACHED), so that helpers
 * it started (which may hold its output pipes) get it too. */
static void signal_run(sv_run *r, int sig)
{
    if (kill(-r->pid, sig) != 0)
        uv_process_kill(&r->proc, sig);
}

static void sv_handle_closed(uv_handle_t *h)
{
    handle_closed(h->data);
}

static void inst_timer_closed(uv_handle_t *h)
{
    sv_inst *in = h->data;
    handle_closed(in->sv);
}

/* ------------------------------------------------------------------ output */

static void emit_line(const sv_run *r, int which, const char *s, size_t n)
{
    (void)which;
    fprintf(stderr, "%s %.*s\n", r->inst->label, (int)n, s);
}

static void feed(sv_run *r, int which, const char *p, size_t n)
{
    while (n) {
        const char *nl = memchr(p, '\n', n);
        size_t take = nl ? (size_t)(nl - p) : n;
        while (take) {
            size_t room = SV_LINE_MAX - r->llen[which];
            size_t c = take < room ? take : room;
            memcpy(r->line[which] + r->llen[which], p, c);
            r->llen[which] += c;
            p += c;
            n -= c;
            take -= c;
            if (r->llen[which] == SV_LINE_MAX) {
                emit_line(r, which, r->line[which], r->llen[which]);
                r->llen[which] = 0;
            }
        }
        if (nl) {
            size_t len = r->llen[which];
            if (len && r->line[which][len - 1] == '\r')
                len--;
            emit_line(r, which, r->line[which], len);
            r->llen[which] = 0;
            p++;
            n--;
        }
    }
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
    (void)suggested;
    sv_run *r = h->data;
    supervisor *sv = r->inst->sv;
    b->base = sv->rbuf;
    b->len = sizeof sv->rbuf;
}

static void read_cb(uv_stream_t *st, ssize_t nread, const uv_buf_t *b)
{
    sv_run *r = st->data;
    int which = st == (uv_stream_t *)&r->pipes[0] ? 0 : 1;
    if (nread > 0) {
        feed(r, which, b->base, (size_t)nread);
        return;
    }
    if (nread == 0)
        return;
    /* EOF or error: the last unterminated line, then close */
    if (r->llen[which]) {
        emit_line(r, which, r->line[which], r->llen[which]);
        r->llen[which] = 0;
    }
    uv_read_stop(st);
    uv_close((uv_handle_t *)st, run_handle_closed);
}

/* ------------------------------------------------------------------ processes */

static void spawn(sv_inst *in);

static void restart_cb(uv_timer_t *t)
{
    sv_inst *in = t->data;
    if (!in->sv->stopping && !in->run)
        spawn(in);
}

static void schedule_restart(sv_inst *in)
{
    double d = in->backoff;
    in->backoff = d * 2 > SV_BACKOFF_MAX ? SV_BACKOFF_MAX : d * 2;
    in->restarts++;
    wsm_log(WSM_LOG_INFO, "supervisor", "%s: restart #%lu in %.2f s", in->label, in->restarts, d);
    uv_timer_start(&in->timer, restart_cb, (uint64_t)(d * 1000), 0);
}

/* After the grace period: closes the output pipes a process left open (a helper it started
 * may still hold them) and the timer itself. */
static void grace_cb(uv_timer_t *t)
{
    supervisor *sv = t->data;
    for (sv_run *r = sv->runs; r; r = r->next)
        for (int i = 0; i < 2; i++)
            if (!uv_is_closing((uv_handle_t *)&r->pipes[i])) {
                uv_read_stop((uv_stream_t *)&r->pipes[i]);
                uv_close((uv_handle_t *)&r->pipes[i], run_handle_closed);
            }
    uv_close((uv_handle_t *)&sv->kill_timer, sv_handle_closed);
}

/* Every child has exited while stopping: give their pipes a moment to deliver the last lines,
 * then close what is left (grace_cb). */
static void all_exited(supervisor *sv)
{
    if (sv->started && !sv->grace && !uv_is_closing((uv_handle_t *)&sv->kill_timer)) {
        sv->grace = true;
        uv_timer_stop(&sv->kill_timer);
        uv_timer_start(&sv->kill_timer, grace_cb, SV_PIPE_GRACE, 0);
    }
}

static void exit_cb(uv_process_t *p, int64_t status, int sig)
{
    sv_run *r = p->data;
    sv_inst *in = r->inst;
    supervisor *sv = in->sv;
    double ran = (double)(now_ms(sv) - r->started_ms) / 1000.0;
    bool failed = sig != 0 || status != 0;
    if (sig)
        wsm_log(sv->stopping ? WSM_LOG_INFO : WSM_LOG_WARN, "supervisor",
                "%s (pid %d) killed by signal %d (%s) after %.1f s", in->label, r->pid, sig,
                strsignal(sig), ran);
    else
        wsm_log(failed && !sv->stopping ? WSM_LOG_WARN : WSM_LOG_INFO, "supervisor",
                "%s (pid %d) exited with status %lld after %.1f s", in->label, r->pid,
                (long long)status, ran);
    in->run = NULL;
    r->exited = true;
    sv->n_running--;
    uv_close((uv_handle_t *)p, run_handle_closed);
    if (sv->stopping) {
        if (sv->n_running == 0)
            all_exited(sv);
        return;
    }
    const char *pol = in->svc->restart;
    bool again = strcmp(pol, "always") == 0 || (strcmp(pol, "on-failure") == 0 && failed);
    if (ran >= SV_RESET_AFTER)
        in->backoff = SV_BACKOFF_MIN;
    if (again)
        schedule_restart(in);
    else
        wsm_log(WSM_LOG_INFO, "supervisor", "%s: not restarted (restart: %s)", in->label, pol);
}

/* Starts one process for in. On failure logs the reason and (unless stopping) schedules a
 * retry with backoff. */
static void spawn_run(sv_inst *in, wsm_err *err)
{
    supervisor *sv = in->sv;
    const hubcfg_service *s = in->svc;
    size_t si = (size_t)(s - sv->cfg->services);
    sv_run *r = calloc(1, sizeof *r);
    char **env = make_env(sv, in);
    size_t pre = sv->use_setpriv ? 4 : 0;
    char **argv = calloc(pre + 1 + s->n_args + 1, sizeof *argv);
    if (!r || !env || !argv) {
        free(r);
        free_strv(env);
        free(argv);
        wsm_err_set(err, WSM_E_NOMEM, "%s: out of memory", in->label);
        return;
    }
    size_t k = 0;
    if (sv->use_setpriv) {
        argv[k++] = SV_SETPRIV;
        argv[k++] = "--pdeathsig";
        argv[k++] = "KILL";
        argv[k++] = "--";
    }
    argv[k++] = sv->exec_paths[si];
    for (size_t i = 0; i < s->n_args; i++)
        argv[k++] = sv->args[si][i];
    argv[k] = NULL;

    r->inst = in;
    r->proc.data = r;
    r->next = sv->runs;
    if (sv->runs)
        sv->runs->prev = r;
    sv->runs = r;
    for (int i = 0; i < 2; i++) {
        uv_pipe_init(sv->loop, &r->pipes[i], 0);
        r->pipes[i].data = r;
        r->open++;
        sv->open_handles++;
    }
    uv_stdio_container_t stdio[3];
    stdio[0].flags = UV_IGNORE;
    for (int i = 0; i < 2; i++) {
        stdio[i + 1].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
        stdio[i + 1].data.stream = (uv_stream_t *)&r->pipes[i];
    }
    uv_process_options_t o;
    memset(&o, 0, sizeof o);
    o.exit_cb = exit_cb;
    o.file = argv[0];
    o.args = argv;
    o.env = env;
    o.cwd = sv->cfg->base_dir;
    o.flags = UV_PROCESS_DETACHED; /* own process group: signal_run reaches its helpers too */
    o.stdio_count = 3;
    o.stdio = stdio;
    int rc = uv_spawn(sv->loop, &r->proc, &o);
    r->open++;
    sv->open_handles++;
    free(argv);
    free_strv(env);
    if (rc != 0) {
        wsm_err_set(err, WSM_E_IO, "%s: cannot start %s: %s", in->label, sv->exec_paths[si],
                    uv_strerror(rc));
        wsm_log(WSM_LOG_ERROR, "supervisor", "%s", err->msg);
        uv_close((uv_handle_t *)&r->proc, run_handle_closed);
        for (int i = 0; i < 2; i++)
            uv_close((uv_handle_t *)&r->pipes[i], run_handle_closed);
        if (!sv->stopping && sv->started)
            schedule_restart(in);
        return;
    }
    r->pid = r->proc.pid;
    r->started_ms = now_ms(sv);
    in->run = r;
    sv->n_running++;
    if (!sv->stopping) {
        uv_unref((uv_handle_t *)&r->proc);
        for (int i = 0; i < 2; i++)
            uv_unref((uv_handle_t *)&r->pipes[i]);
    }
    for (int i = 0; i < 2; i++)
        uv_read_start((uv_stream_t *)&r->pipes[i], alloc_cb, read_cb);
    wsm_log(WSM_LOG_INFO, "supervisor", "%s started: pid %d: %s", in->label, r->pid,
            sv->exec_paths[si]);
}

static void spawn(sv_inst *in)
{
    wsm_err err = {0};
    spawn_run(in, &err);
}

/* ------------------------------------------------------------------ stop */

static void kill_cb(uv_timer_t *t)
{
    supervisor *sv = t->data;
    sv->killed = true;
    for (size_t i = 0; i < sv->n_inst; i++) {
        sv_inst *in = &sv->inst[i];
        if (in->run) {
            wsm_log(WSM_LOG_WARN, "supervisor", "%s (pid %d) still running after %.1f s: SIGKILL",
                    in->label, in->run->pid, sv->stop_timeout);
            signal_run(in->run, SIGKILL);
        }
    }
}

/* Sets `stopping`, cancels pending restarts, sends SIGTERM to every child, arms the SIGKILL
 * deadline. Idempotent. */
static void begin_stop(supervisor *sv)
{
    if (sv->stopping)
        return;
    sv->stopping = true;
    if (sv->n_running)
        wsm_log(WSM_LOG_INFO, "supervisor", "stopping %zu services (SIGTERM, SIGKILL after %.1f s)",
                sv->n_running, sv->stop_timeout);
    for (size_t i = 0; i < sv->n_inst; i++) {
        sv_inst *in = &sv->inst[i];
        uv_timer_stop(&in->timer);
        if (in->run)
            signal_run(in->run, SIGTERM);
    }
    if (sv->n_running)
        uv_timer_start(&sv->kill_timer, kill_cb, (uint64_t)(sv->stop_timeout * 1000), 0);
    else
        all_exited(sv);
}

static void signal_cb(uv_signal_t *s, int signum)
{
    (void)signum;
    begin_stop(s->data);
}

/* ------------------------------------------------------------------ public */

supervisor *supervisor_new(const hubcfg *cfg, double stop_timeout, wsm_err *err)
{
    supervisor *sv = calloc(1, sizeof *sv);
    if (!sv) {
        wsm_err_set(err, WSM_E_NOMEM, "out of memory");
        return NULL;
    }
    sv->cfg = cfg;
    sv->n_svc = cfg->n_services;
    sv->stop_timeout = stop_timeout > 0 ? stop_timeout : 1;
    sv->use_setpriv = is_exec(SV_SETPRIV);
    sv->exec_paths = calloc(cfg->n_services + 1, sizeof *sv->exec_paths);
    sv->args = calloc(cfg->n_services + 1, sizeof *sv->args);
    sv->envs = calloc(cfg->n_services + 1, sizeof *sv->envs);
    size_t n = 0;
    for (size_t i = 0; i < cfg->n_services; i++)
        n += (size_t)cfg->services[i].instances;
    sv->inst = calloc(n ? n : 1, sizeof *sv->inst);
    if (!sv->exec_paths || !sv->inst || !sv->args || !sv->envs) {
        wsm_err_set(err, WSM_E_NOMEM, "out of memory");
        supervisor_free(sv);
        return NULL;
    }
    for (size_t i = 0; i < cfg->n_services; i++) {
        const hubcfg_service *s = &cfg->services[i];
        sv->exec_paths[i] = resolve_exec(cfg, s->exec);
        if (!sv->exec_paths[i]) {
            wsm_err_set(err, WSM_E_BAD_FIELD,
                        "services[%zu] (%s): program '%s' not found or not executable (looked "
                        "in %s)",
                        i, s->name, s->exec,
                        strchr(s->exec, '/') ? "the config's base dir"
                                             : "$WSMESH_BIN_DIR, next to wshub, the build tree "
                                               "and $PATH");
            supervisor_free(sv);
            return NULL;
        }
        char what[96];
        snprintf(what, sizeof what, "services[%zu] (%s): args", i, s->name);
        sv->args[i] = expand_all(s->args, s->n_args, what, err);
        snprintf(what, sizeof what, "services[%zu] (%s): env", i, s->name);
        sv->envs[i] = sv->args[i] ? expand_all(s->env, s->n_env, what, err) : NULL;
        if (!sv->envs[i]) {
            supervisor_free(sv);
            return NULL;
        }
        for (int64_t k = 0; k < s->instances; k++) {
            sv_inst *in = &sv->inst[sv->n_inst++];
            in->sv = sv;
            in->svc = s;
            in->index = (int)k;
            in->backoff = SV_BACKOFF_MIN;
            snprintf(in->label, sizeof in->label, "%s[%d]", s->name, (int)k);
        }
    }
    return sv;
}

int supervisor_start(supervisor *sv, uv_loop_t *loop, const char *hub_url, wsm_err *err)
{
    static const int sigs[2] = {SIGINT, SIGTERM};
    sv->loop = loop;
    sv->url = strdup(hub_url);
    if (!sv->url) {
        wsm_err_set(err, WSM_E_NOMEM, "out of memory");
        return WSM_E_NOMEM;
    }
    for (int i = 0; i < 2; i++) {
        uv_signal_init(sv->loop, &sv->sig[i]);
        sv->sig[i].data = sv;
        sv->open_handles++;
        uv_signal_start(&sv->sig[i], signal_cb, sigs[i]);
        uv_unref((uv_handle_t *)&sv->sig[i]);
    }
    uv_timer_init(sv->loop, &sv->kill_timer);
    sv->kill_timer.data = sv;
    sv->open_handles++;
    uv_unref((uv_handle_t *)&sv->kill_timer);
    for (size_t i = 0; i < sv->n_inst; i++) {
        uv_timer_init(sv->loop, &sv->inst[i].timer);
        sv->inst[i].timer.data = &sv->inst[i];
        sv->open_handles++;
        uv_unref((uv_handle_t *)&sv->inst[i].timer);
    }
    sv->started = true;
    wsm_log(WSM_LOG_INFO, "supervisor", "starting %zu processes of %zu services (hub %s)",
            sv->n_inst, sv->cfg->n_services, sv->url);
    for (size_t i = 0; i < sv->n_inst; i++) {
        wsm_err e = {0};
        spawn_run(&sv->inst[i], &e);
        if (e.code) {
            if (err)
                *err = e;
            return e.code;
        }
    }
    return 0;
}

size_t supervisor_running(const supervisor *sv)
{
    return sv ? sv->n_running : 0;
}

void supervisor_shutdown(supervisor *sv)
{
    if (!sv || sv->shut)
        return;
    sv->shut = true;
    if (!sv->started)
        return;
    begin_stop(sv);
    /* from now on our handles keep the loop running until they are closed */
    for (sv_run *r = sv->runs; r; r = r->next) {
        if (!uv_is_closing((uv_handle_t *)&r->proc))
            uv_ref((uv_handle_t *)&r->proc);
        for (int k = 0; k < 2; k++)
            if (!uv_is_closing((uv_handle_t *)&r->pipes[k]))
                uv_ref((uv_handle_t *)&r->pipes[k]);
    }
    for (size_t i = 0; i < sv->n_inst; i++)
        uv_close((uv_handle_t *)&sv->inst[i].timer, inst_timer_closed);
    if (!uv_is_closing((uv_handle_t *)&sv->kill_timer))
        uv_ref((uv_handle_t *)&sv->kill_timer);
    for (int i = 0; i < 2; i++)
        uv_close((uv_handle_t *)&sv->sig[i], sv_handle_closed);
    while (sv->open_handles > 0)
        if (uv_run(sv->loop, UV_RUN_ONCE) == 0 && sv->open_handles > 0) {
            /* pipes whose child has exited but whose EOF is still pending are unreferenced
             * only if they were closing; nothing else can be left: stop waiting */
            break;
        }
    if (sv->open_handles)
        wsm_log(WSM_LOG_WARN, "supervisor", "%zu handles still open at shutdown", sv->open_handles);
}

void supervisor_free(supervisor *sv)
{
    if (!sv)
        return;
    for (size_t i = 0; i < sv->n_svc; i++) {
        if (sv->exec_paths)
            free(sv->exec_paths[i]);
        if (sv->args)
            free_strv(sv->args[i]);
        if (sv->envs)
            free_strv(sv->envs[i]);
    }
    free(sv->args);
    free(sv->envs);
    free(sv->exec_paths);
    free(sv->inst);
    free(sv->url);
    free(sv);
}
