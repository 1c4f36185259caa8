/*
 * broker_int.h - internal data structures of the broker core, shared by broker.c (state
 * machine), broker_query.c (queries, JSON), broker_persist.c (records, restore) and
 * broker_util.c (hash table, heap, lists, JSON text helpers). Not a public header.
 *
 * Ownership: the broker owns every struct here. A job (bjob) is owned by the id hash
 * (b->jobs) from creation until purge; every other reference to a job (ready list, key FIFO,
 * registry list, lease list, timer heap, dependency edge, tree member list) is intrusive and
 * is removed before the job is freed (job_free checks the invariants in debug builds).
 */
#ifndef WSM_BROKER_INT_H
#define WSM_BROKER_INT_H

#include "broker.h"

#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ intrusive lists */
typedef struct blink {
    struct blink *prev, *next;
} blink;

#define bcontainer(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

static inline void blist_init(blink *h)
{
    h->prev = h->next = h;
}
static inline bool blist_empty(const blink *h)
{
    return h->next == h;
}
/* A node not in any list has prev == next == NULL (or points to itself after init). */
static inline bool blink_linked(const blink *n)
{
    return n->next != NULL && n->next != n;
}
static inline void blist_insert_after(blink *pos, blink *n)
{
    n->prev = pos;
    n->next = pos->next;
    pos->next->prev = n;
    pos->next = n;
}
static inline void blist_push_back(blink *h, blink *n)
{
    blist_insert_after(h->prev, n);
}
static inline void blist_push_front(blink *h, blink *n)
{
    blist_insert_after(h, n);
}
static inline void blist_remove(blink *n)
{
    n->prev->next = n->next;
    n->next->prev = n->prev;
    n->prev = n->next = NULL;
}

/* ------------------------------------------------------------------ hash table
 * Open addressing, linear probing, backward-shift deletion (no tombstones). Entries are
 * pointers to structs whose first member is a bhent. Capacity is a power of two, load <= 1/2.
 */
typedef struct bhent {
    char *key;
    uint64_t hash;
} bhent;

typedef struct bhash {
    bhent **slots;
    size_t cap; /* power of two or 0 */
    size_t n;
} bhash;

uint64_t bhash_str(const char *s, size_t n);
bhent *bhash_get(const bhash *h, const char *key, uint64_t hash);
/* Inserts e (its key must not be present). Returns 0 or WSM_E_NOMEM. */
int bhash_put(bhash *h, bhent *e);
/* Removes e (must be present). */
void bhash_del(bhash *h, bhent *e);
void bhash_free(bhash *h);

/* ------------------------------------------------------------------ timer heap */
enum { BT_JOB = 1, BT_WAIT = 2 };
typedef struct btimer {
    int64_t at;
    size_t idx; /* position in the heap, SIZE_MAX when not armed */
    uint8_t kind;
} btimer;

typedef struct bheap {
    btimer **v;
    size_t n, cap;
} bheap;

/* Arms (or re-arms) t at `at`. Returns 0 or WSM_E_NOMEM. */
int bheap_set(bheap *h, btimer *t, int64_t at);
void bheap_del(bheap *h, btimer *t);
static inline btimer *bheap_top(const bheap *h)
{
    return h->n ? h->v[0] : NULL;
}
static inline bool btimer_armed(const btimer *t)
{
    return t->idx != SIZE_MAX;
}

/* ------------------------------------------------------------------ JSON text helpers */
/* Appends s as a JSON string literal (quoted, escaped). NULL -> null. 0 or NOMEM. */
int bjson_str(wsm_buf *b, const char *s);
/* Appends a raw JSON text slice, or `null` when NULL. */
int bjson_raw(wsm_buf *b, const char *s, size_t n);
/* Duplicates n bytes + NUL. NULL on NOMEM (or when s is NULL). */
char *bdup(const char *s, size_t n);
static inline char *bstrdup0(const char *s)
{
    return s ? bdup(s, strlen(s)) : NULL;
}

/* ------------------------------------------------------------------ core types */
enum bstatus {
    ST_QUEUED = 0,
    ST_DEFERRED,
    ST_SCHEDULED,
    ST_STARTED,
    ST_FINISHED,
    ST_FAILED,
    ST_EXPIRED,
    ST_CANCELED,
    ST__N
};
#define ST_ENDED(s) ((s) >= ST_FINISHED)

struct bqueue;
struct broker_conn;
struct btree;

/* (queue, key): FIFO of a key. owner = the job at the head of the key (queued in the ready
 * list, started, or scheduled for a retry); waiting = later queued jobs of the key (via
 * job->run, ordered by qseq). Freed when refs (jobs in memory with this key) is 0 and no
 * tree in memory had a job of it (n_trees 0), and it has no owner and nothing waiting. */
typedef struct bkey {
    bhent h;
    struct bqueue *q;
    struct bjob *owner;
    blink waiting;
    char *state;
    size_t state_len;
    char *stopped_by; /* id of the job that failed for good, or NULL */
    size_t refs;
    bool dirty;
    bool saved; /* a record of this key is in the store (delete it when the key goes) */
    blink dirty_link;
    /* key retention: trees (in memory) that had a job of this key; the key and its state
     * live while n_trees > 0, so a stream's state survives the purge of its finished jobs */
    struct btree **trees;
    size_t n_trees, cap_trees;
    cJSON *restore_roots; /* restore only: array of those trees' root ids (taken from the key
                           * record), or NULL */
} bkey;

/* A dependency edge: child waits for parent. Linked in parent->dependents. */
typedef struct bdep {
    blink link;
    struct bjob *child;
    struct bjob *parent;
} bdep;

typedef struct bjob {
    bhent h; /* id */
    struct bqueue *q;
    uint8_t status;
    bool emitted;
    bool allow_failure;
    bool payload_saved; /* payload written to the store */
    bool dirty;
    bool cascading; /* in b->cascade */
    bool deleted;   /* purged: id queued for deletion in the store */
    int attempt;
    int64_t qseq; /* order in the queue (at_front: negative) */
    int64_t enqueued_at, started_at, ended_at;
    int64_t run_at; /* scheduled: when it becomes queued */
    int64_t ttl_at; /* waiting: when it expires; 0 = never */
    /* resolved options */
    int64_t timeout_ms, ttl_ms, result_ttl_ms, failure_ttl_ms;
    int retry_max;
    int n_intervals;
    int64_t *intervals;
    int64_t weight;
    /* immutable data: in the job's own allocation, after the struct, except payload_meta and
     * payload, which live in pbuf (freed as soon as the job finished, see job_drop_payload) */
    void *pbuf;
    const char *args;
    size_t args_len;
    const char *meta;
    size_t meta_len;
    const char *payload_meta;
    size_t payload_meta_len;
    const char *content_type;
    const unsigned char *payload;
    size_t len;
    /* mutable data */
    char *value; /* result value JSON */
    size_t value_len;
    char *error; /* fail error JSON */
    size_t error_len;
    char *reason; /* why it ended other than finished (timeout, dependency_failed: x...) */
    char *parent_id;
    char *root_id;
    bkey *key;
    /* result payload replaces nothing: it travels to the routed child only */
    blink reg; /* registry list of (q, status) */
    blink run; /* q->ready or key->waiting */
    btimer tm; /* one deadline by status: timeout / ttl / run_at / purge */
    struct broker_conn *lease;
    blink lease_link;
    struct btree *tree; /* NULL for a root without children */
    blink tree_link;
    char **deps; /* depends_on ids */
    size_t n_deps;
    bdep *edges; /* n_deps edges while deferred, else NULL */
    size_t deps_pending;
    blink dependents; /* bdep.link of children waiting for this job */
    blink waits;      /* bwait.target_link of waits on this job */
    double prog_done, prog_total;
    char *prog_msg;
    blink dirty_link;
} bjob;

typedef struct btree_q {
    int64_t jobs, ended, weight, weight_done;
} btree_q;

typedef struct bdedup {
    bhent h;
    struct btree *tree;
    struct bdedup *next;
} bdedup;

typedef struct btree {
    char *root_id;
    bjob *root;  /* NULL once the root was purged */
    size_t refs; /* member jobs in memory */
    int64_t jobs, ended, bad;
    int64_t started_at, ended_at;
    btree_q *qs; /* one per queue */
    blink members;
    bdedup *dedup;
    blink waits; /* tree waits */
    bool pdirty;
    blink pdirty_link;
    double prog_done, prog_total;
    char *prog_msg;
    /* keys used by jobs of this tree (each lists this tree in bkey.trees while the tree is in
     * memory) */
    bkey **keys;
    size_t n_keys, cap_keys;
} btree;

typedef struct bsub {
    blink hungry; /* in q->hungry while the conn has free credit */
    struct broker_conn *c;
    struct bqueue *q;
} bsub;

typedef struct bwait {
    btimer tm;
    struct broker_conn *c;
    uint64_t req;
    bool tree;
    blink target_link; /* job->waits or tree->waits */
    blink conn_link;
} bwait;

typedef struct bheld {
    blink qlink; /* target q->held */
    blink conn_link;
    struct broker_conn *c;
    uint64_t req;
    bjob *job; /* built, not yet in the hash */
} bheld;

typedef struct broker_conn {
    void *user;
    uint64_t session;
    char *name, *instance, *kind;
    int64_t connected_at, last_seen_at;
    bsub *subs;
    size_t n_subs;
    int64_t prefetch;
    size_t n_leased;
    blink leased;
    bool in_hungry;
    bool feed_pending;
    blink feed_link;
    bool worker;
    uint64_t processed, failed;
    blink held;
    blink waits;
    blink all_link;
} bconn;

typedef struct broute {
    char *output;
    struct bqueue *to;
} broute;

typedef struct bqueue {
    char *name;
    size_t idx;
    int64_t max_length;
    broker_job_opts defaults;
    bool paused;
    blink ready; /* dispatch candidates ordered by qseq */
    blink reg[ST__N];
    size_t count[ST__N];
    blink hungry;
    size_t n_consumers;
    bhash keys;
    blink held;
    size_t n_held;
    int64_t head_seq, tail_seq;
    broute *routes;
    size_t n_routes;
    bool pump_pending;
    blink pump_link;
    uint64_t n_finished, n_failed, n_expired, n_canceled, n_enqueued, n_dispatched, n_dropped;
} bqueue;

struct broker {
    bqueue *queues;
    size_t n_queues;
    broker_retention ret;
    int64_t (*now)(void *);
    void *clock_user;
    broker_output out;
    bool persist;
    bool draining, drained_sent;
    bool topic_events, topic_progress;
    uint64_t id_hi, id_ctr;
    bhash jobs;
    bhash dedup;
    bheap timers;
    blink conns;
    blink pump; /* queues to pump */
    blink feed; /* conns to feed */
    blink pdirty;
    size_t n_leased;
    size_t n_trees;
    bool settling;
    bool in_restore; /* broker_restore_finish is running: registry caps wait until the end */
    blink cascade;   /* jobs to cancel (via job->run; reason already set) */
    /* persistence */
    uint64_t change_seq;
    blink dirty_jobs;
    blink dirty_keys;
    /* ordered log of deletions and dedup changes: a tag byte then NUL-terminated strings:
     * 'J' id (job deleted), 'K' queue key (key forgotten), 'D' id root (dedup id added),
     * 'R' root (dedup ids of root forgotten) */
    wsm_buf oplog;
    /* restore */
    blink restoring;       /* restored jobs (via dirty_link) until broker_restore_finish */
    wsm_buf restore_dedup; /* id\0root\0 pairs */
    /* scratch */
    wsm_buf scratch;
    /* payload and payload_meta bytes held by jobs (in memory, held emits included) */
    size_t payload_bytes;
};

static inline int64_t broker_now(const broker *b)
{
    return b->now(b->clock_user);
}

/* broker.c internals used by the other files */
bqueue *broker_find_queue(const broker *b, const char *name);
bjob *broker_find_job(const broker *b, const char *id);
const char *broker_tree_status(const bjob *j);
void broker_mark_dirty(broker *b, bjob *j);
void broker_oplog(broker *b, char tag, const char *s1, const char *s2);
void broker_key_dirty(broker *b, bkey *k);
bkey *broker_key_get(broker *b, bqueue *q, const char *key, bool create);
void broker_key_unref(broker *b, bkey *k);
/* Links key k to tree t (once): k lives while t does. Returns 0 or WSM_E_NOMEM. */
int broker_tree_key_add(broker *b, btree *t, bkey *k);
int broker_job_alloc(broker *b, bqueue *q, const char *id, const broker_job_spec *spec, bjob **out);
void broker_job_free(broker *b, bjob *j);
/* A tree of no job yet (root unset: restore gives one to a purged root); NULL on NOMEM. */
btree *broker_tree_new(broker *b, const char *root_id);
btree *broker_tree_ensure(broker *b, bjob *root);
void broker_tree_add(broker *b, btree *t, bjob *j);
void broker_settle(broker *b);
/* broker.c helpers for broker_restore_finish */
void broker_restore_settle(broker *b); /* enforces registry caps, then settles */
void broker_restore_job_state(broker *b, bjob *j);
void broker_restore_tree_done(broker *b, btree *t);

/* broker_query.c */
cJSON *broker_job_json(broker *b, bjob *j);
int broker_job_event(broker *b, bjob *j);
int broker_tree_progress_json(broker *b, btree *t, bjob *root, wsm_buf *out);

/* broker_persist.c */
int broker_job_record(broker *b, const bjob *j, wsm_buf *out);

#endif
