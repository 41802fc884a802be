/* counter_systick.c: pq_counter_* from the Cortex-M SysTick timer, for QEMU boards without a
 * fast CMSDK timer (mps3-an547: the SSE-300 keeps only a 32 kHz one).
 *
 * SysTick runs from the processor clock (PQ_CPU_CLOCK_HZ, set by the target). Under
 * `-icount shift=0` QEMU advances virtual time by exactly 1 ns per instruction, so
 * instructions = ticks * 1e9 / PQ_CPU_CLOCK_HZ, deterministically. SysTick is 24 bits wide; its
 * wrap interrupt extends it to 64 bits (a few instructions per 2^24 ticks, counted too). */
#include "pq_platform.h"

#ifndef PQ_CPU_CLOCK_HZ
#error "PQ_CPU_CLOCK_HZ must be defined by the target"
#endif

#define SYST_CSR (*(volatile uint32_t *)0xE000E010u)
#define SYST_RVR (*(volatile uint32_t *)0xE000E014u)
#define SYST_CVR (*(volatile uint32_t *)0xE000E018u)
#define SYST_MAX 0x00FFFFFFu

static volatile uint32_t wraps;
static uint64_t start_ticks;

void pq_systick_handler(void);

void pq_systick_handler(void)
{
    wraps++;
}

static uint64_t ticks_now(void)
{
    uint32_t w, v;

    do {
        w = wraps;
        v = SYST_CVR;
    } while (w != wraps);
    return ((uint64_t)w << 24) + (uint64_t)(SYST_MAX - v);
}

int pq_counter_available(void)
{
    return 1;
}

void pq_counter_start(void)
{
    SYST_CSR = 0u;
    SYST_RVR = SYST_MAX;
    SYST_CVR = 0u;
    wraps = 0u;
    SYST_CSR = 7u; /* enable, interrupt on wrap, processor clock */
    while (SYST_CVR == 0u) {
        /* the first tick loads the reload value (without a wrap interrupt) */
    }
    start_ticks = ticks_now();
}

uint32_t pq_counter_read(void)
{
    uint64_t ticks = ticks_now() - start_ticks;

    return (uint32_t)(ticks * 1000000000u / (uint64_t)PQ_CPU_CLOCK_HZ);
}
