/*
 * test_config.c - unit tests of the mesh.json loader (src/hub/config.c): valid configs load
 * with their defaults; every kind of error is reported with its exact message, naming the
 * JSON path; all errors are reported, not only the first; tokens (inline, token_env,
 * token_file), ACLs and their glob patterns, the loopback rule, origins and TLS files.
 */
#include "config.h"
#include "wsm_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static hubcfg *load(const char *text, hubcfg_errors *e)
{
    return hubcfg_load_text(text, strlen(text), "/base", e);
}

/* True if message m is among the errors. */
static int has_err(const hubcfg_errors *e, const char *m)
{
    for (size_t i = 0; i < e->n; i++)
        if (strcmp(e->msgs[i], m) == 0)
            return 1;
    fprintf(stderr, "missing error \"%s\"; got:\n", m);
    for (size_t i = 0; i < e->n; i++)
        fprintf(stderr, "  %s\n", e->msgs[i]);
    return 0;
}

TEST(minimal_defaults)
{
    hubcfg_errors e;
    hubcfg *c = load("{\"queues\":{\"a\":{}}}", &e);
    CHECK(c != NULL);
    CHECK_EQ_INT(e.n, 0);
    if (!c)
        return;
    CHECK_STR(c->address, "127.0.0.1");
    CHECK_EQ_INT(c->port, 7700);
    CHECK_EQ_INT(c->n_queues, 1);
    CHECK_STR(c->queues[0].name, "a");
    CHECK_EQ_INT(c->queues[0].max_length, 100000);
    CHECK(c->queues[0].defaults.timeout < 0);
    CHECK_EQ_INT(c->limits.max_message_bytes, 64 << 20);
    CHECK_EQ_INT(c->limits.max_header_bytes, 65536);
    CHECK_EQ_INT(c->limits.max_errors, 100);
    CHECK_EQ_INT(c->limits.emit_window, 64);
    CHECK(!c->sqlite);
    CHECK_STR(c->web_root, "/base/web");
    CHECK_EQ_INT(c->n_tokens, 0);
    CHECK(hubcfg_token_allows(NULL, "empty"));
    hubcfg_free(c);
}

TEST(full_config)
{
    const char *t =
        "{\"listen\":{\"address\":\"0.0.0.0\",\"port\":0},"
        "\"queues\":{\"mf4\":{\"max_length\":5,\"defaults\":{\"timeout\":2.5,\"retry\":"
        "{\"max\":3,\"intervals\":[0,1,5]}}},\"db.query\":{\"paused\":true},\"aeb\":{}},"
        "\"routes\":{\"mf4:frames\":\"aeb\",\"mf4:result\":{\"to\":\"db.query\","
        "\"defaults\":{\"ttl\":9}}},"
        "\"topics\":{\"user\":[\"alerts\"],\"strict\":true,\"stats_interval\":0.5},"
        "\"limits\":{\"max_message_bytes\":1048576,\"max_errors\":3,\"deflate\":true},"
        "\"retention\":{\"registry_cap\":50},"
        "\"store\":{\"type\":\"sqlite\",\"path\":\"./var/x.db\"},"
        "\"logging\":{\"level\":\"debug\"},\"http\":{\"web_root\":\"/srv/web\"},"
        "\"tokens\":[{\"name\":\"op\",\"token\":\"abcdefgh12\",\"role\":\"admin\"},"
        "{\"name\":\"w\",\"token\":\"worker-token\",\"ops\":[\"consume\",\"result\"]}],"
        "\"services\":[{\"name\":\"aeb\",\"exec\":\"/bin/true\",\"args\":[\"-x\"],"
        "\"instances\":2,\"env\":{\"A\":\"1\"},\"restart\":\"always\"}]}";
    hubcfg_errors e;
    hubcfg *c = load(t, &e);
    CHECK(c != NULL);
    for (size_t i = 0; i < e.n; i++)
        fprintf(stderr, "unexpected: %s\n", e.msgs[i]);
    hubcfg_errors_free(&e);
    if (!c)
        return;
    CHECK_STR(c->address, "0.0.0.0");
    CHECK_EQ_INT(c->port, 0);
    CHECK_EQ_INT(c->n_queues, 3);
    const hubcfg_queue *q = hubcfg_queue_find(c, "mf4");
    CHECK(q && q->max_length == 5);
    CHECK(q && q->defaults.retry_max == 3 && q->defaults.n_retry_intervals == 3 &&
          q->defaults.retry_intervals[2] == 5);
    CHECK_NEAR(q ? q->defaults.timeout : 0, 2.5, 1e-9);
    CHECK(hubcfg_queue_find(c, "db.query")->paused);
    CHECK(hubcfg_queue_find(c, "nope") == NULL);
    const hubcfg_route *r = hubcfg_route_find(c, "mf4", "result");
    CHECK(r && strcmp(r->to_queue, "db.query") == 0 && r->defaults.ttl == 9);
    CHECK(hubcfg_route_find(c, "mf4", "frames") != NULL);
    CHECK(hubcfg_route_find(c, "aeb", "frames") == NULL);
    CHECK(c->strict_topics && c->n_user_topics == 1);
    CHECK_EQ_INT(c->limits.max_errors, 3);
    CHECK(c->limits.deflate);
    CHECK_EQ_INT(c->retention.registry_cap, 50);
    CHECK(c->sqlite);
    CHECK_STR(c->store_path, "/base/var/x.db");
    CHECK_EQ_INT(c->log_level, WSM_LOG_DEBUG);
    CHECK_STR(c->web_root, "/srv/web");
    const hubcfg_token *tok = hubcfg_token_find(c, "worker-token");
    CHECK(tok && !tok->admin);
    CHECK(hubcfg_token_allows(tok, "consume"));
    CHECK(hubcfg_token_allows(tok, "hello"));
    CHECK(!hubcfg_token_allows(tok, "enqueue"));
    CHECK(hubcfg_token_find(c, "worker-tokeX") == NULL);
    CHECK(hubcfg_token_find(c, "abcdefgh12")->admin);
    CHECK_EQ_INT(c->n_services, 1);
    CHECK_STR(c->services[0].env[0], "A=1");
    CHECK_STR(c->services[0].restart, "always");
    hubcfg_free(c);
}

#define EXPECT_ERR(text, msg)                                                                      \
    do {                                                                                           \
        hubcfg_errors e_;                                                                          \
        hubcfg *c_ = load(text, &e_);                                                              \
        CHECK(c_ == NULL);                                                                         \
        CHECK(has_err(&e_, msg));                                                                  \
        hubcfg_free(c_);                                                                           \
        hubcfg_errors_free(&e_);                                                                   \
    } while (0)

TEST(each_error_message)
{
    EXPECT_ERR("{\"queues\":{\"aeb\":{\"max_length\":0}}}",
               "queues.aeb.max_length: expected integer in [1, 2147483647]");
    EXPECT_ERR("{\"queues\":{\"aeb\":{\"max_length\":\"9\"}}}",
               "queues.aeb.max_length: expected integer in [1, 2147483647]");
    EXPECT_ERR("{\"queues\":{\"aeb\":{\"size\":1}}}", "queues.aeb.size: unknown key");
    EXPECT_ERR("{\"queues\":{\"a\":{}},\"bogus\":1}", "bogus: unknown key");
    EXPECT_ERR("{\"queues\":{}}", "queues: at least one queue must be declared");
    EXPECT_ERR("{}", "queues: at least one queue must be declared");
    EXPECT_ERR("{\"queues\":{\"a b\":{}}}",
               "queues.a b: queue name must be 1-64 characters of [A-Za-z0-9._-]");
    EXPECT_ERR("{\"queues\":{\"a\":1}}", "queues.a: expected object");
    EXPECT_ERR("{\"queues\":{\"a\":{\"defaults\":{\"timeout\":-1}}}}",
               "queues.a.defaults.timeout: expected number of seconds >= 0");
    EXPECT_ERR("{\"queues\":{\"a\":{\"defaults\":{\"retry\":{\"intervals\":[1]}}}}}",
               "queues.a.defaults.retry.max: required");
    EXPECT_ERR(
        "{\"queues\":{\"a\":{\"defaults\":{\"retry\":{\"max\":1,\"intervals\":[1,\"x\"]}}}}}",
        "queues.a.defaults.retry.intervals[1]: expected number of seconds >= 0");
    EXPECT_ERR("{\"queues\":{\"a\":{}},\"listen\":{\"port\":70000}}",
               "listen.port: expected integer in [0, 65535]");
    EXPECT_ERR("{\"queues\":{\"a\":{}},\"listen\":{\"address\":5}}",
               "listen.address: expected string");
    EXPECT_ERR("{\"queues\":{\"a\":{}},\"routes\":{\"a\":\"a\"}}",
               "routes.a: expected a key of the form \"queue:output\"");
    EXPECT_ERR("{\"queues\":{\"a\":{}},\"routes\":{\"b:x\":\"a\"}}",
               "routes.b:x: queue 'b' is not declared in queues");
    EXPECT_ERR("{\"queues\":{\"a\":{}},\"routes\":{\"a:x\":\"zz\"}}",
               "routes.a:x: target queue 'zz' is not declared in queues");
    EXPECT_ERR("{\"queues\":{\"a\":{}},\"routes\":{\"a:x\":{}}}", "routes.a:x.to: required");
    EXPECT_ERR("{\"queues\":{\"a\":{}},\"routes\":{\"a:x\":3}}",
               "routes.a:x: expected a queue name or {\"to\": queue, \"defaults\": {...}}");
    EXPECT_ERR("{\"queues\":{\"a\":{}},\"topics\":{\"user\":[\"stats\"]}}",
               "topics.user[0]: 'stats' is a built-in topic");
    EXPECT_ERR("{\"queues\":{\"a\":{}},\"limits\":{\"max_errors\":0}}",
               "limits.max_errors: expected integer in [1, 1000000]");
    EXPECT_ERR("{\"queues\":{\"a\":{}},\"limits\":{\"heartbeat\":30,\"idle_timeout\":10}}",
               "limits.heartbeat: must be smaller than limits.idle_timeout");
    EXPECT_ERR("{\"queues\":{\"a\":{}},\"limits\":{\"deflate\":1}}",
               "limits.deflate: expected boolean");
    EXPECT_ERR("{\"queues\":{\"a\":{}},\"store\":{\"type\":\"redis\"}}",
               "store.type: expected \"memory\" or \"sqlite\"");
    EXPECT_ERR("{\"queues\":{\"a\":{}},\"store\":{\"type\":\"sqlite\"}}",
               "store.path: required with store.type \"sqlite\"");
    EXPECT_ERR("{\"queues\":{\"a\":{}},\"store\":{}}", "store.type: required");
    EXPECT_ERR("{\"queues\":{\"a\":{}},\"logging\":{\"level\":\"loud\"}}",
               "logging.level: expected one of error, warn, info, debug, trace");
    EXPECT_ERR("{\"queues\":{\"a\":{}},\"tokens\":[{\"name\":\"x\",\"token\":\"short\","
               "\"role\":\"admin\"}]}",
               "tokens[0].token: expected at least 8 characters");
    EXPECT_ERR("{\"queues\":{\"a\":{}},\"tokens\":[{\"name\":\"x\",\"token\":\"longenough\"}]}",
               "tokens[0]: needs role \"admin\", \"viewer\" or \"worker\", or acl (ops per "
               "category), or ops (a list of allowed ops)");
    EXPECT_ERR("{\"queues\":{\"a\":{}},\"tokens\":[{\"name\":\"x\",\"token\":\"longenough\","
               "\"ops\":[\"fly\"]}]}",
               "tokens[0].ops[0]: unknown op 'fly'");
    EXPECT_ERR("{\"queues\":{\"a\":{}},\"services\":[{\"name\":\"s\"}]}",
               "services[0].exec: required");
    EXPECT_ERR("{\"queues\":{\"a\":{}},\"services\":[{\"name\":\"s\",\"exec\":\"x\","
               "\"restart\":\"sometimes\"}]}",
               "services[0].restart: expected \"always\", \"on-failure\" or \"never\"");
    EXPECT_ERR("{\"queues\":{\"a\":{}},\"services\":[{\"name\":\"s\",\"exec\":\"x\","
               "\"env\":{\"A\":1}}]}",
               "services[0].env.A: expected string");
    EXPECT_ERR("{\"queues\":", "(root): invalid JSON at line 1, column 10");
    EXPECT_ERR("[1]", "(root): expected object");
    EXPECT_ERR("{\"queues\":{\"a\":{}}} x", "(root): trailing bytes after the JSON object");
}

TEST(all_errors_reported)
{
    hubcfg_errors e;
    hubcfg *c = load("{\"queues\":{\"a\":{\"max_length\":-1},\"b\":{\"x\":1}},"
                     "\"limits\":{\"max_errors\":\"many\"},\"zz\":true}",
                     &e);
    CHECK(c == NULL);
    CHECK_EQ_INT(e.n, 4);
    CHECK(has_err(&e, "queues.a.max_length: expected integer in [1, 2147483647]"));
    CHECK(has_err(&e, "queues.b.x: unknown key"));
    CHECK(has_err(&e, "limits.max_errors: expected integer in [1, 1000000]"));
    CHECK(has_err(&e, "zz: unknown key"));
    hubcfg_errors_free(&e);
}

TEST(tokens_acl)
{
    hubcfg_errors e;
    hubcfg *c = load("{\"queues\":{\"a\":{}},\"tokens\":["
                     "{\"name\":\"op\",\"token\":\"admin-secret-1\",\"role\":\"admin\"},"
                     "{\"name\":\"dash\",\"token\":\"viewer-secret-1\",\"role\":\"viewer\"},"
                     "{\"name\":\"svc\",\"token\":\"worker-secret-1\",\"role\":\"db-service\","
                     "\"acl\":{\"consume\":[\"db\",\"db.*\"],\"produce\":[\"results-*\"],"
                     "\"subscribe\":[\"progress\",\"alerts.*\"]}}]}",
                     &e);
    CHECK(c != NULL);
    for (size_t k = 0; k < e.n; k++)
        fprintf(stderr, "%s\n", e.msgs[k]);
    if (!c)
        return;
    const hubcfg_token *a = hubcfg_token_find(c, "admin-secret-1");
    const hubcfg_token *v = hubcfg_token_find(c, "viewer-secret-1");
    const hubcfg_token *w = hubcfg_token_find(c, "worker-secret-1");
    CHECK(a && v && w);
    if (!a || !v || !w)
        return;
    CHECK(hubcfg_token_find(c, "admin-secret-") == NULL);
    CHECK(hubcfg_token_find(c, "admin-secret-12") == NULL);
    CHECK(hubcfg_token_find(c, "") == NULL);
    CHECK(hubcfg_token_find(c, NULL) == NULL);
    CHECK_STR(a->role, "admin");
    CHECK_STR(v->role, "viewer");
    CHECK_STR(w->role, "db-service");
    CHECK_EQ_INT(strlen(a->fingerprint), 8);
    CHECK(strcmp(a->fingerprint, v->fingerprint) != 0);
    /* admin: everything */
    CHECK(hubcfg_token_allows(a, "empty") && hubcfg_token_allows_on(a, HUBCFG_ACL_ADMIN, "x"));
    /* viewer preset: subscribe + query on everything, produce only db.query, no consume/admin */
    CHECK(hubcfg_token_allows(v, "subscribe") && hubcfg_token_allows(v, "query"));
    CHECK(hubcfg_token_allows(v, "wait") && hubcfg_token_allows(v, "enqueue"));
    CHECK(!hubcfg_token_allows(v, "consume") && !hubcfg_token_allows(v, "result"));
    CHECK(!hubcfg_token_allows(v, "pause") && !hubcfg_token_allows(v, "requeue"));
    CHECK(hubcfg_token_allows(v, "hello") && hubcfg_token_allows(v, "ping"));
    CHECK(hubcfg_token_allows_on(v, HUBCFG_ACL_PRODUCE, "db.query"));
    CHECK(!hubcfg_token_allows_on(v, HUBCFG_ACL_PRODUCE, "db"));
    CHECK(!hubcfg_token_allows_on(v, HUBCFG_ACL_PRODUCE, "db.query2"));
    CHECK(hubcfg_token_unrestricted(v, HUBCFG_ACL_QUERY));
    CHECK(!hubcfg_token_unrestricted(v, HUBCFG_ACL_PRODUCE));
    /* explicit acl with globs */
    CHECK(hubcfg_token_allows_on(w, HUBCFG_ACL_CONSUME, "db"));
    CHECK(hubcfg_token_allows_on(w, HUBCFG_ACL_CONSUME, "db.query"));
    CHECK(!hubcfg_token_allows_on(w, HUBCFG_ACL_CONSUME, "dbx"));
    CHECK(!hubcfg_token_allows_on(w, HUBCFG_ACL_CONSUME, "aeb"));
    CHECK(hubcfg_token_allows_on(w, HUBCFG_ACL_PRODUCE, "results-7"));
    CHECK(!hubcfg_token_allows(w, "query") && !hubcfg_token_allows(w, "cancel"));
    /* subscription patterns: "alerts.x*" is covered by "alerts.*", "alerts*" is not */
    CHECK(hubcfg_token_allows_on(w, HUBCFG_ACL_SUBSCRIBE, "alerts.x*"));
    CHECK(hubcfg_token_allows_on(w, HUBCFG_ACL_SUBSCRIBE, "alerts.*"));
    CHECK(!hubcfg_token_allows_on(w, HUBCFG_ACL_SUBSCRIBE, "alerts*"));
    CHECK(!hubcfg_token_allows_on(w, HUBCFG_ACL_SUBSCRIBE, "*"));
    CHECK(!hubcfg_token_allows_on(w, HUBCFG_ACL_SUBSCRIBE, "progress*"));
    CHECK(hubcfg_token_allows_on(w, HUBCFG_ACL_SUBSCRIBE, "progress"));
    /* categories */
    CHECK_EQ_INT(hubcfg_op_category("emit"), HUBCFG_ACL_PRODUCE);
    CHECK_EQ_INT(hubcfg_op_category("fail"), HUBCFG_ACL_CONSUME);
    CHECK_EQ_INT(hubcfg_op_category("wait"), HUBCFG_ACL_QUERY);
    CHECK_EQ_INT(hubcfg_op_category("resume"), HUBCFG_ACL_ADMIN);
    CHECK_EQ_INT(hubcfg_op_category("hello"), -1);
    hubcfg_free(c);
    hubcfg_errors_free(&e);

    /* globs */
    CHECK(hubcfg_glob_match("*", ""));
    CHECK(hubcfg_glob_match("a*b*c", "axxbyyc"));
    CHECK(!hubcfg_glob_match("a*b*c", "axxbyy"));
    CHECK(hubcfg_glob_match("*.q", "x.y.q"));
    CHECK(!hubcfg_glob_match("db", "db.query"));
}

TEST(token_env_and_file)
{
    char dir[] = "/tmp/wsm-cfg-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char tf[200];
    snprintf(tf, sizeof tf, "%s/admin.token", dir);
    FILE *f = fopen(tf, "w");
    CHECK(f != NULL);
    if (!f)
        return;
    fputs("file-secret-123\n", f);
    fclose(f);
    setenv("WSM_TEST_TOKEN", "env-secret-456", 1);
    unsetenv("WSM_TEST_TOKEN_UNSET");
    char text[1024];
    snprintf(text, sizeof text,
             "{\"queues\":{\"a\":{}},\"tokens\":["
             "{\"name\":\"f\",\"token_file\":\"%s\",\"role\":\"admin\"},"
             "{\"name\":\"e\",\"token_env\":\"WSM_TEST_TOKEN\",\"role\":\"viewer\"}]}",
             tf);
    hubcfg_errors e;
    hubcfg *c = load(text, &e);
    CHECK(c != NULL);
    if (c) {
        const hubcfg_token *t = hubcfg_token_find(c, "file-secret-123");
        CHECK(t && t->admin);
        t = hubcfg_token_find(c, "env-secret-456");
        CHECK(t && !t->admin && strcmp(t->role, "viewer") == 0);
        CHECK(hubcfg_token_find(c, "file-secret-123\n") == NULL);
    }
    hubcfg_free(c);
    hubcfg_errors_free(&e);

    /* errors never contain the secret */
    snprintf(text, sizeof text,
             "{\"queues\":{\"a\":{}},\"tokens\":["
             "{\"name\":\"f\",\"token_file\":\"%s/missing\",\"role\":\"admin\"},"
             "{\"name\":\"e\",\"token_env\":\"WSM_TEST_TOKEN_UNSET\",\"role\":\"admin\"},"
             "{\"name\":\"b\",\"token\":\"env-secret-456\",\"token_env\":\"WSM_TEST_TOKEN\","
             "\"role\":\"admin\"},"
             "{\"name\":\"d\",\"token_env\":\"WSM_TEST_TOKEN\",\"role\":\"admin\"},"
             "{\"name\":\"d2\",\"token\":\"env-secret-456\",\"role\":\"admin\"}]}",
             dir);
    c = load(text, &e);
    CHECK(c == NULL);
    char want[300];
    snprintf(want, sizeof want,
             "tokens[0].token_file: cannot read %s/missing: No such file or directory", dir);
    CHECK(has_err(&e, want));
    CHECK(has_err(&e, "tokens[1].token_env: environment variable 'WSM_TEST_TOKEN_UNSET' is not "
                      "set or empty"));
    CHECK(has_err(&e, "tokens[2]: give exactly one of token, token_env or token_file"));
    CHECK(has_err(&e, "tokens[4]: the same token is also tokens[3]"));
    for (size_t k = 0; k < e.n; k++)
        CHECK(strstr(e.msgs[k], "secret") == NULL);
    hubcfg_errors_free(&e);
    unlink(tf);
    rmdir(dir);
    unsetenv("WSM_TEST_TOKEN");
}

TEST(loopback_origins_tls)
{
    hubcfg_errors e;
    EXPECT_ERR("{\"queues\":{\"a\":{}},\"listen\":{\"address\":\"0.0.0.0\"}}",
               "listen.address: '0.0.0.0' is not a loopback address and no tokens are "
               "configured (every client would be admin): add tokens or listen on 127.0.0.1 "
               "(docs/operations.md, Security)");
    hubcfg *c = load("{\"queues\":{\"a\":{}},\"listen\":{\"address\":\"127.0.0.2\"}}", &e);
    CHECK(c != NULL);
    hubcfg_free(c);
    hubcfg_errors_free(&e);
    CHECK(hubcfg_is_loopback("127.0.0.1") && hubcfg_is_loopback("localhost"));
    CHECK(hubcfg_is_loopback("::1") && !hubcfg_is_loopback("10.0.0.1"));
    CHECK(!hubcfg_is_loopback("127.0.0.1.evil") && !hubcfg_is_loopback("0.0.0.0"));

    c = load("{\"queues\":{\"a\":{}},\"http\":{\"allowed_origins\":"
             "[\"HTTPS://Dash.Example:443/\",\"http://10.1.2.3:7700\",\"*\"]}}",
             &e);
    CHECK(c != NULL);
    if (c) {
        CHECK(c->origins_set);
        CHECK_EQ_INT(c->n_allowed_origins, 3);
        CHECK_STR(c->allowed_origins[0], "https://dash.example");
        CHECK_STR(c->allowed_origins[1], "http://10.1.2.3:7700");
        CHECK_STR(c->allowed_origins[2], "*");
    }
    hubcfg_free(c);
    hubcfg_errors_free(&e);
    c = load("{\"queues\":{\"a\":{}}}", &e);
    CHECK(c && !c->origins_set && c->tls_cert == NULL);
    CHECK(c && c->limits.hello_timeout == 10);
    hubcfg_free(c);
    hubcfg_errors_free(&e);
    EXPECT_ERR("{\"queues\":{\"a\":{}},\"http\":{\"allowed_origins\":[\"evil.example\"]}}",
               "http.allowed_origins[0]: expected \"*\" or an origin \"http(s)://host[:port]\" "
               "(no path)");
    EXPECT_ERR("{\"queues\":{\"a\":{}},\"http\":{\"allowed_origins\":[\"http://a/b\"]}}",
               "http.allowed_origins[0]: expected \"*\" or an origin \"http(s)://host[:port]\" "
               "(no path)");
    EXPECT_ERR("{\"queues\":{\"a\":{}},\"listen\":{\"tls\":{\"cert\":\"/nonexistent.pem\"}}}",
               "listen.tls.cert: cannot read /nonexistent.pem: No such file or directory");
    EXPECT_ERR("{\"queues\":{\"a\":{}},\"listen\":{\"tls\":{\"cert\":\"/nonexistent.pem\"}}}",
               "listen.tls.key: required");
    char n[300];
    CHECK(hubcfg_origin_normalize("http://LOCALHOST:80", 19, n, sizeof n) == 0 &&
          strcmp(n, "http://localhost") == 0);
    CHECK(hubcfg_origin_normalize("null", 4, n, sizeof n) == -1);
    CHECK(hubcfg_origin_normalize("ftp://x", 7, n, sizeof n) == -1);
    CHECK(hubcfg_origin_normalize("http://x:0", 10, n, sizeof n) == -1);
}

TEST(shipped_configs_load)
{
    const char *src = getenv("WSM_SRCDIR");
    /* secured.json takes its tokens from the environment (token_env) */
    const char *envs[] = {"WSMESH_ADMIN_TOKEN", "WSMESH_VIEWER_TOKEN", "WSMESH_READER_TOKEN",
                          "WSMESH_AEB_TOKEN", "WSMESH_DB_TOKEN"};
    for (size_t i = 0; i < sizeof envs / sizeof *envs; i++) {
        char v[64];
        snprintf(v, sizeof v, "test-secret-%zu-abcdef", i);
        setenv(envs[i], v, 1);
    }
    const char *files[] = {"config/mesh.json", "config/examples/memory.json",
                           "config/examples/secured.json"};
    for (size_t i = 0; src && i < sizeof files / sizeof *files; i++) {
        char p[4096];
        snprintf(p, sizeof p, "%s/%s", src, files[i]);
        hubcfg_errors e;
        hubcfg *c = hubcfg_load_file(p, &e);
        CHECK(c != NULL);
        for (size_t k = 0; k < e.n; k++)
            fprintf(stderr, "%s: %s\n", files[i], e.msgs[k]);
        if (c && i == 0) {
            CHECK_EQ_INT(c->n_queues, 4);
            CHECK_EQ_INT(c->n_routes, 4);
            const hubcfg_route *r = hubcfg_route_find(c, "aeb", "events");
            CHECK(r && strcmp(r->to_queue, "db") == 0);
            char want[4200];
            snprintf(want, sizeof want, "%s/var/wsmesh.db", src);
            char *real = realpath(src, NULL);
            snprintf(want, sizeof want, "%s/var/wsmesh.db", real ? real : src);
            CHECK_STR(c->store_path, want);
            free(real);
        }
        hubcfg_free(c);
        hubcfg_errors_free(&e);
    }
    hubcfg_errors e;
    CHECK(hubcfg_load_file("/nonexistent/mesh.json", &e) == NULL);
    CHECK(has_err(&e, "/nonexistent/mesh.json: cannot open: No such file or directory"));
    hubcfg_errors_free(&e);
}

int main(void)
{
    RUN(minimal_defaults);
    RUN(full_config);
    RUN(each_error_message);
    RUN(all_errors_reported);
    RUN(tokens_acl);
    RUN(token_env_and_file);
    RUN(loopback_origins_tls);
    RUN(shipped_configs_load);
    return TEST_DONE();
}
