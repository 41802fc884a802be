/* usart_console.c: the pq_port.h back end for STM32F405/407 boards: the console is USART1 at
 * 115200 8N1 on PA9 (TX) / PA10 (RX), without interrupt handlers, and a small framing so that
 * a serial line, which has no end of file and no exit status, carries both (every byte value
 * stays data).
 *
 * Framing (DLE = 0x10):
 *   board -> host: DLE STX (0x10 0x02) once the receiver is on ("ready": bytes sent before it
 *                  may be lost); data bytes as they are, except DLE, sent as DLE DLE; at exit
 *                  DLE ETX <status> (0x10 0x03 and one byte, 0..255), then a system reset.
 *   host -> board: data bytes as they are, except DLE, sent as DLE DLE; DLE EOT (0x10 0x04)
 *                  is end of input. DLE followed by any other byte is that byte.
 * A person at a terminal types lines as usual (Ctrl-P Ctrl-D is end of input) and sees the
 * JSON answers; pqcompile (pqcompile/uart.py) speaks the framing for `pqcompile run/verify`.
 *
 * Real-board set-up, done here as an STM32F405 needs it: the GPIOA and USART1 clocks (RCC),
 * PA9/PA10 in alternate function 7 with a pull-up on RX, the baud rate divider for the 16 MHz
 * HSI the chip starts on (no PLL: the program runs at the reset clock), and VTOR pointing at
 * the vector table at 0x08000000. The FPU is enabled by cortex-m/startup.c. QEMU's netduinoplus2
 * leaves RCC and GPIO unimplemented (writes are ignored, reads give 0) and ignores the baud
 * rate, so the same image runs there; nothing here waits on a status bit QEMU does not model.
 *
 * Ending: pq_port_exit() sends the exit frame, waits for the transmitter to drain and requests
 * a system reset (AIRCR.SYSRESETREQ): QEMU run with -no-reboot then exits; a real board
 * restarts the program, ready for the next session. */
#include "pq_port.h"
#include "stm32f4.h"

#ifndef PQ_USART_CLOCK_HZ
#define PQ_USART_CLOCK_HZ 16000000u /* APB2 = HCLK = HSI after reset */
#endif
#ifndef PQ_USART_BAUD
#define PQ_USART_BAUD 115200u
#endif

#define DLE 0x10u
#define STX 0x02u
#define ETX 0x03u
#define EOT 0x04u

static int input_ended;

static void put_raw(uint8_t b)
{
    while ((USART1_SR & USART_SR_TXE) == 0u) {
    }
    USART1_DR = b;
}

/* The next received byte, as it came over the line. The core sleeps (WFI) until the receive
   interrupt is pending; PRIMASK keeps it from being taken, so no handler runs: the pending bit
   only wakes the core, and is cleared once DR is read (which drops the request). Reading DR
   after SR also clears an overrun (bytes lost while the program was busy; QEMU loses none). */
static uint8_t get_raw(void)
{
    uint8_t b;

    pq_stm32f4_counter_pause();
    while ((USART1_SR & USART_SR_RXNE) == 0u) {
        __asm__ volatile("wfi" : : : "memory");
    }
    b = (uint8_t)USART1_DR;
    NVIC_ICPR1 = USART1_IRQ_BIT;
    pq_stm32f4_counter_resume();
    return b;
}

/* The next input byte after unframing, or -1 at end of input. */
static int get_byte(void)
{
    uint8_t b;

    if (input_ended) {
        return -1;
    }
    b = get_raw();
    if (b == DLE) {
        b = get_raw();
        if (b == EOT) {
            input_ended = 1;
            return -1;
        }
    }
    return b;
}

void pq_port_init(void)
{
    SCB_VTOR = 0x08000000u; /* the vector table (ld/stm32f405.ld), even when a boot loader ran first */

    RCC_AHB1ENR |= RCC_AHB1ENR_GPIOAEN;
    RCC_APB2ENR |= RCC_APB2ENR_USART1EN;
    (void)RCC_APB2ENR; /* a read back lets the clock enable take effect before the ports are used */
    __asm__ volatile("dsb" : : : "memory");

    /* PA9 = USART1_TX, PA10 = USART1_RX: alternate function 7; RX pulled up (idle high when unwired) */
    GPIOA_MODER = (GPIOA_MODER & ~(0xFu << 18)) | (0xAu << 18);
    GPIOA_AFRH = (GPIOA_AFRH & ~(0xFFu << 4)) | (0x77u << 4);
    GPIOA_OSPEEDR = (GPIOA_OSPEEDR & ~(3u << 18)) | (1u << 18);
    GPIOA_PUPDR = (GPIOA_PUPDR & ~(3u << 20)) | (1u << 20);

    USART1_CR1 = 0u;
    USART1_CR2 = 0u; /* 1 stop bit */
    USART1_CR3 = 0u; /* no flow control */
    USART1_BRR = (PQ_USART_CLOCK_HZ + PQ_USART_BAUD / 2u) / PQ_USART_BAUD; /* 16x oversampling */
    /* 8 data bits, no parity; a received byte raises the USART1 interrupt, which only wakes the
       core from WFI: interrupts stay masked (PRIMASK), and the vector table has no IRQ entries */
    __asm__ volatile("cpsid i" : : : "memory");
    USART1_CR1 = USART_CR1_UE | USART_CR1_TE | USART_CR1_RE | USART_CR1_RXNEIE;
    NVIC_ICPR1 = USART1_IRQ_BIT;
    NVIC_ISER1 = USART1_IRQ_BIT;

    input_ended = 0;
    put_raw(DLE);
    put_raw(STX);
}

/* Up to cap bytes, ending after a '\n' (as data) or at a full buffer; 0 only at end of input.
   The result depends only on the bytes received, never on when they came. */
size_t pq_port_read(uint8_t *buf, size_t cap)
{
    size_t n = 0;

    while (n < cap) {
        int c = get_byte();

        if (c < 0) {
            break;
        }
        buf[n++] = (uint8_t)c;
        if (c == '\n') {
            break;
        }
    }
    return n;
}

void pq_port_write(const uint8_t *data, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if (data[i] == DLE) {
            put_raw(DLE);
        }
        put_raw(data[i]);
    }
}

void pq_port_exit(int code)
{
    put_raw(DLE);
    put_raw(ETX);
    put_raw((uint8_t)code);
    while ((USART1_SR & USART_SR_TC) == 0u) {
    }
    __asm__ volatile("dsb" : : : "memory");
    SCB_AIRCR = SCB_AIRCR_SYSRESETREQ;
    __asm__ volatile("dsb" : : : "memory");
    for (;;) {
    }
}
