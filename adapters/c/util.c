/*
 * util.c - status code sentences (wsm_strerror) and process-wide set-up helpers of the adapter.
 * Invariant: wsm_strerror returns a static string for every int.
 */
#include <signal.h>
#include <string.h>

#include "internal.h"

const char *wsm_strerror(int code)
{
    switch (code) {
    case WSM_OK:
        return "success";
    case WSM_E_BAD_JSON:
        return "the message header is not valid JSON";
    case WSM_E_BAD_FRAME:
        return "the message framing is invalid";
    case WSM_E_UNKNOWN_OP:
        return "unknown operation";
    case WSM_E_BAD_FIELD:
        return "a field is missing or invalid";
    case WSM_E_TOO_LARGE:
        return "message too large";
    case WSM_E_QUEUE_FULL:
        return "the queue is full";
    case WSM_E_NO_SUCH_QUEUE:
        return "no such queue";
    case WSM_E_NO_SUCH_JOB:
        return "no such job";
    case WSM_E_DUPLICATE_ID:
        return "a job with this id already exists";
    case WSM_E_UNAUTHORIZED:
        return "unauthorised";
    case WSM_E_FORBIDDEN:
        return "forbidden";
    case WSM_E_BAD_STATE:
        return "the job is not in a state that allows this";
    case WSM_E_UNSUPPORTED_VERSION:
        return "no common protocol version";
    case WSM_E_SHUTTING_DOWN:
        return "the hub is shutting down";
    case WSM_E_LIMIT:
        return "a limit was hit";
    case WSM_E_INTERNAL:
        return "internal error";
    case WSM_E_TIMEOUT:
        return "timed out";
    case WSM_E_CONNECT:
        return "cannot connect";
    case WSM_E_NOMEM:
        return "out of memory";
    case WSM_E_IO:
        return "input/output error";
    case WSM_E_WOULD_BLOCK:
        return "would block";
    case WSM_E_STOPPED:
        return "the job was stopped";
    case WSM_E_CLOSED:
        return "the connection is closed";
    case WSM_E_USAGE:
        return "invalid argument";
    default:
        return "unknown error";
    }
}

void wsm__ignore_sigpipe(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
}
