/* platform_posix.c: the pq_port.h back end for Linux programs (qemu-aarch64 / qemu-arm user
 * mode, and the host): raw read(2)/write(2) on stdin/stdout, so every byte passes unchanged and
 * input is consumed as soon as it arrives. Instruction counting is not available here. */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "pq_platform.h"
#include "pq_port.h"

void pq_port_init(void)
{
    /* main() returning goes through the C library's exit(), not pq_exit(). */
    atexit(pq_flush_output);
}

size_t pq_port_read(uint8_t *buf, size_t cap)
{
    for (;;) {
        ssize_t got = read(STDIN_FILENO, buf, cap);
        if (got >= 0) {
            return (size_t)got;
        }
        if (errno != EINTR) {
            return 0; /* an unreadable input ends like an empty one */
        }
    }
}

void pq_port_write(const uint8_t *data, size_t n)
{
    while (n > 0) {
        ssize_t put = write(STDOUT_FILENO, data, n);
        if (put < 0) {
            if (errno == EINTR) {
                continue;
            }
            _exit(141); /* the reader went away: stop like a process killed by SIGPIPE */
        }
        data += put;
        n -= (size_t)put;
    }
}

void pq_port_exit(int code)
{
    exit(code);
}

int pq_counter_available(void)
{
    return 0;
}

void pq_counter_start(void)
{
}

uint32_t pq_counter_read(void)
{
    return 0;
}
