/* verify_projection.c: runs the generated projection (projection.h, any spec) over input lines
 * and prints what pqcompile.projection.verify compares with the Python reference, bit for bit.
 *
 * Input: one utterance per line, any bytes but '\n'. Each line is read into a buffer of
 * PQ_MAX_INPUT_BYTES bytes (the rest of a longer line is dropped, exactly as the projection
 * itself would ignore it). For each line it prints
 *
 *     <line length> <token count> <bs>:<be>:<cs>:<ce>:<tag> ... <digest>\n
 *
 * with one span group per token and <digest> the 16-hex-digit digest of the whole feature
 * buffer [PQ_MAX_TOKENS][PQ_FEATURE_SIZE] (zero rows included):
 *     D = XOR over 8-byte little-endian words w_i (the last zero-padded) of mix(w_i + (i+1)*G),
 *     mix = the splitmix64 finaliser, G = 0x9e3779b97f4a7c15.
 * Build options:
 *   -DPQ_VERIFY_DUMP   also print, per line, "F " and every feature as '0', '+' or '-'
 *                      (all rows), for a detailed report of a mismatch;
 *   -DPQ_VERIFY_COUNT  count the instructions of each pq_project() call (where the platform
 *                      can) and end with "# instructions <sum> tokens <sum> lines <n>".
 */
#include "pq_platform.h"
#include "projection.h"

static uint8_t line[PQ_MAX_INPUT_BYTES];
static int8_t features[PQ_MAX_TOKENS][PQ_FEATURE_SIZE];
static pq_token_t tokens[PQ_MAX_TOKENS];

static void write_hex64(uint64_t v)
{
    static const char hex[] = "0123456789abcdef";
    char out[16];
    int i;

    for (i = 15; i >= 0; i--) {
        out[i] = hex[v & 0xfu];
        v >>= 4;
    }
    pq_write(out, sizeof out);
}

static uint64_t mix64(uint64_t x)
{
    x = (x ^ (x >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    x = (x ^ (x >> 27)) * UINT64_C(0x94d049bb133111eb);
    return x ^ (x >> 31);
}

static uint64_t digest(const uint8_t *p, size_t n)
{
    uint64_t d = 0u, w = 0u, index = 0u;
    size_t i;
    unsigned fill = 0u;

    for (i = 0; i < n; i++) {
        w |= (uint64_t)p[i] << (8u * fill);
        if (++fill == 8u) {
            index++;
            d ^= mix64(w + index * UINT64_C(0x9e3779b97f4a7c15));
            w = 0u;
            fill = 0u;
        }
    }
    if (fill != 0u) {
        index++;
        d ^= mix64(w + index * UINT64_C(0x9e3779b97f4a7c15));
    }
    return d;
}

static void write_tokens(int n)
{
    int t;

    for (t = 0; t < n; t++) {
        pq_write_str(" ");
        pq_write_uint(tokens[t].byte_start);
        pq_write_str(":");
        pq_write_uint(tokens[t].byte_end);
        pq_write_str(":");
        pq_write_uint(tokens[t].char_start);
        pq_write_str(":");
        pq_write_uint(tokens[t].char_end);
        pq_write_str(tokens[t].is_tag ? ":1" : ":0");
    }
}

#ifdef PQ_VERIFY_DUMP
static void write_features(void)
{
    char row[PQ_FEATURE_SIZE];
    int t, f;

    for (t = 0; t < PQ_MAX_TOKENS; t++) {
        pq_write_str(" F ");
        for (f = 0; f < PQ_FEATURE_SIZE; f++) {
            int8_t v = features[t][f];
            row[f] = v == 0 ? '0' : v == 1 ? '+' : v == -1 ? '-' : '?';
        }
        pq_write(row, sizeof row);
    }
}
#endif

int main(void)
{
    size_t len, dropped;
    uint64_t lines = 0u, total_tokens = 0u, total_insns = 0u;

    pq_platform_init();
    while (pq_read_line(line, sizeof line, &len, &dropped)) {
        int n;

#ifdef PQ_VERIFY_COUNT
        pq_counter_start();
        n = pq_project(line, len, features, tokens);
        total_insns += pq_counter_read();
#else
        n = pq_project(line, len, features, tokens);
#endif
        lines++;
        total_tokens += (uint64_t)n;
        pq_write_uint((uint64_t)len + (uint64_t)dropped);
        pq_write_str(" ");
        pq_write_uint((uint64_t)n);
        write_tokens(n);
        pq_write_str(" ");
        write_hex64(digest((const uint8_t *)features, sizeof features));
#ifdef PQ_VERIFY_DUMP
        write_features();
#endif
        pq_write_str("\n");
    }
#ifdef PQ_VERIFY_COUNT
    pq_write_str("# instructions ");
    pq_write_uint(total_insns);
    pq_write_str(" tokens ");
    pq_write_uint(total_tokens);
    pq_write_str(" lines ");
    pq_write_uint(lines);
    pq_write_str(" available ");
    pq_write_uint((uint64_t)pq_counter_available());
    pq_write_str("\n");
#else
    (void)total_insns;
#endif
    return 0;
}
