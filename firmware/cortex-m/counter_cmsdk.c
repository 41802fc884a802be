/* counter_cmsdk.c: pq_counter_* on QEMU's MPS2 boards, from CMSDK APB timer 0.
 *
 * Under `-icount shift=0` QEMU advances virtual time by exactly 1 ns per executed instruction,
 * and the timer counts down at the board's peripheral clock, so instructions = ticks * ns per
 * tick, deterministically. The timer base and the tick length come from the target
 * (PQ_CMSDK_TIMER_BASE, PQ_CMSDK_NS_PER_TICK, e.g. 0x40000000 and 40 for 25 MHz). */
#include "pq_platform.h"

#ifndef PQ_CMSDK_TIMER_BASE
#error "PQ_CMSDK_TIMER_BASE must be defined by the target"
#endif
#ifndef PQ_CMSDK_NS_PER_TICK
#error "PQ_CMSDK_NS_PER_TICK must be defined by the target"
#endif

#define TIMER_CTRL (*(volatile uint32_t *)(PQ_CMSDK_TIMER_BASE + 0x0u))
#define TIMER_VALUE (*(volatile uint32_t *)(PQ_CMSDK_TIMER_BASE + 0x4u))
#define TIMER_RELOAD (*(volatile uint32_t *)(PQ_CMSDK_TIMER_BASE + 0x8u))

static uint32_t start_value;

int pq_counter_available(void)
{
    return 1;
}

void pq_counter_start(void)
{
    TIMER_CTRL = 0u;
    TIMER_RELOAD = 0xFFFFFFFFu;
    TIMER_VALUE = 0xFFFFFFFFu;
    TIMER_CTRL = 1u; /* enable, internal clock, no interrupt */
    start_value = TIMER_VALUE;
}

uint32_t pq_counter_read(void)
{
    return (start_value - TIMER_VALUE) * (uint32_t)PQ_CMSDK_NS_PER_TICK;
}
