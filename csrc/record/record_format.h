/*
 * record_format.h: the log that the trace recorder (recorder.c, run by
 * `memalloc record`) writes, one file per process image.  memalloc_py's
 * reader (memalloc_py/recording.py) mirrors these definitions, and a test
 * checks that the two agree; docs/traces.md describes the format for users.
 *
 * A log is a file header followed by chunks.  Every integer is in the byte
 * order of the recording machine (byte_order tells which).
 *
 *   file header  (struct mr_file_header, then cmd_bytes of the command line
 *                 as /proc/self/cmdline gives it, NUL-separated, then
 *                 exe_bytes of the executable's path, then zero bytes up to
 *                 header_bytes, a multiple of 8)
 *   chunk        (struct mr_chunk: one thread's buffered events, then
 *                 `count` records of struct mr_record, count >= 1)
 *   chunk ...
 *
 * A record's head holds its sequence number (bits 0-55) and its kind (bits
 * 56-63).  Sequence numbers come from one counter per process image, taken
 * after the call for an allocation and before it for a free, so that an
 * address freed by one thread and handed out to another is freed first in
 * sequence order.  A realloc moves its block in one call: it takes a second
 * number (the release) before the call, when the old block may already be
 * given to another thread, and its head's number after it.
 */
#ifndef MEMALLOC_RECORD_FORMAT_H
#define MEMALLOC_RECORD_FORMAT_H

#include <stdint.h>

#define MR_MAGIC "memarec"          /* 8 bytes with its NUL */
#define MR_VERSION 1u
#define MR_BYTE_ORDER 0x01020304u   /* as written by the recording machine */
#define MR_CHUNK_MAGIC 0x4b4e4843u  /* "CHNK" in little-endian order */
#define MR_SEQ_BITS 56
#define MR_MAX_CMD 4096u            /* the command line is cut at this many bytes */
#define MR_MAX_EXE 4096u

/* Record kinds, and what the five words w[0..4] of each hold. */
enum mr_kind {
    MR_MALLOC = 1,          /* size, result */
    MR_CALLOC = 2,          /* count, size, result */
    MR_REALLOC = 3,         /* old pointer, size, result, release sequence number */
    MR_REALLOCARRAY = 4,    /* old pointer, count, size, result, release sequence number */
    MR_FREE = 5,            /* pointer */
    MR_POSIX_MEMALIGN = 6,  /* alignment, size, result (0 when it failed), return value */
    MR_ALIGNED_ALLOC = 7,   /* alignment, size, result */
    MR_MEMALIGN = 8,        /* alignment, size, result */
    MR_VALLOC = 9,          /* size, result (aligned to the header's page size) */
    MR_PVALLOC = 10,        /* size, result (the size rounded up to pages) */
    MR_KIND_MAX = 10
};

struct mr_file_header {
    char magic[8];          /* MR_MAGIC */
    uint32_t version;       /* MR_VERSION */
    uint32_t header_bytes;  /* this struct, the two strings and padding: a multiple of 8 */
    uint32_t record_bytes;  /* sizeof(struct mr_record) */
    uint32_t byte_order;    /* MR_BYTE_ORDER */
    uint32_t pid;
    uint32_t ppid;          /* the parent when this image's log was opened */
    uint32_t image;         /* n in the file name PID.n.mrec: the first free one */
    uint32_t page_size;
    uint64_t start_ticks;   /* /proc/self/stat's starttime: kept across exec, new for a reused pid */
    uint64_t start_ns;      /* CLOCK_REALTIME when the log was opened */
    uint64_t first_seq;     /* the sequence counter then (a fork child continues its parent's) */
    uint32_t cmd_bytes;
    uint32_t exe_bytes;
};

struct mr_chunk {
    uint32_t magic;         /* MR_CHUNK_MAGIC */
    uint32_t tid;           /* the thread whose events follow */
    uint32_t count;         /* records that follow, at least 1 */
    uint32_t reserved;      /* 0 */
};

struct mr_record {
    uint64_t head;          /* sequence number | kind << MR_SEQ_BITS */
    uint64_t w[5];
};

#endif
