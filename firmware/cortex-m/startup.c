/* startup.c: Cortex-M reset and exception vectors for every pqcompile board.
 *
 * Reset: enable the FPU (CP10/CP11 full access in SCB->CPACR) before any floating-point
 * instruction can run, copy .data from flash to RAM, zero .bss, call main(), then
 * pq_exit(main's return value). A fault prints its name and ends the program with status 134
 * (the status of an aborted process) instead of hanging. Symbols come from the board's linker
 * script (firmware/ld/). */
#include <stdint.h>
#include <string.h>

#include "pq_platform.h"

extern uint32_t __pq_stack_top;
extern uint32_t __pq_data_load, __pq_data_start, __pq_data_end;
extern uint32_t __pq_bss_start, __pq_bss_end;

int main(void);
void pq_reset_handler(void);
void pq_reset_c(void);

/* Runs first, in assembly so that no compiler-generated FPU instruction can precede the
   CPACR write. CPACR is at 0xE000ED88; bits 20..23 = CP10/CP11 full access. */
__attribute__((naked, noreturn)) void pq_reset_handler(void)
{
    __asm__ volatile(
#if defined(__ARM_FP) || defined(__ARM_FEATURE_MVE)
        "ldr r0, =0xE000ED88\n"
        "ldr r1, [r0]\n"
        "orr r1, r1, #(0xF << 20)\n"
        "str r1, [r0]\n"
        "dsb\n"
        "isb\n"
#endif
        "b pq_reset_c\n");
}

__attribute__((noreturn, used)) void pq_reset_c(void)
{
    size_t data_size = (size_t)((uintptr_t)&__pq_data_end - (uintptr_t)&__pq_data_start);
    size_t bss_size = (size_t)((uintptr_t)&__pq_bss_end - (uintptr_t)&__pq_bss_start);

    memcpy(&__pq_data_start, &__pq_data_load, data_size);
    memset(&__pq_bss_start, 0, bss_size);
    pq_exit(main());
    for (;;) {
    }
}

static void fault(const char *name)
{
    pq_write_str("\npq: fatal ");
    pq_write_str(name);
    pq_write_str("\n");
    pq_exit(134);
}

static void nmi_handler(void) { fault("NMI"); }
static void hardfault_handler(void) { fault("HardFault"); }
static void memmanage_handler(void) { fault("MemManage fault"); }
static void busfault_handler(void) { fault("BusFault"); }
static void usagefault_handler(void) { fault("UsageFault"); }
static void unexpected_handler(void) { fault("unexpected exception"); }

/* A counter back end that uses SysTick overrides this (counter_systick.c). */
void pq_systick_handler(void) __attribute__((weak, alias("unexpected_handler")));

typedef void (*pq_vector)(void);

/* Initial stack pointer, then the 15 system exceptions (the external IRQs are unused). */
__attribute__((section(".isr_vector"), used)) static const pq_vector pq_vectors[16] = {
    (pq_vector)(uintptr_t)&__pq_stack_top,
    pq_reset_handler,
    nmi_handler,
    hardfault_handler,
    memmanage_handler,
    busfault_handler,
    usagefault_handler,
    unexpected_handler, /* SecureFault on Armv8-M */
    0, 0, 0,
    unexpected_handler, /* SVCall */
    unexpected_handler, /* DebugMonitor */
    0,
    unexpected_handler, /* PendSV */
    pq_systick_handler,
};
