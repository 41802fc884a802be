/* pq_profile.h: the counter and the kernel marks of `pqcompile bench` (firmware/apps/pqrnn_bench.c).
 *
 * The counter is a memory-mapped down-counting timer clocked from QEMU's virtual time (under
 * `-icount shift=0`, 1 ns per instruction), chosen by the target's platform layer:
 *   PQ_BENCH_CMSDK_BASE  CMSDK APB timer (mps2 boards): VALUE at base + 4, 32 bits;
 *   PQ_BENCH_SYSTICK     SysTick (SYST_CVR at 0xE000E018), 24 bits;
 *   PQ_BENCH_TIM2        STM32F4 TIM2 (CNT at 0x40000024), 32 bits, counting up.
 *
 * PQ_PROFILE_MARK(i) stores the counter in pq_profile_ticks[i]. The generated driver pq_model.c
 * (emit_driver.py) has a mark before every kernel call and one after the last; compiled without
 * PQ_PROFILE a mark is an `asm volatile` of 8 empty lines with a memory clobber, with PQ_PROFILE
 * it is this one: the same kind of statement (8 lines, a memory clobber, no register operands)
 * holding exactly PQ_PROFILE_MARK_INSNS (8) instructions that save and restore the two registers
 * they use. So the profiling build runs the plain build's code plus the marks (`pqcompile bench`
 * checks the counts add up), and the kernels (another file) are compiled exactly as in the plain
 * build (it compares their machine code). Thumb-2 (ARMv7-M and later). */
#ifndef PQ_PROFILE_H
#define PQ_PROFILE_H

#include <stdint.h>

#ifndef PQ_PROFILE_MARKS
#define PQ_PROFILE_MARKS 1
#endif
extern uint32_t pq_profile_ticks[PQ_PROFILE_MARKS];

#if defined(PQ_BENCH_PLUGIN)
/* Linux user-mode targets (qemu-aarch64 / qemu-arm with the pq_icount TCG plugin,
 * firmware/qemu-plugin/pq_icount.c): a reading is one nop at a local label that the program's
 * symbol table names (pq_point_NAME, pq_mark_I); `pqcompile bench` gives the plugin their
 * addresses and it logs the instruction count at each. A mark is PQ_PROFILE_MARK_INSNS (1)
 * instruction, in an asm of 8 lines with a memory clobber like the plain build's empty mark
 * (emit_driver.py), so the compiler sizes both alike. A label is defined once per program: if
 * the compiler ever copied a mark, the build fails ("symbol already defined"), it never counts
 * wrong. */
#define PQ_PROFILE_MARK_INSNS 1
#define PQ_BENCH_POINT(name) __asm__ volatile("pq_point_" #name ":\n\tnop" : : : "memory")
#define PQ_PROFILE_MARK(i) __asm__ volatile("pq_mark_" #i ":\n\tnop\n\n\n\n\n\n" : : : "memory")

#else

#if defined(PQ_BENCH_CMSDK_BASE)
#define PQ_BENCH_COUNTER_ADDR ((PQ_BENCH_CMSDK_BASE) + 4u)
#define PQ_BENCH_COUNTER_MASK 0xFFFFFFFFu
#elif defined(PQ_BENCH_SYSTICK)
#define PQ_BENCH_COUNTER_ADDR 0xE000E018u
#define PQ_BENCH_COUNTER_MASK 0x00FFFFFFu
#elif defined(PQ_BENCH_TIM2)
#define PQ_BENCH_COUNTER_ADDR 0x40000024u
#define PQ_BENCH_COUNTER_MASK 0xFFFFFFFFu
#define PQ_BENCH_COUNTER_UP 1
#else
#error "define PQ_BENCH_CMSDK_BASE, PQ_BENCH_SYSTICK or PQ_BENCH_TIM2"
#endif
#ifndef PQ_BENCH_COUNTER_UP
#define PQ_BENCH_COUNTER_UP 0
#endif
/* counter ticks from reading `from` to reading `to` */
#define PQ_BENCH_TICKS(from, to) \
    ((PQ_BENCH_COUNTER_UP ? (uint32_t)((to) - (from)) : (uint32_t)((from) - (to))) & PQ_BENCH_COUNTER_MASK)

#define PQ_PROFILE_MARK_INSNS 8

#define PQ_PROFILE_MARK(i) __asm__ volatile(                          \
    "push {r0, r1}\n\t"                                               \
    "movw r0, %[lo]\n\t"                                              \
    "movt r0, %[hi]\n\t"                                              \
    "ldr r0, [r0]\n\t"                                                \
    "movw r1, #:lower16:pq_profile_ticks+%c[off]\n\t"                 \
    "movt r1, #:upper16:pq_profile_ticks+%c[off]\n\t"                 \
    "str r0, [r1]\n\t"                                                \
    "pop {r0, r1}"                                                    \
    : : [lo] "i"(PQ_BENCH_COUNTER_ADDR & 0xFFFFu), [hi] "i"(PQ_BENCH_COUNTER_ADDR >> 16), \
        [off] "i"(4 * (i)) : "memory")

#endif /* PQ_BENCH_PLUGIN */
#endif
