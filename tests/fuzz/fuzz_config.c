/*
 * fuzz_config.c - libFuzzer target for the mesh.json loader (src/hub/config.c): any byte
 * string either loads into a config or yields a non-empty list of error messages, each
 * naming a JSON path — never a crash, a leak or both at once.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    hubcfg_errors e;
    hubcfg *c = hubcfg_load_text((const char *)data, size, "/fuzz", &e);
    if ((c == NULL) == (e.n == 0))
        abort();
    for (size_t i = 0; i < e.n; i++)
        if (!e.msgs[i] || !*e.msgs[i])
            abort();
    if (c) {
        for (size_t i = 0; i < c->n_routes; i++)
            if (!hubcfg_queue_find(c, c->routes[i].from_queue) ||
                !hubcfg_queue_find(c, c->routes[i].to_queue))
                abort();
        (void)hubcfg_token_find(c, "fuzz-token");
    }
    hubcfg_free(c);
    hubcfg_errors_free(&e);
    return 0;
}
