/* counter_tim2.c: pq_counter_* on STM32F405/407 boards, from TIM2 (32 bits, prescaler 0).
 *
 * Under QEMU (netduinoplus2, `-icount shift=0`: one instruction per virtual nanosecond) TIM2
 * counts PQ_TIM2_NS_PER_TICK virtual nanoseconds per tick, so a count is instructions,
 * deterministically. On a real chip TIM2 counts its timer clock (16 MHz from the HSI at reset:
 * one tick per CPU cycle), so there the same numbers are cycles, not instructions.
 *
 * The console (usart_console.c) pauses the count while it waits for a byte: waiting is not
 * work, and its length depends on when the host sends. */
#include "pq_platform.h"
#include "stm32f4.h"

#ifndef PQ_TIM2_NS_PER_TICK
#error "PQ_TIM2_NS_PER_TICK must be defined by the target"
#endif

static uint32_t start_value, paused_value;
static int running;

int pq_counter_available(void)
{
    return 1;
}

void pq_counter_start(void)
{
    if (!running) {
        RCC_APB1ENR |= RCC_APB1ENR_TIM2EN;
        (void)RCC_APB1ENR;
        __asm__ volatile("dsb" : : : "memory");
        TIM2_CR1 = 0u;
        TIM2_PSC = 0u;
        TIM2_ARR = 0xFFFFFFFFu;
        TIM2_EGR = TIM_EGR_UG; /* load the prescaler */
        TIM2_CNT = 0u;
        TIM2_CR1 = TIM_CR1_CEN;
        running = 1;
    }
    start_value = TIM2_CNT;
}

uint32_t pq_counter_read(void)
{
    return (TIM2_CNT - start_value) * (uint32_t)PQ_TIM2_NS_PER_TICK;
}

void pq_stm32f4_counter_pause(void)
{
    if (running) {
        paused_value = TIM2_CNT;
    }
}

void pq_stm32f4_counter_resume(void)
{
    if (running) {
        TIM2_CNT = paused_value;
    }
}
