/* usart_console.c: the pq_port.h back end for the STM32F746G-DISCO board (real hardware):
 * USART1 at 115200 8N1 on PA9 (TX) / PB7 (RX), the pins wired to the ST-LINK virtual COM port.
 * Runs from the reset clock (16 MHz HSI) so no clock tree set-up is needed.
 *
 * A serial line has no end: pq_read_line() waits for the next line for ever, and pq_exit()
 * drains the transmitter, then halts the core. */
#include "pq_port.h"

#define REG(addr) (*(volatile uint32_t *)(addr))

#define RCC_AHB1ENR REG(0x40023830u)
#define RCC_APB2ENR REG(0x40023844u)
#define GPIOA_MODER REG(0x40020000u)
#define GPIOA_AFRH REG(0x40020024u)
#define GPIOB_MODER REG(0x40020400u)
#define GPIOB_AFRL REG(0x40020420u)
#define USART1_CR1 REG(0x40011000u)
#define USART1_BRR REG(0x4001100Cu)
#define USART1_ISR REG(0x4001101Cu)
#define USART1_ICR REG(0x40011020u)
#define USART1_RDR REG(0x40011024u)
#define USART1_TDR REG(0x40011028u)

#define ISR_ORE (1u << 3)
#define ISR_RXNE (1u << 5)
#define ISR_TC (1u << 6)
#define ISR_TXE (1u << 7)

#define HSI_HZ 16000000u
#define BAUD 115200u

void pq_port_init(void)
{
    RCC_AHB1ENR |= (1u << 0) | (1u << 1); /* GPIOA, GPIOB */
    RCC_APB2ENR |= 1u << 4;               /* USART1 */
    (void)RCC_APB2ENR;                    /* let the enable settle before touching the ports */

    GPIOA_MODER = (GPIOA_MODER & ~(3u << 18)) | (2u << 18); /* PA9 alternate function */
    GPIOA_AFRH = (GPIOA_AFRH & ~(0xFu << 4)) | (7u << 4);   /* AF7 = USART1_TX */
    GPIOB_MODER = (GPIOB_MODER & ~(3u << 14)) | (2u << 14); /* PB7 alternate function */
    GPIOB_AFRL = (GPIOB_AFRL & ~(0xFu << 28)) | (7u << 28); /* AF7 = USART1_RX */

    USART1_CR1 = 0u;
    USART1_BRR = (HSI_HZ + BAUD / 2u) / BAUD;
    USART1_CR1 = (1u << 0) | (1u << 2) | (1u << 3); /* UE, RE, TE */
}

size_t pq_port_read(uint8_t *buf, size_t cap)
{
    size_t n = 0;

    while (n < cap) {
        uint32_t isr = USART1_ISR;
        if (isr & ISR_ORE) {
            USART1_ICR = ISR_ORE; /* bytes were lost; carry on with what arrives next */
        }
        if (isr & ISR_RXNE) {
            buf[n++] = (uint8_t)USART1_RDR;
        } else if (n > 0) {
            break; /* return what we have rather than wait for a full buffer */
        }
    }
    return n;
}

void pq_port_write(const uint8_t *data, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        while ((USART1_ISR & ISR_TXE) == 0u) {
        }
        USART1_TDR = data[i];
    }
}

void pq_port_exit(int code)
{
    (void)code; /* no one to report it to on a bare board */
    while ((USART1_ISR & ISR_TC) == 0u) {
    }
    for (;;) {
        __asm__ volatile("wfi");
    }
}
