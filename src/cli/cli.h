/* cli/cli.h: the subcommands behind `tinyllm COMMAND`, one file each
 * (cli/cmd_run.c, cli/cmd_tokenize.c, ...), and small argument helpers.
 * A command parses its own argv (argv[0] is the command name), writes its
 * normal output to stdout (and progress/summary to stderr), and on failure
 * returns a TL_E* code with err filled; main prints "tinyllm: MSG" and exits
 * 2 for TL_EINVAL (usage), 1 otherwise. `--help` prints usage to stdout and
 * returns TL_OK. */
#ifndef TINYLLM_CLI_H
#define TINYLLM_CLI_H

#include <stdbool.h>
#include <stddef.h>

#include "engine/sampler.h"
#include "tinyllm.h"

int cmd_run(int argc, char **argv, struct tl_error *err);
int cmd_tokenize(int argc, char **argv, struct tl_error *err);
int cmd_info(int argc, char **argv, struct tl_error *err);
int cmd_bench(int argc, char **argv, struct tl_error *err);
int cmd_quantize(int argc, char **argv, struct tl_error *err);
int cmd_template(int argc, char **argv, struct tl_error *err);
int cmd_chat(int argc, char **argv, struct tl_error *err);
int cmd_convert(int argc, char **argv, struct tl_error *err);

/* argv[*i] is a flag that takes a value: return argv[*i + 1] and advance *i,
 * or fail with TL_EINVAL "FLAG needs a value". */
int cli_value(int argc, char **argv, int *i, const char **val, struct tl_error *err);
/* Parse a whole decimal integer in [lo, hi] or fail with TL_EINVAL naming flag. */
int cli_int(const char *flag, const char *s, long lo, long hi, long *out, struct tl_error *err);
/* Parse a finite float in [lo, hi] or fail with TL_EINVAL naming flag. */
int cli_float(const char *flag, const char *s, double lo, double hi, double *out, struct tl_error *err);

/* The sampling flags every generating command takes: --temp, --top-k,
 * --top-p, --min-p, --repeat-penalty, --repeat-last-n, --seed. */
int cli_is_sampling_flag(const char *flag);
/* Parse one of them into sp, or fail with TL_EINVAL naming it. */
int cli_sampling(const char *flag, const char *val, struct sampler_params *sp, struct tl_error *err);
/* Their lines for --help. */
extern const char cli_sampling_help[];

/* Read a whole file ("-" = stdin) into a NUL-terminated heap buffer. */
int cli_read_file(const char *path, char **buf, size_t *len, struct tl_error *err);
/* Read stdin when it is not a terminal; *buf NULL when it is a terminal. */
int cli_read_stdin_if_piped(char **buf, size_t *len, struct tl_error *err);

#endif
