/*
 * args.c - the command line every wsmesh program shares (wsm_options_parse) and the one-call
 * service entry point (wsm_service_main).
 *
 * Invariant: wsm_options_parse never exits the process and never allocates: option values
 * point into argv, and recognised options are removed from argv so that a program can parse
 * its own options from the rest.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static const char common_help[] =
    "Connection and runtime options (every wsmesh program):\n"
    "  --url URL            hub address, ws://host:port/ws or wss://... (env WSMESH_URL;\n"
    "                       default " WSM_DEFAULT_URL ")\n"
    "  --token TOKEN        access token (env WSMESH_TOKEN)\n"
    "  --name NAME          name shown in worker lists\n"
    "  --concurrency N      handler threads (default 1)\n"
    "  --burst              exit 0 when every consumed queue is empty and nothing runs\n"
    "  --max-jobs N         exit 0 after N jobs\n"
    "  --log-level LEVEL    error|warn|info|debug|trace (default info)\n"
    "  --ca-file FILE       PEM CA certificates to verify a wss:// hub\n"
    "  --cert-file FILE     PEM client certificate for a hub that requires one (mutual TLS;\n"
    "                       env WSMESH_CERT_FILE)\n"
    "  --key-file FILE      PEM private key of the client certificate (env WSMESH_KEY_FILE;\n"
    "                       default: read from --cert-file)\n"
    "  --help               this text\n";

static int parse_long(const char *opt, const char *v, long min, long *out)
{
    char *end;
    errno = 0;
    long n = strtol(v, &end, 10);
    if (errno || end == v || *end || n < min) {
        fprintf(stderr, "error: %s %s: expected an integer >= %ld\n", opt, v, min);
        return -1;
    }
    *out = n;
    return 0;
}

int wsm_options_parse(wsm_options *o, int *argc, char **argv, const char *help_extra)
{
    int n = argc ? *argc : 0;
    int w = n > 0 ? 1 : 0;
    static const char *const with_value[] = {
        "--url",     "--token",    "--name",      "--concurrency", "--log-level",
        "--ca-file", "--max-jobs", "--cert-file", "--key-file",    NULL};
    for (int i = 1; i < n; i++) {
        char *a = argv[i];
        if (strcmp(a, "--") == 0) {
            while (i < n)
                argv[w++] = argv[i++];
            break;
        }
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            printf("Usage: %s [OPTIONS]\n\n%s%s%s", argv[0] ? argv[0] : "service", common_help,
                   help_extra ? "\n" : "", help_extra ? help_extra : "");
            return 1;
        }
        if (strcmp(a, "--burst") == 0) {
            o->burst = true;
            continue;
        }
        const char *name = NULL;
        const char *val = NULL;
        for (size_t k = 0; with_value[k]; k++) {
            size_t l = strlen(with_value[k]);
            if (strncmp(a, with_value[k], l) == 0 && (a[l] == 0 || a[l] == '=')) {
                name = with_value[k];
                if (a[l] == '=') {
                    val = a + l + 1;
                } else if (i + 1 < n) {
                    val = argv[++i];
                } else {
                    fprintf(stderr, "error: %s needs a value (see --help)\n", name);
                    return 2;
                }
                break;
            }
        }
        if (!name) {
            argv[w++] = a; /* not ours */
            continue;
        }
        long num = 0;
        if (strcmp(name, "--url") == 0) {
            o->url = val;
        } else if (strcmp(name, "--token") == 0) {
            o->token = val;
        } else if (strcmp(name, "--name") == 0) {
            o->name = val;
        } else if (strcmp(name, "--ca-file") == 0) {
            o->ca_file = val;
        } else if (strcmp(name, "--cert-file") == 0) {
            o->cert_file = val;
        } else if (strcmp(name, "--key-file") == 0) {
            o->key_file = val;
        } else if (strcmp(name, "--log-level") == 0) {
            wsm_log_level lv;
            if (wsm_log_parse_level(val, &lv) != 0) {
                fprintf(stderr, "error: --log-level %s: expected error|warn|info|debug|trace\n",
                        val);
                return 2;
            }
            o->log_level = val;
        } else if (strcmp(name, "--concurrency") == 0) {
            if (parse_long(name, val, 1, &num) != 0 || num > 1024) {
                if (num > 1024)
                    fprintf(stderr, "error: --concurrency %s: at most 1024\n", val);
                return 2;
            }
            o->concurrency = (int)num;
        } else if (strcmp(name, "--max-jobs") == 0) {
            if (parse_long(name, val, 1, &num) != 0)
                return 2;
            o->max_jobs = num;
        }
    }
    if (argc) {
        *argc = w;
        if (w < n)
            argv[w] = NULL;
    }
    if (!o->url)
        o->url = getenv("WSMESH_URL");
    if (!o->token)
        o->token = getenv("WSMESH_TOKEN");
    return 0;
}

int wsm_service_main(const wsm_service_config *cfg, int argc, char **argv)
{
    if (!cfg || !cfg->endpoints) {
        fprintf(stderr, "error: wsm_service_main: no endpoints\n");
        return 2;
    }
    wsm_options o = {.name = cfg->name, .concurrency = cfg->concurrency};
    wsm_log_set_level(WSM_LOG_INFO);
    char help[4096];
    snprintf(help, sizeof help, "%s%s%s", cfg->description ? cfg->description : "",
             cfg->description ? "\n" : "", cfg->help_extra ? cfg->help_extra : "");
    int prc = wsm_options_parse(&o, &argc, argv, help[0] ? help : NULL);
    if (prc == 1)
        return 0;
    if (prc == 2)
        return 2;
    if (argc > 1) {
        fprintf(stderr, "error: unknown option %s (see --help)\n", argv[1]);
        return 2;
    }
    wsm_err err = {0};
    wsm_service *s = wsm_service_new(&o, &err);
    if (!s) {
        fprintf(stderr, "error: %s\n", err.msg);
        return err.code == WSM_E_USAGE ? 2 : 1;
    }
    for (const wsm_endpoint *e = cfg->endpoints; e->queue; e++) {
        if (wsm_service_add(s, e->queue, e->handler, e->user) != 0) {
            fprintf(stderr, "error: cannot register a handler for queue %s\n", e->queue);
            wsm_service_free(s);
            return 2;
        }
    }
    int rc = wsm_service_run(s);
    if (rc != 0)
        fprintf(stderr, "error: %s\n", wsm_service_errstr(s));
    wsm_service_free(s);
    return rc == 0 ? 0 : 1;
}
