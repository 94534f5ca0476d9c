/* cli/options.h: every command's options as rows of tables. A row names an
 * option's spellings, its argument kind, range, help line and where the
 * value goes (an offset into its group's struct); a command lists its own
 * group of rows and the shared ones it takes (model loading, engine,
 * sampling, chat template: cli/cli.h), and one parser and one help printer
 * read them all. Adding an option is adding a row; adding a shared set of
 * options is adding a group. */
#ifndef TINYLLM_CLI_OPTIONS_H
#define TINYLLM_CLI_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "tinyllm.h"

#define OPT_LIST_MAX 16   /* values of a list or a repeatable option */

enum opt_kind {
    OPT_FLAG,     /* no value: bool at dst set true */
    OPT_CONST,    /* no value: int at dst set to the row's ival (--mmap / --no-mmap) */
    OPT_INT,      /* whole number in [lo, hi] into int */
    OPT_U64,      /* whole number in [lo, hi] (lo >= 0) into uint64_t */
    OPT_FLOAT,    /* finite number in [lo, hi] into float */
    OPT_STR,      /* text into const char * (argv's, not copied); hi > 0: lo..hi bytes */
    OPT_STRS,     /* repeatable text appended to struct opt_strs; hi > 0: lo..hi bytes */
    OPT_LIST,     /* comma list of whole numbers in [lo, hi] into struct opt_list
                     ("1,2,4"; empty items skipped; a repeat replaces the list) */
    OPT_CHOICE,   /* one of the row's choices ("md|csv|json") into const char * */
    OPT_FN,       /* the row's parse function */
};

/* Row flags */
#define OPT_REQUIRED 1u   /* missing: "CMD: -m MODEL is required" */

struct opt_list { long v[OPT_LIST_MAX]; int n; };
struct opt_strs { const char *v[OPT_LIST_MAX]; int n; };

struct opt;
/* OPT_FN: parse val (given as flag) into dst; TL_EINVAL with a one-line
 * message naming flag on a bad value. */
typedef int (*opt_parse_fn)(const struct opt *o, const char *flag, const char *val, void *dst,
                            struct tl_error *err);

struct opt {
    /* "-m, --model": the spellings, ", "-separated, as --help shows them
     * (llama-bench's "-ub" and "-mmp" are spellings too). NULL: a positional
     * argument, filled in table order (an OPT_STRS one takes all the rest). */
    const char  *names;
    const char  *arg;       /* the value's placeholder in --help ("FILE", "N,..."); NULL: no value */
    enum opt_kind kind;
    size_t       off;       /* destination: byte offset into the group's base */
    double       lo, hi;    /* range (INT, U64, FLOAT, LIST), byte length (STR, STRS) */
    const char  *help;      /* --help text; '\n' starts a continuation line */
    const char  *def;       /* the default as --help shows it, "(default DEF)"; NULL: none shown.
                               The value itself is the destination's initial value */
    unsigned     flags;     /* OPT_REQUIRED */
    int          ival;      /* OPT_CONST: the value stored */
    const char  *choices;   /* OPT_CHOICE: "md|csv|json|jsonl" */
    opt_parse_fn parse;     /* OPT_FN */
};

/* A table of rows whose offsets are into *base. */
struct opt_group {
    const char       *title;   /* heading in --help ("sampling:"), NULL: none */
    const struct opt *rows;
    size_t            n;
    void             *base;
};
#define OPT_GROUP(title, rows, base) { (title), (rows), sizeof(rows) / sizeof((rows)[0]), (base) }

struct opt_cmd {
    const char             *name;     /* "run": the command, and the prefix of its messages */
    const char             *usage;    /* after "usage: tinyllm NAME " (may hold '\n') */
    const char             *about;    /* paragraph after the usage line, '\n'-terminated */
    const struct opt_group *groups;
    size_t                  n_groups;
};

/* Parse argv[1..argc) (argv[0] is the command name) into the groups'
 * destinations. -h/--help anywhere prints opt_help to stdout, sets *help
 * and returns TL_OK at once. Errors are TL_EINVAL with one line: "CMD:
 * unknown option 'X' (try tinyllm CMD --help)", "X needs a value", the
 * value's own ("-t: 0 is out of range [1, 1024]"), "CMD: unexpected
 * argument 'X' ...", "CMD: -m MODEL is required ...", "CMD: missing OUT and
 * TYPE ...". */
int opt_parse(const struct opt_cmd *c, int argc, char **argv, bool *help, struct tl_error *err);

/* OPT_LIST's parse, for OPT_FN rows built on a list (o's lo, hi). */
int opt_parse_list(const struct opt *o, const char *flag, const char *val, struct opt_list *l,
                   struct tl_error *err);

/* The usage line, about text and a line per row (group titles between). */
void opt_help(const struct opt_cmd *c, FILE *f);

#endif
