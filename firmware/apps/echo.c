/* echo.c: the platform self-test, built for every target by the test suite.
 *
 * For each input line it prints "<len> <dropped>:" then the stored bytes, unchanged, then '\n'.
 * Lines are read into a 64-byte buffer (PQ_ECHO_CAP), so longer lines show the cut and the
 * dropped count. Two commands exercise the rest of pq_platform.h:
 *   "!exit N"  ends the program at once with status N;
 *   "!work N"  runs N iterations of a small loop and prints "work N insns C avail A": C is
 *              the difference of pq_counter_read() around the loop, A pq_counter_available().
 * At end of input it prints "eof <lines> insns <instructions since the start>" and returns 0.
 * The counter starts right after pq_platform_init(), so the total measures the echo itself. */
#include "pq_platform.h"

#ifndef PQ_ECHO_CAP
#define PQ_ECHO_CAP 64
#endif

static uint8_t line[PQ_ECHO_CAP];

/* The decimal number after a prefix of `plen` bytes, if the rest of the line is one. */
static int parse_command(const uint8_t *buf, size_t len, const char *prefix, size_t plen,
                         uint32_t *value)
{
    size_t i;
    uint32_t v = 0;

    if (len <= plen) {
        return 0;
    }
    for (i = 0; i < plen; i++) {
        if (buf[i] != (uint8_t)prefix[i]) {
            return 0;
        }
    }
    for (; i < len; i++) {
        if (buf[i] < '0' || buf[i] > '9' || v > 100000000u) {
            return 0;
        }
        v = v * 10u + (uint32_t)(buf[i] - '0');
    }
    *value = v;
    return 1;
}

/* Deterministic busy work the compiler cannot remove. */
static uint32_t work(uint32_t n)
{
    volatile uint32_t acc = 1;
    uint32_t i;

    for (i = 0; i < n; i++) {
        acc = acc * 1664525u + 1013904223u;
    }
    return acc;
}

int main(void)
{
    size_t len, dropped;
    uint32_t lines = 0, value;

    pq_platform_init();
    pq_counter_start();
    while (pq_read_line(line, sizeof line, &len, &dropped)) {
        lines++;
        if (parse_command(line, len, "!exit ", 6, &value)) {
            pq_exit((int)value);
        }
        if (parse_command(line, len, "!work ", 6, &value)) {
            uint32_t before = pq_counter_read(), insns;

            (void)work(value);
            insns = pq_counter_read() - before;
            pq_write_str("work ");
            pq_write_uint(value);
            pq_write_str(" insns ");
            pq_write_uint(insns);
            pq_write_str(" avail ");
            pq_write_uint((uint32_t)pq_counter_available());
            pq_write_str("\n");
            continue;
        }
        pq_write_uint((uint32_t)len);
        pq_write_str(" ");
        pq_write_uint((uint32_t)dropped);
        pq_write_str(":");
        pq_write(line, len);
        pq_write_str("\n");
    }
    pq_write_str("eof ");
    pq_write_uint(lines);
    pq_write_str(" insns ");
    pq_write_uint(pq_counter_read());
    pq_write_str("\n");
    return 0;
}
