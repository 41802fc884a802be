/* startup.c: Cortex-M reset and exception vectors for every pqcompile board.
 *
 * Reset: enable the FPU (CP10/CP11 full access in SCB->CPACR) before any floating-point
 * instruction can run, move the program onto its own stack (PSP; exceptions keep MSP, a small
 * separate stack, so a program stack overflow still gets reported), guard the bottom of the
 * program stack so that overflowing it faults, copy .data from flash to
 * RAM, zero .bss, call main(), then pq_exit(main's return value). A fault prints its name and ends the program with status 134
 * (the status of an aborted process) instead of hanging. Symbols come from the board's linker
 * script (firmware/ld/). */
#include <stdint.h>
#include <string.h>

#include "pq_platform.h"

extern uint32_t __pq_stack_bottom, __pq_stack_top, __pq_handler_stack_top;
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
        "ldr r0, =__pq_stack_top\n"
        "msr psp, r0\n"
        "movs r0, #2\n" /* CONTROL.SPSEL = 1: thread mode uses PSP */
        "msr control, r0\n"
        "isb\n"
        "b pq_reset_c\n");
}

/* Make overflowing the program stack fault at once: the stack-limit register on Armv8-M
   mainline, an MPU no-access region over the lowest 256 bytes of the stack on Armv7-M. */
static void guard_stack(void)
{
#if defined(__ARM_ARCH_8M_MAIN__) || defined(__ARM_ARCH_8_1M_MAIN__)
    __asm__ volatile("msr psplim, %0" : : "r"(&__pq_stack_bottom) : "memory");
#elif defined(__ARM_ARCH_7M__) || defined(__ARM_ARCH_7EM__)
    volatile uint32_t *const mpu_ctrl = (volatile uint32_t *)0xE000ED94u;
    volatile uint32_t *const mpu_rnr = (volatile uint32_t *)0xE000ED98u;
    volatile uint32_t *const mpu_rbar = (volatile uint32_t *)0xE000ED9Cu;
    volatile uint32_t *const mpu_rasr = (volatile uint32_t *)0xE000EDA0u;

    *mpu_rnr = 0u;
    *mpu_rbar = (uint32_t)(uintptr_t)&__pq_stack_bottom; /* 256-byte aligned by the linker script */
    *mpu_rasr = (1u << 28)   /* XN */
              | (0u << 24)   /* AP: no access */
              | (7u << 1)    /* SIZE: 2^(7+1) = 256 bytes */
              | 1u;          /* enable */
    *mpu_ctrl = (1u << 2) | 1u; /* default memory map elsewhere, MPU on */
    __asm__ volatile("dsb\n isb" : : : "memory");
#endif
}

__attribute__((noreturn, used)) void pq_reset_c(void)
{
    size_t data_size = (size_t)((uintptr_t)&__pq_data_end - (uintptr_t)&__pq_data_start);
    size_t bss_size = (size_t)((uintptr_t)&__pq_bss_end - (uintptr_t)&__pq_bss_start);

    guard_stack();
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

/* Initial (handler) stack pointer, then the 15 system exceptions (the external IRQs are unused). */
__attribute__((section(".isr_vector"), used)) static const pq_vector pq_vectors[16] = {
    (pq_vector)(uintptr_t)&__pq_handler_stack_top,
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
