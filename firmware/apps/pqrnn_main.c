/* pqrnn_main.c: the pQRNN device program (hand-written, model independent).
 *
 * Reads UTF-8 lines (any bytes), and for each prints one JSON line with the decoded frame:
 *
 *     {"intent":"IN:GET_WEATHER","slots":[{"label":"SL:LOCATION","start":3,"end":9,"text":"London"}]}
 *
 * start/end are character offsets into the decoded utterance (malformed UTF-8 decodes to U+FFFD
 * exactly as Python's bytes.decode("utf-8", "replace"); only the first PQ_MAX_INPUT_BYTES bytes
 * of a line count, like the projection). Decoding is pqcompile.train.decode's rule: intent =
 * argmax with the lowest index winning ties; slot tags = the BIO-constrained Viterbi path over the
 * raw int8 slot logits summed in int32 (I-X only after B-X or I-X, not first, tag tokens are O),
 * with pqcompile/train/viterbi.py's tie rule; where pq_labels.h has a table of the slot tags allowed
 * per intent (PQ_INTENT_SLOTS), the tags the decoded intent does not allow are never chosen
 * (decode.py rule 2b). Built with -DPQ_VERIFY it adds the token count n,
 * the raw int8 logits (the intent
 * logits and the n valid rows of slot logits: model_run computes only the utterance's rows) and,
 * where the platform counts instructions, those of the projection and of the network.
 *
 * Generated per model (in the build directory): projection.h/.c (the text projection),
 * pq_model.h/.c + pq_kernels.c (the TVM-generated network), pq_labels.h (label strings).
 *
 * A fused build (pqcompile build --fuse-projection; pq_model.h defines PQ_MODEL_FUSED_ROWS) keeps no
 * feature matrix: the line is tokenized (pq_tokenize), and the network asks for the feature rows of
 * a block of tokens at a time (model_run_rows -> project_rows -> pq_project_rows). Its output is
 * the same, byte for byte. */
#include <stddef.h>
#include <stdint.h>

#include "pq_platform.h"
#include "projection.h"
#include "pq_model.h"
#include "pq_labels.h"

#if PQ_MAX_TOKENS != PQ_MODEL_MAX_TOKENS || PQ_FEATURE_SIZE != PQ_MODEL_FEATURES
#error "the projection and the model disagree on the feature matrix shape"
#endif

static uint8_t line[PQ_MAX_INPUT_BYTES];
#ifndef PQ_MODEL_FUSED_ROWS
static int8_t features[PQ_MAX_TOKENS][PQ_FEATURE_SIZE];
#endif
static pq_token_t tokens[PQ_MAX_TOKENS];
static int8_t intent[PQ_MODEL_N_INTENTS];
static int8_t slots[PQ_MODEL_MAX_TOKENS][PQ_MODEL_N_SLOTS];

/* Viterbi state: a backpointer per token and tag (the tag index of the predecessor), the two
   score rows in use, and the decoded tag per token (tag tokens: 0, read as O). */
#if PQ_MODEL_N_SLOTS <= 256
typedef uint8_t pq_tag_t;
#else
typedef uint16_t pq_tag_t;
#endif
#define PQ_ABSENT INT32_MIN   /* score of a tag no valid sequence can end in */

/* PQ_TAG_ALLOWED(j): tag j may be decoded with the frame's intent (always, without a table). */
#ifdef PQ_INTENT_SLOTS
static const uint8_t *allowed_tags;   /* the decoded intent's row of pq_intent_slot_bits */
#define PQ_TAG_ALLOWED(j) ((allowed_tags[(j) >> 3] >> ((j) & 7)) & 1u)
#else
#define PQ_TAG_ALLOWED(j) 1
#endif

static pq_tag_t backptr[PQ_MODEL_MAX_TOKENS][PQ_MODEL_N_SLOTS];
static int32_t scores[2][PQ_MODEL_N_SLOTS];
static pq_tag_t path[PQ_MODEL_MAX_TOKENS];

/* Index of the largest value; the lowest index wins ties. */
static int argmax(const int8_t *v, int n)
{
    int best = 0, i;

    for (i = 1; i < n; i++) {
        if (v[i] > v[best]) {
            best = i;
        }
    }
    return best;
}

/* Index of the largest score; the lowest index wins ties (PQ_ABSENT never beats a present one). */
static int best_score(const int32_t *v)
{
    int best = 0, i;

    for (i = 1; i < PQ_MODEL_N_SLOTS; i++) {
        if (v[i] > v[best]) {
            best = i;
        }
    }
    return best;
}

/* path[start..end) = the best valid tag sequence of the word tokens start..end-1 (a segment
   between tag tokens), exactly as pqcompile/train/viterbi.py's _segment: a tag that is not I-X
   follows the best previous tag (lowest index on a tie); I-X follows the better of B-X and I-X
   (the lower index on a tie) and is absent where both are; the first token is not I-X; a tag
   that is not allowed (PQ_TAG_ALLOWED) is absent everywhere (O always is allowed). */
static void viterbi_segment(int start, int end)
{
    int32_t *prev = scores[0], *cur = scores[1], *swap;
    int t, j, best;

    for (j = 0; j < PQ_MODEL_N_SLOTS; j++) {
        prev[j] = (pq_slot_kind[j] == PQ_SLOT_I || !PQ_TAG_ALLOWED(j)) ? PQ_ABSENT
                                                                        : (int32_t)slots[start][j];
    }
    for (t = start + 1; t < end; t++) {
        best = best_score(prev);
        for (j = 0; j < PQ_MODEL_N_SLOTS; j++) {
            int p = best;

            if (pq_slot_kind[j] == PQ_SLOT_I) {
                int b = pq_slot_begin[j];

                p = j;
                if (b >= 0) {
                    int lo = b < j ? b : j, hi = b < j ? j : b;
                    p = prev[lo] >= prev[hi] ? lo : hi;
                }
            }
            backptr[t][j] = (pq_tag_t)p;
            cur[j] = (prev[p] == PQ_ABSENT || !PQ_TAG_ALLOWED(j)) ? PQ_ABSENT
                                                                  : prev[p] + (int32_t)slots[t][j];
        }
        swap = prev;
        prev = cur;
        cur = swap;
    }
    best = best_score(prev);
    for (t = end - 1; t >= start; t--) {
        path[t] = (pq_tag_t)best;
        if (t > start) {
            best = backptr[t][best];
        }
    }
}

/* path[0..n): each run of word tokens decoded on its own; tag tokens are O and end a slot. */
static void decode_slots(int n)
{
    int t, start = 0;

    for (t = 0; t <= n; t++) {
        if (t == n || tokens[t].is_tag) {
            if (t > start) {
                viterbi_segment(start, t);
            }
            if (t < n) {
                path[t] = 0;
            }
            start = t + 1;
        }
    }
}

static void write_json_char(uint8_t c)
{
    static const char hex[] = "0123456789abcdef";
    char esc[6] = {'\\', 'u', '0', '0', 0, 0};

    if (c == '"' || c == '\\') {
        esc[1] = (char)c;
        pq_write(esc, 2);
    } else if (c < 0x20u) {
        esc[4] = hex[c >> 4];
        esc[5] = hex[c & 0xfu];
        pq_write(esc, 6);
    } else {
        pq_write(&c, 1);
    }
}

/* p[0..n) decoded as Python's bytes.decode("utf-8", "replace") (each maximal invalid
   subsequence -> U+FFFD), written as the body of a JSON string. */
static void write_json_text(const uint8_t *p, size_t n)
{
    static const uint8_t replacement[3] = {0xefu, 0xbfu, 0xbdu};
    size_t i = 0;

    while (i < n) {
        uint8_t b = p[i];
        size_t need, j;
        uint8_t lo = 0x80u, hi = 0xbfu;

        if (b < 0x80u) {
            write_json_char(b);
            i++;
            continue;
        }
        if (b >= 0xc2u && b <= 0xdfu) {
            need = 1;
        } else if (b >= 0xe0u && b <= 0xefu) {
            need = 2;
            if (b == 0xe0u) {
                lo = 0xa0u;
            } else if (b == 0xedu) {
                hi = 0x9fu;
            }
        } else if (b >= 0xf0u && b <= 0xf4u) {
            need = 3;
            if (b == 0xf0u) {
                lo = 0x90u;
            } else if (b == 0xf4u) {
                hi = 0x8fu;
            }
        } else {
            pq_write(replacement, sizeof replacement);
            i++;
            continue;
        }
        for (j = 1; j <= need && i + j < n; j++) {
            uint8_t c = p[i + j];
            if (c < (j == 1 ? lo : 0x80u) || c > (j == 1 ? hi : 0xbfu)) {
                break;
            }
        }
        if (j == need + 1) {
            pq_write(p + i, need + 1);
        } else {
            pq_write(replacement, sizeof replacement);
        }
        i += j;
    }
}

static void write_slot(int type, int first, int last, int written)
{
    if (written > 0) {
        pq_write_str(",");
    }
    pq_write_str("{\"label\":");
    pq_write_str(pq_slot_type_json[type]);
    pq_write_str(",\"start\":");
    pq_write_uint(tokens[first].char_start);
    pq_write_str(",\"end\":");
    pq_write_uint(tokens[last].char_end);
    pq_write_str(",\"text\":\"");
    write_json_text(line + tokens[first].byte_start,
                    (size_t)(tokens[last].byte_end - tokens[first].byte_start));
    pq_write_str("\"}");
}

/* The frame of the n tokens: intent, then the BIO spans of the Viterbi path (a virtual O after
   the last token closes the open slot). */
static void write_frame(int n)
{
    int t, first = -1, prev_type = -1, written = 0, best_intent;

    pq_write_str("{\"intent\":");
    best_intent = argmax(intent, PQ_MODEL_N_INTENTS);
#ifdef PQ_INTENT_SLOTS
    allowed_tags = pq_intent_slot_bits[best_intent];   /* the rows decode_slots may use */
#endif
    pq_write_str(pq_intent_json[best_intent]);
    pq_write_str(",\"slots\":[");
    decode_slots(n);
    for (t = 0; t <= n; t++) {
        int tag = t < n ? path[t] : 0;
        int kind = (t < n && !tokens[t].is_tag) ? pq_slot_kind[tag] : PQ_SLOT_O;
        int type = pq_slot_type[tag];

        if (kind == PQ_SLOT_I && type == prev_type) {
            continue;   /* extends the open slot to token t */
        }
        if (prev_type >= 0) {
            write_slot(prev_type, first, t - 1, written++);
        }
        prev_type = kind == PQ_SLOT_O ? -1 : type;
        first = t;
    }
    pq_write_str("]");
}

#ifdef PQ_VERIFY
static void write_i32(int32_t v)
{
    if (v < 0) {
        pq_write_str("-");
        pq_write_uint((uint32_t)0u - (uint32_t)v);
    } else {
        pq_write_uint((uint32_t)v);
    }
}

static void write_logits(const int8_t *v, int n)
{
    int i;

    pq_write_str("[");
    for (i = 0; i < n; i++) {
        if (i > 0) {
            pq_write_str(",");
        }
        write_i32(v[i]);
    }
    pq_write_str("]");
}
#endif

#ifdef PQ_MODEL_FUSED_ROWS
/* model_run_rows's callback: the feature rows of tokens first..first+count-1 of the line
   (ctx: its token count) into the network's block. */
static void project_rows(void *ctx, int32_t first, int32_t count, int8_t *rows)
{
    pq_project_rows(line, tokens, *(const int *)ctx, (int)first, (int)count, (int8_t (*)[PQ_FEATURE_SIZE])rows);
}
#endif

int main(void)
{
    size_t len, dropped;

    pq_platform_init();
    while (pq_read_line(line, sizeof line, &len, &dropped)) {
        uint32_t insns_projection, insns_network;
        int n;

        pq_counter_start();
#ifdef PQ_MODEL_FUSED_ROWS
        n = pq_tokenize(line, len, tokens);   /* the feature rows come inside the network */
        insns_projection = pq_counter_read();
        pq_counter_start();
        model_run_rows(project_rows, &n, (int32_t)n, intent, &slots[0][0]);
#else
        n = pq_project(line, len, features, tokens);
        insns_projection = pq_counter_read();
        pq_counter_start();
        model_run(&features[0][0], (int32_t)n, intent, &slots[0][0]);
#endif
        insns_network = pq_counter_read();
        write_frame(n);
#ifdef PQ_VERIFY
        {
            int t;

            pq_write_str(",\"n\":");
            pq_write_uint((uint32_t)n);
            pq_write_str(",\"intent_logits\":");
            write_logits(intent, PQ_MODEL_N_INTENTS);
            pq_write_str(",\"slot_logits\":[");
            for (t = 0; t < n; t++) {   /* rows >= n are not part of the network's result */
                if (t > 0) {
                    pq_write_str(",");
                }
                write_logits(slots[t], PQ_MODEL_N_SLOTS);
            }
            pq_write_str("]");
            if (pq_counter_available()) {
                pq_write_str(",\"insns\":{\"projection\":");
                pq_write_uint(insns_projection);
                pq_write_str(",\"network\":");
                pq_write_uint(insns_network);
                pq_write_str("}");
            }
        }
#else
        (void)insns_projection;
        (void)insns_network;
#endif
        pq_write_str("}\n");
    }
    return 0;
}
