/* pq_port.h: what an I/O back end (semihosting, POSIX, UART) provides to the shared
 * line-reading and output-buffering layer in common/platform.c. Internal to firmware/. */
#ifndef PQ_PORT_H
#define PQ_PORT_H

#include <stddef.h>
#include <stdint.h>

/* Open the input and output channels. */
void pq_port_init(void);

/* Read up to cap (> 0) input bytes into buf; returns how many were read, 0 only at end of input.
   May block until at least one byte is available. */
size_t pq_port_read(uint8_t *buf, size_t cap);

/* Write all n bytes to the output. */
void pq_port_write(const uint8_t *data, size_t n);

/* End the program with this status; the output is already flushed. */
void pq_port_exit(int code);

/* Provided by common/platform.c for back ends: write out the buffered output now (the POSIX
   back end registers it with atexit, so returning from main() loses nothing). */
void pq_flush_output(void);

#endif /* PQ_PORT_H */
