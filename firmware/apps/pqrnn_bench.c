/* pqrnn_bench.c: the measuring program of `pqcompile bench` (pqcompile/compiler/bench.py).
 *
 * For each input line: the projection and the network (model_run) are each run PQ_BENCH_PHASES
 * times, the counter restarted before each run and a delay of 3 * (d + 1) instructions (d = 0,
 * 1, ...) put between the restart and the first reading, so the first reading falls on every
 * phase of the counter's tick once, after one untimed run: the network's count depends a little
 * on what the arena holds (the window of the last computed row reads rows past it, which only
 * feed gate rows that fo-pooling ignores, but the requantisation's clamps take data-dependent
 * paths), so every timed run starts from the state its own utterance leaves, not the previous
 * utterance's. The sum over the phases of a difference of two readings (in
 * ticks) is then exactly the instructions between them times PQ_BENCH_PHASES / tick length:
 * exact instruction counts from a timer that ticks once per 40 (CMSDK), 31.25 (SysTick on the
 * mps3-an547) or 1 (TIM2 on the netduinoplus2) instructions. Prints
 * one JSON line per input line, sums in ticks:
 *
 *     {"n":10,"phases":40,"projection":P,"network":N,"marks":[M0,M1,...]}
 *
 * marks (profiling build: -DPQ_PROFILE, see pq_profile.h): for mark i, the sum of
 * (its reading - the network's first reading). The timed functions are the same in the plain
 * and the profiling build.
 *
 * With -DPQ_BENCH_PLUGIN (Linux user-mode targets: qemu-aarch64 / qemu-arm run the program with
 * the pq_icount TCG plugin, firmware/qemu-plugin/pq_icount.c) there is no counter to read: every
 * reading is a labelled nop instead (PQ_BENCH_POINT, pq_profile.h: pq_point_line at the start of
 * each line, pq_point_proj_start/end, pq_point_net_start/end), the plugin writes the running
 * instruction count at each, and `pqcompile bench` computes the counts from that log. One phase,
 * no delay, and the JSON line holds only {"n":N,"phases":1}. */
#include <stddef.h>
#include <stdint.h>

#include "pq_platform.h"
#include "projection.h"
#include "pq_model.h"
#include "pq_profile.h"

#ifndef PQ_BENCH_PHASES
#error "PQ_BENCH_PHASES must be defined"
#endif

#ifndef PQ_BENCH_PLUGIN
#define COUNTER (*(volatile uint32_t *)PQ_BENCH_COUNTER_ADDR)
#endif

static uint8_t line[PQ_MAX_INPUT_BYTES];
static size_t line_len;
static int n_tokens;
#ifndef PQ_MODEL_FUSED_ROWS
static int8_t features[PQ_MAX_TOKENS][PQ_FEATURE_SIZE];
#endif
static pq_token_t tokens[PQ_MAX_TOKENS];
static int8_t intent[PQ_MODEL_N_INTENTS];
static int8_t slots[PQ_MODEL_MAX_TOKENS][PQ_MODEL_N_SLOTS];
#ifdef PQ_MODEL_FUSED_ROWS
/* the fused build (pqrnn_main.c): "projection" counts pq_tokenize, "network" model_run_rows with
   the feature rows it asks for */
static void project_rows(void *ctx, int32_t first, int32_t count, int8_t *rows)
{
    (void)ctx;
    pq_project_rows(line, tokens, n_tokens, (int)first, (int)count, (int8_t (*)[PQ_FEATURE_SIZE])rows);
}
#define PQ_BENCH_PROJECT() (n_tokens = pq_tokenize(line, line_len, tokens))
#define PQ_BENCH_NETWORK() model_run_rows(project_rows, NULL, (int32_t)n_tokens, intent, &slots[0][0])
#else
#define PQ_BENCH_PROJECT() (n_tokens = pq_project(line, line_len, features, tokens))
#define PQ_BENCH_NETWORK() model_run(&features[0][0], (int32_t)n_tokens, intent, &slots[0][0])
#endif
uint32_t pq_bench_first_reading;   /* not static: its store stays in the plain build too */
uint32_t pq_profile_ticks[PQ_PROFILE_MARKS];

#ifdef PQ_BENCH_PLUGIN
static void counter_restart(void)
{
}

static void delay(uint32_t n)
{
    (void)n;
}

__attribute__((noinline)) static uint32_t time_projection(void)
{
    PQ_BENCH_POINT(proj_start);
    PQ_BENCH_PROJECT();
    PQ_BENCH_POINT(proj_end);
    return 0u;
}

__attribute__((noinline)) static uint32_t time_network(void)
{
    PQ_BENCH_POINT(net_start);
    PQ_BENCH_NETWORK();
    PQ_BENCH_POINT(net_end);
    return 0u;
}
#else
static void counter_restart(void)
{
#if defined(PQ_BENCH_CMSDK_BASE)
    *(volatile uint32_t *)(PQ_BENCH_CMSDK_BASE) = 0u;            /* CTRL: stop */
    *(volatile uint32_t *)(PQ_BENCH_CMSDK_BASE + 8u) = 0xFFFFFFFFu; /* RELOAD */
    *(volatile uint32_t *)(PQ_BENCH_CMSDK_BASE + 4u) = 0xFFFFFFFFu; /* VALUE */
    *(volatile uint32_t *)(PQ_BENCH_CMSDK_BASE) = 1u;            /* enable, no interrupt */
#elif defined(PQ_BENCH_TIM2)
    *(volatile uint32_t *)0x40023840u |= 1u;         /* RCC_APB1ENR: TIM2 clock on */
    (void)*(volatile uint32_t *)0x40023840u;
    __asm__ volatile("dsb" : : : "memory");
    *(volatile uint32_t *)0x40000000u = 0u;          /* CR1: stop */
    *(volatile uint32_t *)0x40000028u = 0u;          /* PSC */
    *(volatile uint32_t *)0x4000002Cu = 0xFFFFFFFFu; /* ARR */
    *(volatile uint32_t *)0x40000014u = 1u;          /* EGR: UG, load the prescaler */
    *(volatile uint32_t *)0x40000024u = 0u;          /* CNT */
    *(volatile uint32_t *)0x40000000u = 1u;          /* CR1: CEN */
#else
    *(volatile uint32_t *)0xE000E010u = 0u;          /* SYST_CSR: stop */
    *(volatile uint32_t *)0xE000E014u = 0x00FFFFFFu; /* SYST_RVR */
    *(volatile uint32_t *)0xE000E018u = 0u;          /* SYST_CVR */
    *(volatile uint32_t *)0xE000E010u = 5u;          /* enable, processor clock, no interrupt */
#endif
}

/* n >= 1 iterations of exactly 3 instructions */
__attribute__((noinline)) static void delay(uint32_t n)
{
    __asm__ volatile("1:\n\tnop\n\tsubs %0, %0, #1\n\tbne 1b" : "+r"(n) : : "cc");
}

__attribute__((noinline)) static uint32_t time_projection(void)
{
    uint32_t s = COUNTER, e;

    PQ_BENCH_PROJECT();
    e = COUNTER;
    return PQ_BENCH_TICKS(s, e);
}

__attribute__((noinline)) static uint32_t time_network(void)
{
    uint32_t s = COUNTER, e;

    PQ_BENCH_NETWORK();
    e = COUNTER;
    pq_bench_first_reading = s;
    return PQ_BENCH_TICKS(s, e);
}
#endif

int main(void)
{
    size_t dropped;

    pq_platform_init();
    while (pq_read_line(line, sizeof line, &line_len, &dropped)) {
        uint64_t projection = 0u, network = 0u;
        uint32_t d;
#if defined(PQ_PROFILE) && !defined(PQ_BENCH_PLUGIN)
        static uint64_t marks[PQ_PROFILE_MARKS];
        int i;

        for (i = 0; i < PQ_PROFILE_MARKS; i++) {
            marks[i] = 0u;
        }
#endif
#ifdef PQ_BENCH_PLUGIN
        PQ_BENCH_POINT(line);
#endif
        (void)time_projection();   /* warm-up: every timed run starts from the same state */
        for (d = 0; d < PQ_BENCH_PHASES; d++) {
            counter_restart();
            delay(d + 1u);
            projection += time_projection();
        }
        (void)time_network();
        for (d = 0; d < PQ_BENCH_PHASES; d++) {
            counter_restart();
            delay(d + 1u);
            network += time_network();
#if defined(PQ_PROFILE) && !defined(PQ_BENCH_PLUGIN)
            for (i = 0; i < PQ_PROFILE_MARKS; i++) {
                marks[i] += PQ_BENCH_TICKS(pq_bench_first_reading, pq_profile_ticks[i]);
            }
#endif
        }
        pq_write_str("{\"n\":");
        pq_write_uint((uint32_t)n_tokens);
        pq_write_str(",\"phases\":");
        pq_write_uint(PQ_BENCH_PHASES);
#ifndef PQ_BENCH_PLUGIN
        pq_write_str(",\"projection\":");
        pq_write_uint(projection);
        pq_write_str(",\"network\":");
        pq_write_uint(network);
#endif
#if defined(PQ_PROFILE) && !defined(PQ_BENCH_PLUGIN)
        pq_write_str(",\"marks\":[");
        for (i = 0; i < PQ_PROFILE_MARKS; i++) {
            if (i > 0) {
                pq_write_str(",");
            }
            pq_write_uint(marks[i]);
        }
        pq_write_str("]");
#endif
        pq_write_str("}\n");
    }
    return 0;
}
