/* counter_none.c: pq_counter_* where instructions cannot be counted deterministically (real
 * boards: a cycle counter there measures cycles, not instructions). */
#include "pq_platform.h"

int pq_counter_available(void)
{
    return 0;
}

void pq_counter_start(void)
{
}

uint32_t pq_counter_read(void)
{
    return 0;
}
