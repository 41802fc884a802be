/* semihosting.c: the pq_port.h back end for Cortex-M programs under QEMU (-semihosting).
 *
 * Input: the semihosting command line (QEMU's -semihosting-config arg=...) is
 * "<program> <input file>". The input file is a host file opened with SYS_OPEN and read with
 * SYS_READ, which passes every byte value through and reports end of file exactly. Without an
 * input file argument the program reads the semihosting console (":tt").
 * Output: SYS_WRITE to the console (":tt"), which QEMU sends to its standard output.
 * Exit: SYS_EXIT_EXTENDED carries the exit status to QEMU's own exit status. */
#include <string.h>

#include "pq_port.h"

enum {
    SYS_OPEN = 0x01,
    SYS_WRITE = 0x05,
    SYS_READ = 0x06,
    SYS_GET_CMDLINE = 0x15,
    SYS_EXIT = 0x18,
    SYS_EXIT_EXTENDED = 0x20
};

enum { OPEN_MODE_RB = 1, OPEN_MODE_W = 4 };

#define ADP_STOPPED_APPLICATION_EXIT 0x20026u

static uint32_t semihost(uint32_t op, const void *arg)
{
    register uint32_t r0 __asm__("r0") = op;
    register const void *r1 __asm__("r1") = arg;
    __asm__ volatile("bkpt 0xAB" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

static int32_t in_handle = -1, out_handle = -1;
static char cmdline[256];

static int32_t open_file(const char *name, uint32_t mode)
{
    uint32_t args[3];
    args[0] = (uint32_t)(uintptr_t)name;
    args[1] = mode;
    args[2] = (uint32_t)strlen(name);
    return (int32_t)semihost(SYS_OPEN, args);
}

/* The second space-separated word of the semihosting command line, or NULL. */
static const char *input_path(void)
{
    uint32_t args[2];
    char *p;

    args[0] = (uint32_t)(uintptr_t)cmdline;
    args[1] = sizeof cmdline - 1;
    if (semihost(SYS_GET_CMDLINE, args) != 0) {
        return NULL;
    }
    cmdline[args[1] < sizeof cmdline ? args[1] : sizeof cmdline - 1] = '\0';
    p = strchr(cmdline, ' ');
    if (p == NULL) {
        return NULL;
    }
    while (*p == ' ') {
        p++;
    }
    if (*p == '\0') {
        return NULL;
    }
    {
        char *end = strchr(p, ' ');
        if (end != NULL) {
            *end = '\0';
        }
    }
    return p;
}

void pq_port_init(void)
{
    const char *path = input_path();

    out_handle = open_file(":tt", OPEN_MODE_W);
    in_handle = path != NULL ? open_file(path, OPEN_MODE_RB) : open_file(":tt", 0);
    if (in_handle < 0) {
        static const char msg[] = "pq: cannot open the input file\n";
        pq_port_write((const uint8_t *)msg, sizeof msg - 1);
        pq_port_exit(2);
    }
}

size_t pq_port_read(uint8_t *buf, size_t cap)
{
    uint32_t args[3];
    uint32_t not_read;

    args[0] = (uint32_t)in_handle;
    args[1] = (uint32_t)(uintptr_t)buf;
    args[2] = (uint32_t)cap;
    not_read = semihost(SYS_READ, args);
    return not_read <= cap ? cap - not_read : 0;
}

void pq_port_write(const uint8_t *data, size_t n)
{
    while (n > 0) {
        uint32_t args[3];
        uint32_t not_written;

        args[0] = (uint32_t)out_handle;
        args[1] = (uint32_t)(uintptr_t)data;
        args[2] = (uint32_t)n;
        not_written = semihost(SYS_WRITE, args);
        if (not_written >= n) {
            return; /* the host refuses: nothing more can be done */
        }
        data += n - not_written;
        n = not_written;
    }
}

void pq_port_exit(int code)
{
    uint32_t args[2];

    args[0] = ADP_STOPPED_APPLICATION_EXIT;
    args[1] = (uint32_t)code;
    semihost(SYS_EXIT_EXTENDED, args);
    /* A host without SYS_EXIT_EXTENDED: plain SYS_EXIT (status 0 only). */
    semihost(SYS_EXIT, (const void *)(uintptr_t)ADP_STOPPED_APPLICATION_EXIT);
    for (;;) {
    }
}
