/* platform.c: the target-independent half of pq_platform.h: line splitting over a buffered
 * byte stream, and buffered output. The bytes themselves come from a back end (pq_port.h).
 *
 * Lines end at '\n' only; every other byte value is data. Bytes beyond the caller's capacity
 * are consumed and counted, never stored, so no input can overflow the caller's buffer. */
#include <string.h>

#include "pq_platform.h"
#include "pq_port.h"

#ifndef PQ_IN_BUF_SIZE
#define PQ_IN_BUF_SIZE 512
#endif
#ifndef PQ_OUT_BUF_SIZE
#define PQ_OUT_BUF_SIZE 512
#endif

static uint8_t in_buf[PQ_IN_BUF_SIZE];
static size_t in_pos, in_len;
static int in_eof;

static uint8_t out_buf[PQ_OUT_BUF_SIZE];
static size_t out_len;

void pq_flush_output(void)
{
    if (out_len > 0) {
        pq_port_write(out_buf, out_len);
        out_len = 0;
    }
}

void pq_platform_init(void)
{
    in_pos = in_len = 0;
    in_eof = 0;
    out_len = 0;
    pq_port_init();
}

/* Make at least one unread input byte available; returns 0 at end of input. */
static int fill_input(void)
{
    if (in_pos < in_len) {
        return 1;
    }
    if (in_eof) {
        return 0;
    }
    pq_flush_output(); /* an interactive peer may wait for our answer before sending more */
    in_pos = 0;
    in_len = pq_port_read(in_buf, sizeof in_buf);
    if (in_len == 0) {
        in_eof = 1;
        return 0;
    }
    return 1;
}

int pq_read_line(uint8_t *buf, size_t cap, size_t *len, size_t *dropped)
{
    size_t stored = 0, extra = 0;
    int any = 0;

    while (fill_input()) {
        const uint8_t *start = in_buf + in_pos;
        size_t avail = in_len - in_pos;
        const uint8_t *nl = (const uint8_t *)memchr(start, '\n', avail);
        size_t take = nl != NULL ? (size_t)(nl - start) : avail;
        size_t room = cap - stored;
        size_t copy = take < room ? take : room;

        any = 1;
        if (copy > 0) {
            memcpy(buf + stored, start, copy);
            stored += copy;
        }
        extra += take - copy;
        in_pos += take;
        if (nl != NULL) {
            in_pos += 1; /* consume the '\n' */
            break;
        }
    }
    *len = stored;
    *dropped = extra;
    return any;
}

void pq_write(const void *data, size_t n)
{
    const uint8_t *p = (const uint8_t *)data;

    while (n > 0) {
        size_t room = sizeof out_buf - out_len;
        size_t chunk = n < room ? n : room;

        memcpy(out_buf + out_len, p, chunk);
        out_len += chunk;
        p += chunk;
        n -= chunk;
        if (out_len == sizeof out_buf) {
            pq_flush_output();
        }
    }
}

void pq_write_str(const char *s)
{
    pq_write(s, strlen(s));
}

void pq_exit(int code)
{
    pq_flush_output();
    pq_port_exit(code & 0xFF);
}

void pq_write_uint(uint64_t v)
{
    char digits[20];
    int n = 0;

    do {
        digits[n++] = (char)('0' + (int)(v % 10u));
        v /= 10u;
    } while (v != 0u);
    while (n > 0) {
        pq_write(&digits[--n], 1);
    }
}
