/*
 * main.c - the wshub command line: parse options, load and validate mesh.json, start the
 * hub (net.c) and run its loop until a signal drains it. Exit codes: net.h HUB_EXIT_*,
 * documented in docs/operations.md.
 *
 * Invariant: the line "listening on ws://HOST:PORT/ws" (wss:// with listen.tls) is printed
 * on stderr exactly once, after the socket is bound (tests and scripts wait for it; with
 * --port 0 it carries the port the kernel chose). Token values are never printed.
 */
#include "net.h"
#include "supervisor.h"

#include <getopt.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
    fprintf(f, "usage: wshub [--config FILE] [--port N] [--log-level LEVEL] [--check]\n"
               "\n"
               "The wsmesh hub: queues, jobs, routing and topics over WebSocket (protocol v1,\n"
               "path /ws, subprotocol wsmesh.v1), plus /healthz, /metrics and the dashboard on\n"
               "the same port.\n"
               "\n"
               "  -c, --config FILE      mesh.json to use (default: $WSM_CONFIG, else\n"
               "                         config/mesh.json)\n"
               "  -p, --port N           listen on port N instead of listen.port (0 = a free\n"
               "                         port; the chosen one is printed)\n"
               "  -l, --log-level LEVEL  error, warn, info, debug or trace (overrides\n"
               "                         logging.level)\n"
               "      --check            validate the config, print every error, exit 0 or 1\n"
               "  -V, --version          print the version and exit\n"
               "  -h, --help             print this help and exit\n"
               "\n"
               "Exit codes: 0 ok (also after a graceful drain on SIGINT/SIGTERM), 1 invalid\n"
               "config, 2 bad command line, 3 startup failed (listen, store), 4 fatal runtime\n"
               "error (store write failed). See docs/operations.md.\n");
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
                                         {"port", required_argument, NULL, 'p'},
                                         {"log-level", required_argument, NULL, 'l'},
                                         {"check", no_argument, NULL, 'k'},
                                         {"version", no_argument, NULL, 'V'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    /* Payloads (frame batches of 100 KB+) are allocated and freed at a high rate. glibc's
     * dynamic mmap threshold would move them onto the brk heap, where freed blocks between live
     * ones are never returned: RSS then shows the peak, not what is held. A fixed threshold
     * keeps every large payload in its own mapping, returned to the OS when the job ends. */
    mallopt(M_MMAP_THRESHOLD, 128 * 1024);
    const char *config = getenv("WSM_CONFIG");
    const char *level = NULL;
    int port = -1;
    bool check = false;
    int ch;
    while ((ch = getopt_long(argc, argv, "c:p:l:Vh", opts, NULL)) != -1) {
        switch (ch) {
        case 'c':
            config = optarg;
            break;
        case 'p': {
            char *end = NULL;
            long v = strtol(optarg, &end, 10);
            if (!*optarg || *end || v < 0 || v > 65535) {
                fprintf(stderr, "wshub: --port: expected an integer in [0, 65535]\n");
                return HUB_EXIT_USAGE;
            }
            port = (int)v;
            break;
        }
        case 'l':
            level = optarg;
            break;
        case 'k':
            check = true;
            break;
        case 'V':
            printf("wshub %s (protocol v%d, libwebsockets %s, libuv %s)\n", WSM_VERSION,
                   WSM_PROTOCOL_VERSION, lws_get_library_version(), uv_version_string());
            return HUB_EXIT_OK;
        case 'h':
            usage(stdout);
            return HUB_EXIT_OK;
        default:
            usage(stderr);
            return HUB_EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "wshub: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        return HUB_EXIT_USAGE;
    }
    wsm_log_level lvl = WSM_LOG_INFO;
    if (level && wsm_log_parse_level(level, &lvl) != 0) {
        fprintf(stderr, "wshub: --log-level: expected error, warn, info, debug or trace\n");
        return HUB_EXIT_USAGE;
    }
    if (!config)
        config = "config/mesh.json";

    hubcfg_errors errs;
    hubcfg *cfg = hubcfg_load_file(config, &errs);
    if (!cfg) {
        for (size_t i = 0; i < errs.n; i++)
            fprintf(stderr, "%s: %s\n", config, errs.msgs[i]);
        fprintf(stderr, "%s: %zu error%s\n", config, errs.n, errs.n == 1 ? "" : "s");
        hubcfg_errors_free(&errs);
        return HUB_EXIT_CONFIG;
    }
    if (check) {
        printf("%s: ok (%zu queues, %zu routes, store %s, listen %s:%lld)\n", config, cfg->n_queues,
               cfg->n_routes, cfg->sqlite ? "sqlite" : "memory", cfg->address,
               (long long)cfg->port);
        hubcfg_free(cfg);
        return HUB_EXIT_OK;
    }
    wsm_log_set_level(level ? lvl : cfg->log_level);
    /* a non-loopback address without tokens never gets here (the config loader refuses it);
     * tokens are logged by name, role and SHA-256 fingerprint, never by value */
    for (size_t i = 0; i < cfg->n_tokens; i++)
        wsm_log(WSM_LOG_INFO, "auth", "token '%s': role %s, sha256:%s", cfg->tokens[i].name,
                cfg->tokens[i].role, cfg->tokens[i].fingerprint);
    if (cfg->n_tokens == 0)
        wsm_log(WSM_LOG_INFO, "auth",
                "no tokens configured: every client is admin (loopback only)");
    wsm_err err = {0};
    /* the services of mesh.json (supervisor.c): programs and ${VAR}s checked before listening */
    supervisor *sv = NULL;
    if (cfg->n_services && !(sv = supervisor_new(cfg, cfg->limits.drain_timeout, &err))) {
        wsm_log(WSM_LOG_ERROR, "hub", "startup failed: services: %s", err.msg);
        hubcfg_free(cfg);
        return HUB_EXIT_STARTUP;
    }
    hub *h = hub_new(cfg, port, &err); /* owns cfg from here on (sv borrows it) */
    if (!h) {
        wsm_log(WSM_LOG_ERROR, "hub", "startup failed: %s", err.msg);
        supervisor_free(sv);
        return HUB_EXIT_STARTUP;
    }
    wsm_log(WSM_LOG_INFO, "hub", "wshub %s: %zu queues, store %s, web root %s", WSM_VERSION,
            h->cfg->n_queues, store_kind(h->st), h->cfg->web_root ? h->cfg->web_root : "(none)");
    const char *scheme = h->cfg->tls_cert ? "wss" : "ws";
    for (size_t i = 0; i < h->n_origins; i++)
        wsm_log(WSM_LOG_DEBUG, "http", "allowed Origin: %s", h->origins[i]);
    fprintf(stderr, "listening on %s://%s:%d%s\n", scheme, h->cfg->address, h->port, WSM_WS_PATH);
    fflush(stderr);
    /* the services connect to the port just bound */
    if (sv) {
        char url[300];
        const char *a = h->cfg->address;
        snprintf(url, sizeof url, "%s://%s:%d%s", scheme, strcmp(a, "0.0.0.0") ? a : "127.0.0.1",
                 h->port, WSM_WS_PATH);
        if (supervisor_start(sv, &h->loop, url, &err)) {
            wsm_log(WSM_LOG_ERROR, "hub", "startup failed: services: %s", err.msg);
            supervisor_shutdown(sv);
            supervisor_free(sv);
            hub_free(h);
            return HUB_EXIT_STARTUP;
        }
    }
    int rc = hub_run(h);
    supervisor_shutdown(sv);
    supervisor_free(sv);
    hub_free(h);
    wsm_log(WSM_LOG_INFO, "hub", "exit %d", rc);
    return rc;
}
