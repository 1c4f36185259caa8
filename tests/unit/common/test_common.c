/*
 * test_common.c - unit tests of src/common: framing (split, errors, round trip), UTF-8
 * validation, JSON field readers with path-naming errors, code names and the byte buffer.
 */
#include "wsm_frame.h"
#include "../../wsm_test.h"

#include <stdlib.h>

static int decode_all(const char *s, size_t n, int *count, wsm_err *err)
{
    size_t off = 0;
    wsm_msg m;
    int rc;
    *count = 0;
    while ((rc = wsm_frame_next((const unsigned char *)s, n, &off, 0, &m, err)) == 1) {
        (*count)++;
        wsm_msg_clear(&m);
    }
    return rc;
}

TEST(frame_two_messages_in_one)
{
    const char s[] = "{\"op\":\"enqueue\",\"len\":5}\nhello{\"op\":\"ping\",\"id\":\"7\"}\n";
    size_t off = 0;
    wsm_msg m;
    wsm_err err;
    CHECK_EQ_INT(wsm_frame_next((const unsigned char *)s, sizeof s - 1, &off, 0, &m, &err), 1);
    CHECK_STR(m.op, "enqueue");
    CHECK_EQ_INT(m.len, 5);
    CHECK(memcmp(m.payload, "hello", 5) == 0);
    CHECK_STR(m.content_type, WSM_CT_JSON);
    wsm_msg_clear(&m);
    CHECK_EQ_INT(wsm_frame_next((const unsigned char *)s, sizeof s - 1, &off, 0, &m, &err), 1);
    CHECK_STR(m.op, "ping");
    CHECK_EQ_INT(m.len, 0);
    wsm_msg_clear(&m);
    CHECK_EQ_INT(wsm_frame_next((const unsigned char *)s, sizeof s - 1, &off, 0, &m, &err), 0);
}

TEST(frame_errors_have_codes)
{
    int count;
    wsm_err err;
    const char *nonl = "{\"op\":\"ping\"}";
    CHECK_EQ_INT(decode_all(nonl, strlen(nonl), &count, &err), -WSM_E_BAD_FRAME);
    const char *bad = "{\"op\":\"ping\"\n";
    CHECK_EQ_INT(decode_all(bad, strlen(bad), &count, &err), -WSM_E_BAD_JSON);
    const char *arr = "[1,2]\n";
    CHECK_EQ_INT(decode_all(arr, strlen(arr), &count, &err), -WSM_E_BAD_JSON);
    const char *noop = "{\"id\":\"1\"}\n";
    CHECK_EQ_INT(decode_all(noop, strlen(noop), &count, &err), -WSM_E_BAD_FIELD);
    CHECK(strstr(err.msg, "op") != NULL);
    const char *lenbig = "{\"op\":\"x\",\"len\":10}\nabc";
    CHECK_EQ_INT(decode_all(lenbig, strlen(lenbig), &count, &err), -WSM_E_BAD_FRAME);
    CHECK(strstr(err.msg, "len 10") != NULL);
    const char *lenneg = "{\"op\":\"x\",\"len\":-1}\n";
    CHECK_EQ_INT(decode_all(lenneg, strlen(lenneg), &count, &err), -WSM_E_BAD_FIELD);
    const char *lenfrac = "{\"op\":\"x\",\"len\":1.5}\nab";
    CHECK_EQ_INT(decode_all(lenfrac, strlen(lenfrac), &count, &err), -WSM_E_BAD_FIELD);
    const char *trail = "{\"op\":\"x\"} junk\n";
    CHECK_EQ_INT(decode_all(trail, strlen(trail), &count, &err), -WSM_E_BAD_JSON);
    /* a good message before a bad one is still delivered */
    const char *mixed = "{\"op\":\"a\"}\n{bad\n";
    CHECK_EQ_INT(decode_all(mixed, strlen(mixed), &count, &err), -WSM_E_BAD_JSON);
    CHECK_EQ_INT(count, 1);
}

TEST(frame_header_limit)
{
    char big[300];
    memset(big, ' ', sizeof big);
    memcpy(big, "{\"op\":\"x\"", 9);
    big[sizeof big - 2] = '}';
    big[sizeof big - 1] = '\n';
    size_t off = 0;
    wsm_msg m;
    wsm_err err;
    CHECK_EQ_INT(wsm_frame_next((unsigned char *)big, sizeof big, &off, 100, &m, &err),
                 -WSM_E_TOO_LARGE);
    off = 0;
    CHECK_EQ_INT(wsm_frame_next((unsigned char *)big, sizeof big, &off, 1000, &m, &err), 1);
    wsm_msg_clear(&m);
}

TEST(frame_round_trip_binary)
{
    unsigned char payload[256];
    for (int i = 0; i < 256; i++)
        payload[i] = (unsigned char)i;
    cJSON *h = cJSON_CreateObject();
    cJSON_AddStringToObject(h, "op", "result");
    cJSON_AddStringToObject(h, "content_type", "application/octet-stream");
    wsm_buf b = WSM_BUF_INIT;
    CHECK_EQ_INT(wsm_frame_append(&b, h, payload, sizeof payload), 0);
    CHECK_EQ_INT(wsm_frame_append_raw(&b, "{\"op\":\"emit\"}", 13, "xyz", 3), 0);
    CHECK_EQ_INT(wsm_frame_append_raw(&b, "{\"op\":\"ping\"}", 13, NULL, 0), 0);
    CHECK_EQ_INT(wsm_frame_append_error(&b, WSM_E_QUEUE_FULL, "queue aeb is full", "r1"), 0);
    cJSON_Delete(h);
    size_t off = 0;
    wsm_msg m;
    wsm_err err;
    CHECK_EQ_INT(wsm_frame_next(b.data, b.len, &off, 0, &m, &err), 1);
    CHECK_EQ_INT(m.len, 256);
    CHECK(memcmp(m.payload, payload, 256) == 0);
    CHECK_STR(m.content_type, "application/octet-stream");
    wsm_msg_clear(&m);
    CHECK_EQ_INT(wsm_frame_next(b.data, b.len, &off, 0, &m, &err), 1);
    CHECK_STR(m.op, "emit");
    CHECK(m.len == 3 && memcmp(m.payload, "xyz", 3) == 0);
    wsm_msg_clear(&m);
    CHECK_EQ_INT(wsm_frame_next(b.data, b.len, &off, 0, &m, &err), 1);
    CHECK_STR(m.op, "ping");
    wsm_msg_clear(&m);
    CHECK_EQ_INT(wsm_frame_next(b.data, b.len, &off, 0, &m, &err), 1);
    CHECK_STR(m.op, "error");
    CHECK_STR(cJSON_GetObjectItem(m.hdr, "code")->valuestring, "QUEUE_FULL");
    CHECK_STR(cJSON_GetObjectItem(m.hdr, "ref")->valuestring, "r1");
    wsm_msg_clear(&m);
    CHECK_EQ_INT(off, b.len);
    wsm_buf_free(&b);
}

TEST(utf8)
{
    CHECK(wsm_utf8_valid("plain ascii text, long enough for the fast path", 47));
    CHECK(wsm_utf8_valid("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 9));
    CHECK(!wsm_utf8_valid("\xc3", 1));
    CHECK(!wsm_utf8_valid("\xc0\xaf", 2));         /* overlong */
    CHECK(!wsm_utf8_valid("\xed\xa0\x80", 3));     /* surrogate */
    CHECK(!wsm_utf8_valid("\xf4\x90\x80\x80", 4)); /* > U+10FFFF */
    CHECK(!wsm_utf8_valid("abcdefgh\xff", 9));
}

TEST(json_readers_name_the_path)
{
    cJSON *o = cJSON_Parse("{\"max_length\":0,\"name\":5,\"ok\":true,\"x\":1.5,\"extra\":1}");
    wsm_err err;
    int64_t i;
    const char *s;
    bool b;
    double d;
    CHECK_EQ_INT(wsm_json_int(o, "queues.aeb", "max_length", true, 1, INT64_MAX, &i, &err), -1);
    CHECK_STR(err.msg, "queues.aeb.max_length: expected integer >= 1");
    CHECK_EQ_INT(err.code, WSM_E_BAD_FIELD);
    CHECK_EQ_INT(wsm_json_str(o, "q", "name", true, &s, &err), -1);
    CHECK_STR(err.msg, "q.name: expected string");
    CHECK_EQ_INT(wsm_json_str(o, "q", "missing", true, &s, &err), -1);
    CHECK_STR(err.msg, "q.missing: required");
    CHECK_EQ_INT(wsm_json_str(o, "q", "missing", false, &s, &err), 0);
    CHECK_EQ_INT(wsm_json_bool(o, "", "ok", true, &b, &err), 1);
    CHECK(b);
    CHECK_EQ_INT(wsm_json_int(o, "", "x", true, 0, 10, &i, &err), -1);
    CHECK_EQ_INT(wsm_json_num(o, "", "x", true, 0, 10, &d, &err), 1);
    CHECK_NEAR(d, 1.5, 0);
    static const char *const known[] = {"max_length", "name", "ok", "x", NULL};
    CHECK_EQ_INT(wsm_json_no_unknown(o, "queues.aeb", known, &err), -1);
    CHECK_STR(err.msg, "queues.aeb.extra: unknown key");
    cJSON_Delete(o);
}

TEST(codes_and_buffers)
{
    CHECK_STR(wsm_code_name(WSM_E_DUPLICATE_ID), "DUPLICATE_ID");
    CHECK_EQ_INT(wsm_code_from_name("FORBIDDEN"), WSM_E_FORBIDDEN);
    CHECK_STR(wsm_code_name(-WSM_E_BAD_JSON), "BAD_JSON");
    wsm_buf b = WSM_BUF_INIT;
    for (int i = 0; i < 1000; i++)
        CHECK_EQ_INT(wsm_buf_printf(&b, "%04d", i), 0);
    CHECK_EQ_INT(b.len, 4000);
    wsm_buf_consume(&b, 3996);
    CHECK(b.len == 4 && memcmp(b.data, "0999", 4) == 0);
    wsm_buf_free(&b);
    wsm_buf_free(NULL);
    char id[21], id2[21];
    wsm_random_id(id);
    wsm_random_id(id2);
    CHECK_EQ_INT(strlen(id), 20);
    CHECK(strcmp(id, id2) != 0);
    wsm_log_level l;
    CHECK_EQ_INT(wsm_log_parse_level("debug", &l), 0);
    CHECK_EQ_INT(l, WSM_LOG_DEBUG);
    CHECK_EQ_INT(wsm_log_parse_level("loud", &l), -1);
}

int main(void)
{
    RUN(frame_two_messages_in_one);
    RUN(frame_errors_have_codes);
    RUN(frame_header_limit);
    RUN(frame_round_trip_binary);
    RUN(utf8);
    RUN(json_readers_name_the_path);
    RUN(codes_and_buffers);
    return TEST_DONE();
}
