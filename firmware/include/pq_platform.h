/* pq_platform.h: the one interface between pqcompile's programs and the machine they run on.
 *
 * Application code (the projection, the generated model driver, test apps) uses only these
 * functions; each target links one implementation (see firmware/README.md):
 *   - QEMU's MPS2/MPS3 boards: ARM semihosting (input read from a host file, output to the console),
 *   - Linux user mode (qemu-aarch64 / qemu-arm) and the host: POSIX stdin/stdout,
 *   - real boards, and stm32f405 under QEMU: a UART console.
 * The application defines `int main(void)`; returning from it is pq_exit(<return value>).
 * Nothing here allocates memory. */
#ifndef PQ_PLATFORM_H
#define PQ_PLATFORM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Call once at the start of main(), before any other pq_* function. */
void pq_platform_init(void);

/* Next input line without its '\n' into buf[0..cap). Returns 0 at end of input, 1 otherwise.
   *len = bytes stored (<= cap); *dropped = bytes of the line beyond cap, read and discarded.
   Every byte value (NUL, '\r', 0xFF...) is data. A last line without '\n' is still a line. */
int pq_read_line(uint8_t *buf, size_t cap, size_t *len, size_t *dropped);

/* Write n bytes to the output (buffered; flushed when full, before blocking on input, and by pq_exit). */
void pq_write(const void *data, size_t n);

/* Write a NUL-terminated string (without its NUL). */
void pq_write_str(const char *s);
/* Writes v in decimal (no sign, no padding). */
void pq_write_uint(uint64_t v);

/* Flush the output and end the program with this status (0..255 on every target). Never returns. */
void pq_exit(int code);

/* 1 where instructions can be counted deterministically (QEMU's MPS2/MPS3 boards and
   netduinoplus2 run with -icount shift=0; on a real STM32F405 the same TIM2 counter gives CPU
   cycles), 0 elsewhere (then pq_counter_read() always returns 0). */
int pq_counter_available(void);

/* Start (or restart) the instruction counter. */
void pq_counter_start(void);

/* Instructions executed since pq_counter_start(), measured with the board's timer under
   -icount shift=0 (one instruction per virtual nanosecond), so the resolution is one timer tick
   (40 instructions on the 25 MHz MPS2 boards). Wraps after 2^32 instructions. */
uint32_t pq_counter_read(void);

#ifdef __cplusplus
}
#endif

#endif /* PQ_PLATFORM_H */
