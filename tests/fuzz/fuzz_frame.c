/*
 * fuzz_frame.c - libFuzzer target for the protocol v1 frame decoder (wsm_frame_next): any
 * byte string is split into protocol messages or rejected with an error, never a crash, and
 * every decoded message lies inside the input.
 */
#include "wsm_frame.h"

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t off = 0;
    wsm_msg m;
    wsm_err err;
    int rc;
    while ((rc = wsm_frame_next(data, size, &off, 4096, &m, &err)) == 1) {
        if (m.payload < data || m.payload + m.len > data + size || off > size)
            abort();
        wsm_buf b = WSM_BUF_INIT;
        if (wsm_frame_append(&b, m.hdr, m.payload, m.len) == 0) {
            /* what we write must decode again to the same payload */
            size_t o2 = 0;
            wsm_msg m2;
            if (wsm_frame_next(b.data, b.len, &o2, 0, &m2, &err) != 1 || m2.len != m.len)
                abort();
            wsm_msg_clear(&m2);
        }
        wsm_buf_free(&b);
        wsm_msg_clear(&m);
    }
    if (rc < 0 && off != size)
        abort();
    (void)wsm_utf8_valid(data, size);
    return 0;
}
