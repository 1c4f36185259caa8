/*
 * mf4.h - libmf4: a reader and a small writer for ASAM MDF 4.0-4.2 measurement files.
 *
 * Reading
 *   mf4_open() memory-maps a file (mf4_open_memory() reads a caller's buffer); the whole
 *   block structure (header, data groups, channel groups, channels, conversions, texts) is
 *   parsed and validated up front into read-only descriptors (mf4_group, mf4_channel,
 *   mf4_conversion) that live until mf4_close(). Sample data is never loaded whole: a
 *   mf4_reader walks the records of one channel group in batches of N records and extracts
 *   the selected channels as columns (raw value + physical double + validity), so memory is
 *   O(batch) whatever the file size (a DZ block is inflated one block at a time).
 *
 *   Groups are numbered as asammdf numbers them: data group order, then channel group order
 *   within a data group. A VLSD channel group (it only stores variable-length data for a
 *   channel of another group) is listed, with no channels. Channels of a group are listed
 *   depth first: a channel, then the members of its composition (structure), then its next.
 *
 *   Unfinalized files ("UnFinMF "): the last DT block with length 0 runs to the end of the
 *   file, cycle counts are recounted by scanning the records, a cut-off last record is
 *   dropped (mf4_file_info.unfinalized tells the caller).
 *
 * Errors
 *   Every fallible function returns an mf4_status (0 = MF4_OK) and, when err is not NULL,
 *   fills it with the code, the file offset of the offending block or byte (0 if none) and a
 *   message naming the cause. Every link, offset and length read from a file is checked
 *   against the file size before use, link cycles are detected, and no allocation is larger
 *   than the file (or a caller's batch size) justifies.
 *
 * Threads: an mf4_file may be shared by several threads once opened, each with its own
 *   mf4_reader; a reader or writer must be used by one thread at a time.
 *
 * Writing
 *   mf4_writer writes MDF 4.10 files with sorted data groups, one channel group each: a group
 *   is begun, its records are appended one by one (streamed straight to the file: O(1)
 *   memory, or one DZ chunk when compressing), and ended; then the next group may begin.
 *   Channel 0 of every group is its master (time in seconds unless given otherwise). Numeric
 *   channels of any integer width (1-64 bits) and float32/float64, little or big endian,
 *   with any conversion of mf4_conv_type that has parameters/texts (no nesting), and an
 *   optional invalidation bit per channel. Data goes into one DT block, or with
 *   `compress` into a DL list of DZ blocks (transposed deflate) of about 4 MiB of records.
 *
 *     mf4_writer *w;  mf4_error e;
 *     mf4_writer_open(&w, "out.mf4", NULL, &e);
 *     double speed_lin[2] = {0.0, 0.01};              // phys = 0 + 0.01 * raw  (km/h)
 *     mf4_wchannel ch[] = {
 *         {.name = "t", .unit = "s", .type = MF4_W_F64},
 *         {.name = "speed", .unit = "km/h", .type = MF4_W_U16,
 *          .conv = {.type = MF4_CONV_LINEAR, .n_params = 2, .params = speed_lin}},
 *         {.name = "range", .unit = "m", .type = MF4_W_F32, .invalidation = true},
 *     };
 *     mf4_wgroup g = {.acq_name = "100 Hz", .channels = ch, .n_channels = 3, .compress = false};
 *     mf4_writer_begin_group(w, &g, &e);
 *     double v[3] = {0.01, 5000, 12.5};  uint8_t ok[3] = {1, 1, 0};   // range invalid here
 *     mf4_writer_record(w, v, ok, &e);                                // raw values
 *     double p[3] = {0.02, 50.0, 12.0};
 *     mf4_writer_record_phys(w, p, NULL, &e);                         // physical values
 *     mf4_writer_end_group(w, &e);
 *     mf4_writer_close(w, &e);                                        // also frees w
 */
#ifndef MF4_H
#define MF4_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ status and errors */
typedef enum mf4_status {
    MF4_OK = 0,
    MF4_E_IO,          /* open/stat/mmap/write failed (message has strerror) */
    MF4_E_NOT_MDF,     /* no "MDF     " / "UnFinMF " identification block */
    MF4_E_VERSION,     /* an MDF version this library does not read (< 4.00 or >= 5) */
    MF4_E_TRUNCATED,   /* a block, link or record reaches past the end of the file */
    MF4_E_CORRUPT,     /* a block has a wrong id, impossible length/count, a link cycle... */
    MF4_E_UNSUPPORTED, /* a valid MDF feature this library does not implement (named) */
    MF4_E_ZLIB,        /* a DZ block does not inflate to its declared size */
    MF4_E_NOMEM,       /* allocation failed */
    MF4_E_NOT_FOUND,   /* no such group/channel (by index or name) */
    MF4_E_ARG,         /* a caller error: NULL where not allowed, bad index, bad state */
    MF4_E_CONV,        /* a conversion is malformed (e.g. algebraic formula syntax) */
    MF4_STATUS_COUNT
} mf4_status;

typedef struct mf4_error {
    int code;        /* an mf4_status */
    uint64_t offset; /* file offset of the block/byte at fault, 0 if none */
    char message[256];
} mf4_error;

/* Static name of a status ("MF4_E_TRUNCATED" -> "truncated file"); never NULL. */
const char *mf4_strerror(int code);

/* ------------------------------------------------------------------ descriptors */
/* cn_data_type of the MDF 4 specification. */
typedef enum mf4_data_type {
    MF4_DT_UINT_LE = 0,
    MF4_DT_UINT_BE = 1,
    MF4_DT_INT_LE = 2,
    MF4_DT_INT_BE = 3,
    MF4_DT_FLOAT_LE = 4,
    MF4_DT_FLOAT_BE = 5,
    MF4_DT_STRING_LATIN1 = 6,
    MF4_DT_STRING_UTF8 = 7,
    MF4_DT_STRING_UTF16_LE = 8,
    MF4_DT_STRING_UTF16_BE = 9,
    MF4_DT_BYTE_ARRAY = 10,
    MF4_DT_MIME_SAMPLE = 11,
    MF4_DT_MIME_STREAM = 12,
    MF4_DT_CANOPEN_DATE = 13,
    MF4_DT_CANOPEN_TIME = 14,
    MF4_DT_COMPLEX_LE = 15,
    MF4_DT_COMPLEX_BE = 16,
} mf4_data_type;

/* cn_type. */
typedef enum mf4_channel_type {
    MF4_CN_FIXED = 0,
    MF4_CN_VLSD = 1,
    MF4_CN_MASTER = 2,
    MF4_CN_VIRTUAL_MASTER = 3,
    MF4_CN_SYNC = 4,
    MF4_CN_MLSD = 5,
    MF4_CN_VIRTUAL_DATA = 6,
    MF4_CN_VLSC = 7,
} mf4_channel_type;

/* cc_type. */
typedef enum mf4_conv_type {
    MF4_CONV_IDENTITY = 0,
    MF4_CONV_LINEAR = 1,      /* params: p1 (offset), p2 (factor): phys = p2 * x + p1 */
    MF4_CONV_RATIONAL = 2,    /* params p1..p6: (p1 x^2 + p2 x + p3) / (p4 x^2 + p5 x + p6) */
    MF4_CONV_ALGEBRAIC = 3,   /* formula text in X (or X1): + - * / ^ () and functions */
    MF4_CONV_TAB_INTERP = 4,  /* params: key0, value0, key1, value1 ... (keys ascending) */
    MF4_CONV_TAB = 5,         /* same, no interpolation: value of the nearest key */
    MF4_CONV_RANGE_VALUE = 6, /* params: min0, max0, value0, ..., default */
    MF4_CONV_VALUE_TEXT = 7,  /* params: key0..keyN-1; texts/refs 0..N-1 and default N */
    MF4_CONV_RANGE_TEXT = 8,  /* params: min0, max0, ...; refs 0..N-1 and default N */
    MF4_CONV_TEXT_VALUE = 9,  /* texts: key0..keyN-1; params value0..valueN-1, default */
    MF4_CONV_TEXT_TEXT = 10,  /* texts: key0, out0, ..., default (NULL: keep the input) */
    MF4_CONV_BITFIELD_TEXT = 11,
} mf4_conv_type;

/* A conversion (CC block). Value->text and range->text entries may be a text or a nested
 * conversion (then texts[i] is NULL and refs[i] is set). Owned by the mf4_file. */
typedef struct mf4_conversion mf4_conversion;
struct mf4_conversion {
    mf4_conv_type type;
    const char *name;    /* may be "" */
    const char *unit;    /* may be "" */
    const char *formula; /* MF4_CONV_ALGEBRAIC only, else NULL */
    size_t n_params;
    const double *params; /* cc_val */
    size_t n_refs;
    const char *const *texts;          /* n_refs entries: text or NULL */
    const mf4_conversion *const *refs; /* n_refs entries: nested conversion or NULL */
    uint64_t offset;                   /* file offset of the CC block */
};

/* The kind of raw value a channel yields in a column. */
typedef enum mf4_value_kind {
    MF4_VAL_UINT = 0, /* u64 */
    MF4_VAL_INT,      /* i64 */
    MF4_VAL_FLOAT,    /* f64 (float16/32 widened exactly) */
    MF4_VAL_BYTES,    /* bytes + offsets: strings (decoded to UTF-8), byte arrays, VLSD */
} mf4_value_kind;

typedef struct mf4_channel {
    size_t index;        /* position in the group's channel list */
    const char *name;    /* never NULL */
    const char *unit;    /* never NULL; CN unit, else the conversion's unit */
    const char *comment; /* never NULL */
    const char *source;  /* acquisition source name (SI), may be "" */
    mf4_channel_type channel_type;
    uint8_t sync_type; /* 0 none, 1 time, 2 angle, 3 distance, 4 index */
    mf4_data_type data_type;
    mf4_value_kind kind;
    uint32_t byte_offset; /* after the record id */
    uint8_t bit_offset;
    uint32_t bit_count;
    uint32_t flags;        /* cn_flags */
    bool has_invalidation; /* flags bit 1: inval_bit_pos is meaningful */
    bool all_invalid;      /* flags bit 0 */
    uint32_t inval_bit_pos;
    bool is_master;             /* master or virtual master (cn_type 2/3) */
    const mf4_conversion *conv; /* NULL = identity */
    long parent;                /* index of the composition parent in the group, or -1 */
    size_t n_children;          /* direct composition members (listed right after) */
    bool vlsd_in_group;         /* VLSD data stored in a VLSD channel group */
    uint64_t offset;            /* file offset of the CN block */
} mf4_channel;

typedef struct mf4_group {
    size_t index;         /* asammdf numbering */
    size_t dg_index;      /* which data group */
    const char *acq_name; /* never NULL, "" if none */
    const char *comment;  /* never NULL */
    const char *source;   /* acquisition source name, may be "" */
    uint64_t record_id;
    uint8_t record_id_size; /* of the data group: 0, 1, 2, 4 or 8 */
    uint64_t cycles;        /* record count (recounted for unfinalized/unsorted data) */
    uint16_t flags;         /* cg_flags */
    bool is_vlsd;           /* a VLSD channel group (no channels) */
    uint32_t data_bytes;    /* record size without record id and invalidation bytes */
    uint32_t inval_bytes;
    size_t n_channels;
    const mf4_channel *channels;
    long master;     /* index of the master channel, -1 if none */
    uint64_t offset; /* file offset of the CG block */
} mf4_group;

typedef struct mf4_file_info {
    uint16_t version;       /* 400, 410, 411, 420 ... */
    char version_str[9];    /* "4.10" (trimmed) */
    char program[9];        /* writer program id, trimmed */
    bool unfinalized;       /* "UnFinMF " file id */
    uint16_t unfin_flags;   /* id_unfin_flags */
    uint64_t start_time_ns; /* hd_start_time_ns (UTC unless time flags say local) */
    int16_t tz_offset_min;
    int16_t dst_offset_min;
    uint8_t time_flags;
    const char *comment; /* HD comment (text of TX or the MD XML), never NULL */
    uint64_t file_size;
    size_t n_data_groups;
    size_t n_groups;
} mf4_file_info;

typedef struct mf4_file mf4_file;

/* Opens and memory-maps path; parses the block tree. *out is set on MF4_OK, NULL otherwise.
 * Returns MF4_OK or an error (IO, NOT_MDF, VERSION, TRUNCATED, CORRUPT, UNSUPPORTED, NOMEM). */
int mf4_open(mf4_file **out, const char *path, mf4_error *err);
/* Same on a caller's buffer, which is borrowed: it must stay unchanged until mf4_close. */
int mf4_open_memory(mf4_file **out, const void *data, size_t len, mf4_error *err);
/* Unmaps and frees everything, including descriptors handed out. Accepts NULL. */
void mf4_close(mf4_file *f);

/* Borrowed pointer, valid until mf4_close. */
const mf4_file_info *mf4_info(const mf4_file *f);
size_t mf4_group_count(const mf4_file *f);
/* Borrowed; NULL if i is out of range. */
const mf4_group *mf4_group_at(const mf4_file *f, size_t i);
/* Finds a channel by exact name, searching group `group` only, or all groups in order when
 * group is (size_t)-1. Returns MF4_OK and sets *group_out and *channel_out, or MF4_E_NOT_FOUND. */
int mf4_find_channel(const mf4_file *f, const char *name, size_t group, size_t *group_out,
                     size_t *channel_out);
/* Human-readable type name of a conversion ("linear", "value->text" ...); never NULL. */
const char *mf4_conv_type_name(int type);
const char *mf4_data_type_name(int data_type);

/* Applies a numeric-input conversion (NULL = identity) to raw value x. raw_is_int selects the
 * range rule of range->value/range->text (integers: min <= x <= max, floats: min <= x < max).
 * Returns MF4_OK with *phys set and *text NULL, or MF4_OK with *text set (a borrowed string of
 * the file, *phys = NaN) for value->text/range->text results, following nested conversions up
 * to a depth of 16. A NIL default text keeps the raw value (*phys = x). MF4_E_CONV if the
 * conversion cannot take a number (text->value/text->text). phys/text may be NULL. */
int mf4_conv_apply(const mf4_conversion *c, double x, bool raw_is_int, double *phys,
                   const char **text);
/* Applies a text-input conversion (text->value, text->text). *phys or *text is set as above;
 * for other types the text is parsed as a number and mf4_conv_apply is used. */
int mf4_conv_apply_text(const mf4_conversion *c, const char *s, double *phys, const char **text);

/* ------------------------------------------------------------------ algebraic formulas */
/* Evaluates an algebraic conversion formula (ASAM syntax: X or X1 is the raw value, numbers,
 * + - * / ^ (power), unary minus, parentheses, comparison < > <= >= == !=, && || !, and
 * functions abs acos asin atan atan2 ceil cos cosh exp floor ln log log10 pow sin sinh sqrt
 * tan tanh). Returns MF4_OK and *out, or MF4_E_CONV with err->message saying where. */
int mf4_formula_eval(const char *formula, double x, double *out, mf4_error *err);

/* ------------------------------------------------------------------ streaming extraction */
/* One extracted column of the current batch. Arrays have room for the batch size; only the
 * first n (as returned by mf4_reader_next) entries are meaningful. All pointers are owned by
 * the reader and valid until the next mf4_reader_next / mf4_reader_free. */
typedef struct mf4_column {
    size_t channel; /* index in the group */
    const mf4_channel *ch;
    mf4_value_kind kind;
    const uint64_t *u64;     /* MF4_VAL_UINT raw values, else NULL */
    const int64_t *i64;      /* MF4_VAL_INT */
    const double *f64;       /* MF4_VAL_FLOAT */
    const uint8_t *bytes;    /* MF4_VAL_BYTES: value i is bytes[offsets[i] .. offsets[i+1]) */
    const size_t *offsets;   /* n + 1 entries */
    const double *phys;      /* physical value (conversion applied); NaN when the value
                                converts to text or is bytes. For a float channel without
                                conversion this is the f64 array itself */
    const char *const *text; /* per value: conversion text result, or NULL; NULL array if the
                                channel's conversion never yields text */
    const uint8_t *valid;    /* 1 valid, 0 invalid (invalidation bit set / all invalid) */
} mf4_column;

typedef struct mf4_reader mf4_reader;

/* Starts reading `group`, extracting `channels` (indexes into the group's channel list,
 * n_channels >= 1; duplicates allowed) in batches of at most `batch` records (1..1<<24).
 * The file must outlive the reader. Returns MF4_OK, MF4_E_ARG, MF4_E_NOT_FOUND, MF4_E_NOMEM,
 * or a data-structure error found while locating the group's data blocks. */
int mf4_reader_open(mf4_reader **out, const mf4_file *f, size_t group, const size_t *channels,
                    size_t n_channels, size_t batch, mf4_error *err);
/* Decodes the next batch: *n = records in it (0 at the end). Returns MF4_OK or an error
 * (TRUNCATED, CORRUPT, ZLIB, NOMEM); after an error further calls return the same error. */
int mf4_reader_next(mf4_reader *r, size_t *n, mf4_error *err);
/* Column i (0..n_channels-1) of the current batch; NULL if out of range. */
const mf4_column *mf4_reader_column(const mf4_reader *r, size_t i);
/* Records delivered so far. */
uint64_t mf4_reader_position(const mf4_reader *r);
void mf4_reader_free(mf4_reader *r); /* accepts NULL */

/* ------------------------------------------------------------------ writer */
typedef enum mf4_wtype {
    MF4_W_U8,
    MF4_W_U16,
    MF4_W_U32,
    MF4_W_U64,
    MF4_W_I8,
    MF4_W_I16,
    MF4_W_I32,
    MF4_W_I64,
    MF4_W_F32,
    MF4_W_F64,
} mf4_wtype;

/* A conversion to write: type plus cc_val parameters and, for value/range->text and
 * text->value/text, the texts (n_texts entries; for value->text: one per key plus a default
 * that may be NULL). formula: MF4_CONV_ALGEBRAIC. type 0 (identity) writes no CC block. */
typedef struct mf4_wconv {
    mf4_conv_type type;
    size_t n_params;
    const double *params;
    size_t n_texts;
    const char *const *texts;
    const char *formula;
} mf4_wconv;

typedef struct mf4_wchannel {
    const char *name;    /* required */
    const char *unit;    /* may be NULL */
    const char *comment; /* may be NULL */
    mf4_wtype type;
    unsigned bits; /* integers: 1..width bits used (0 = full width); stored at bit 0 */
    bool big_endian;
    bool invalidation; /* gets an invalidation bit (valid[] of the record calls) */
    mf4_wconv conv;    /* zero = identity */
} mf4_wchannel;

typedef struct mf4_wgroup {
    const char *acq_name;         /* may be NULL */
    const char *comment;          /* may be NULL */
    const mf4_wchannel *channels; /* channels[0] is the master (sync type time) */
    size_t n_channels;            /* 1..65535 */
    bool compress;                /* DL of DZ blocks (transposed deflate) instead of DT */
} mf4_wgroup;

typedef struct mf4_writer_opts {
    const char *program;    /* up to 8 chars in the ID block; default "libmf4" */
    uint64_t start_time_ns; /* HD start time; default 0 */
    const char *comment;    /* HD comment (plain text); may be NULL */
    size_t dz_chunk_bytes;  /* uncompressed bytes per DZ block; 0 = 4 MiB */
    int zlib_level;         /* 0 = default (Z_DEFAULT_COMPRESSION) */
} mf4_writer_opts;

typedef struct mf4_writer mf4_writer;

/* Creates/truncates path. opts may be NULL. Returns MF4_OK, MF4_E_IO, MF4_E_NOMEM. */
int mf4_writer_open(mf4_writer **out, const char *path, const mf4_writer_opts *opts,
                    mf4_error *err);
/* Starts a new data group with one channel group. The definition (strings, params) is
 * copied. MF4_E_ARG if a group is already open or the definition is invalid. */
int mf4_writer_begin_group(mf4_writer *w, const mf4_wgroup *g, mf4_error *err);
/* Appends one record of RAW values (one per channel, the stored integer as a double: exact up
 * to 2^53). Integers are rounded to nearest and saturated to the channel's range. valid may be
 * NULL (all valid); valid[i] == 0 sets channel i's invalidation bit (channels without one
 * ignore it). Returns MF4_OK, MF4_E_ARG (no open group), MF4_E_IO, MF4_E_ZLIB. */
int mf4_writer_record(mf4_writer *w, const double *raw, const uint8_t *valid, mf4_error *err);
/* Same with 64-bit integer raw values (two's complement bits for signed, value for unsigned;
 * float channels get (double) of the integer). */
int mf4_writer_record_int(mf4_writer *w, const int64_t *raw, const uint8_t *valid, mf4_error *err);
/* Same with PHYSICAL values: linear conversions (and identity) are inverted, other
 * conversion types give MF4_E_ARG. */
int mf4_writer_record_phys(mf4_writer *w, const double *phys, const uint8_t *valid, mf4_error *err);
/* Finishes the open group (flushes data, writes its blocks). */
int mf4_writer_end_group(mf4_writer *w, mf4_error *err);
/* Ends an open group, writes the header links, closes the file and frees w (also on error).
 * Accepts NULL (returns MF4_OK). */
int mf4_writer_close(mf4_writer *w, mf4_error *err);
/* Frees w without finishing the file (the file is left incomplete). Accepts NULL. */
void mf4_writer_abort(mf4_writer *w);

#ifdef __cplusplus
}
#endif

#endif
