/* pq_icount.c: a QEMU TCG plugin that counts the guest instructions a program executes and
 * writes the running count each time the program reaches one of a list of addresses (marks).
 * `pqcompile bench` builds it with the host C compiler (gcc -shared -fPIC) and runs the Linux
 * user-mode targets with it (qemu-aarch64 / qemu-arm -plugin pq_icount.so,marks=FILE,out=FILE):
 * qemu-user has no -icount, and Debian's QEMU ships no plugins and no qemu-plugin.h, so the few
 * declarations this plugin uses are written here from the documented plugin API
 * (docs/devel/tcg-plugins in QEMU's manual; API version 1, QEMU 6.0 to 8.2).
 *
 * Arguments:
 *   marks=FILE  the mark addresses, one hexadecimal number per line; mark i is line i (from 0).
 *               Bit 0 is ignored (an A32/T32 instruction address is even).
 *   out=FILE    written at exit: one line "i COUNT" per execution of mark i, in execution
 *               order, then "total COUNT".
 *
 * COUNT is the number of guest instructions executed before that execution of the mark
 * instruction (every instruction adds 1 in an inline add emitted before it, the mark's callback
 * runs before that add), so the difference of two marks is exactly the instructions executed from
 * the first mark up to, not including, the second. Exact and deterministic: it counts executed
 * instructions one by one, not translation blocks, so a block left early still counts right.
 * Single-threaded programs only (one counter for all vCPUs). */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the plugin API as documented (API version 1) ---- */
typedef uint64_t qemu_plugin_id_t;
struct qemu_plugin_tb;
struct qemu_plugin_insn;

typedef struct {
    const char *target_name;
    struct {
        int min;
        int cur;
    } version;
    bool system_emulation;
    /* the system-emulation fields follow; not read here */
} pq_qemu_info_t;

enum pq_plugin_cb_flags { PQ_PLUGIN_CB_NO_REGS = 0 };
enum pq_plugin_op { PQ_PLUGIN_INLINE_ADD_U64 = 0 };

typedef void (*pq_tb_trans_cb_t)(qemu_plugin_id_t id, struct qemu_plugin_tb *tb);
typedef void (*pq_vcpu_udata_cb_t)(unsigned int vcpu_index, void *userdata);
typedef void (*pq_udata_cb_t)(qemu_plugin_id_t id, void *userdata);

extern void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t id, pq_tb_trans_cb_t cb);
extern size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *tb);
extern struct qemu_plugin_insn *qemu_plugin_tb_get_insn(const struct qemu_plugin_tb *tb, size_t idx);
extern uint64_t qemu_plugin_insn_vaddr(const struct qemu_plugin_insn *insn);
extern void qemu_plugin_register_vcpu_insn_exec_cb(struct qemu_plugin_insn *insn, pq_vcpu_udata_cb_t cb,
                                                   enum pq_plugin_cb_flags flags, void *userdata);
extern void qemu_plugin_register_vcpu_insn_exec_inline(struct qemu_plugin_insn *insn, enum pq_plugin_op op,
                                                       void *ptr, uint64_t imm);
extern void qemu_plugin_register_atexit_cb(qemu_plugin_id_t id, pq_udata_cb_t cb, void *userdata);

#define PQ_EXPORT __attribute__((visibility("default")))
#ifndef PQ_API_VERSION
#define PQ_API_VERSION 1   /* -DPQ_API_VERSION=N only to test how QEMU refuses a plugin */
#endif

/* QEMU reads this before it calls qemu_plugin_install and refuses a plugin outside the range
   it supports */
PQ_EXPORT int qemu_plugin_version = PQ_API_VERSION;

/* ---- the counter ---- */
#define MAX_MARKS 4096

static uint64_t insns;                 /* instructions executed so far */
static uint64_t marks[MAX_MARKS];      /* mark addresses, bit 0 cleared */
static size_t n_marks;
static FILE *out;
static char out_path[4096];
static bool failed;

static void on_mark(unsigned int vcpu_index, void *userdata)
{
    (void)vcpu_index;
    if (fprintf(out, "%lu %llu\n", (unsigned long)((uintptr_t)userdata - 1u), (unsigned long long)insns) < 0) {
        failed = true;
    }
}

static void on_translate(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
    size_t n = qemu_plugin_tb_n_insns(tb), i, m;

    (void)id;
    for (i = 0; i < n; i++) {
        struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);
        uint64_t pc = qemu_plugin_insn_vaddr(insn) & ~(uint64_t)1;

        for (m = 0; m < n_marks; m++) {
            if (marks[m] == pc) {
                qemu_plugin_register_vcpu_insn_exec_cb(insn, on_mark, PQ_PLUGIN_CB_NO_REGS,
                                                       (void *)(uintptr_t)(m + 1u));
            }
        }
        qemu_plugin_register_vcpu_insn_exec_inline(insn, PQ_PLUGIN_INLINE_ADD_U64, &insns, 1);
    }
}

static void at_exit(qemu_plugin_id_t id, void *userdata)
{
    (void)id;
    (void)userdata;
    if (fprintf(out, "total %llu\n", (unsigned long long)insns) < 0 || fclose(out) != 0 || failed) {
        fprintf(stderr, "pq_icount: writing %s failed\n", out_path);
    }
}

static int fail(const char *what, const char *detail)
{
    char msg[512];

    snprintf(msg, sizeof msg, "pq_icount: %s%s\n", what, detail ? detail : "");
    fputs(msg, stderr);
    return -1;
}

static int read_marks(const char *path)
{
    FILE *f = fopen(path, "r");
    char line[64];

    if (f == NULL) {
        return fail("cannot read the marks file ", path);
    }
    while (fgets(line, sizeof line, f) != NULL) {
        char *end;
        unsigned long long a = strtoull(line, &end, 16);

        if (end == line || (*end != '\n' && *end != '\0')) {
            fclose(f);
            return fail("bad line in the marks file: ", line);
        }
        if (n_marks == MAX_MARKS) {
            fclose(f);
            return fail("too many marks in ", path);
        }
        marks[n_marks++] = (uint64_t)a & ~(uint64_t)1;
    }
    fclose(f);
    return 0;
}

PQ_EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const pq_qemu_info_t *info, int argc, char **argv)
{
    const char *marks_path = NULL, *path = NULL;
    int i;

    if (info->version.cur < PQ_API_VERSION || info->version.min > PQ_API_VERSION) {
        return fail("this QEMU's plugin API does not include version 1", NULL);
    }
    for (i = 0; i < argc; i++) {
        if (strncmp(argv[i], "marks=", 6) == 0) {
            marks_path = argv[i] + 6;
        } else if (strncmp(argv[i], "out=", 4) == 0) {
            path = argv[i] + 4;
        } else {
            return fail("unknown argument ", argv[i]);
        }
    }
    if (path == NULL || strlen(path) >= sizeof out_path) {
        return fail("needs out=FILE", NULL);
    }
    if (marks_path != NULL && read_marks(marks_path) != 0) {
        return -1;
    }
    strcpy(out_path, path);
    out = fopen(out_path, "w");
    if (out == NULL) {
        return fail("cannot write ", out_path);
    }
    setvbuf(out, NULL, _IOFBF, 1 << 16);
    qemu_plugin_register_vcpu_tb_trans_cb(id, on_translate);
    qemu_plugin_register_atexit_cb(id, at_exit, NULL);
    return 0;
}
