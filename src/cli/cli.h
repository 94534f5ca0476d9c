/* cli/cli.h: the subcommands behind `tinyllm COMMAND`, one file each
 * (cli/cmd_run.c, cli/cmd_tokenize.c, ...), and small argument helpers.
 * A command parses its own argv (argv[0] is the command name), writes its
 * normal output to stdout (and progress/summary to stderr), and on failure
 * returns a TL_E* code with err filled; main prints "tinyllm: MSG" and exits
 * 2 for TL_EINVAL (usage), 1 otherwise. `--help` prints usage to stdout and
 * returns TL_OK. Options are rows of tables (cli/options.h); the groups
 * several commands take are here. */
#ifndef TINYLLM_CLI_H
#define TINYLLM_CLI_H

#include <stdbool.h>
#include <stddef.h>

#include "chat/chat.h"
#include "cli/options.h"
#include "engine/engine.h"
#include "engine/sampler.h"
#include "kernels/kernels.h"
#include "text/tokenizer.h"
#include "tinyllm.h"

int cmd_run(int argc, char **argv, struct tl_error *err);
int cmd_tokenize(int argc, char **argv, struct tl_error *err);
int cmd_info(int argc, char **argv, struct tl_error *err);
int cmd_bench(int argc, char **argv, struct tl_error *err);
int cmd_quantize(int argc, char **argv, struct tl_error *err);
int cmd_template(int argc, char **argv, struct tl_error *err);
int cmd_chat(int argc, char **argv, struct tl_error *err);
int cmd_convert(int argc, char **argv, struct tl_error *err);
int cmd_serve(int argc, char **argv, struct tl_error *err);
int cmd_perplexity(int argc, char **argv, struct tl_error *err);

/* Parse a whole decimal integer in [lo, hi] or fail with TL_EINVAL naming flag. */
int cli_int(const char *flag, const char *s, long lo, long hi, long *out, struct tl_error *err);
/* Parse a finite float in [lo, hi] or fail with TL_EINVAL naming flag. */
int cli_float(const char *flag, const char *s, double lo, double hi, double *out, struct tl_error *err);

/* The option groups commands share (rows in cli/cli.c); each writes into
 * the struct given. */
/* -m, --model MODEL (required), --mmap, --no-mmap */
struct opt_group cli_group_model(struct engine_opts *eo);
/* -c, --ctx-size N (1..2^20), -t, --threads N (1..1024) */
struct opt_group cli_group_engine(struct engine_opts *eo);
/* --temp, --top-k, --top-p, --min-p, --repeat-penalty, --repeat-last-n, --seed */
struct opt_group cli_group_sampling(struct sampler_params *sp);
/* --chat-template NAME, --chat-template-file FILE */
struct opt_group cli_group_template(struct chat_opts *co);

/* The kernel set the user forces with TINYLLM_KERNELS=NAME (the only
 * place that reads it): *name gets NAME, or NULL when unset or empty, and
 * *k that set (or the best one). An unknown NAME or one this CPU cannot run
 * is TL_EINVAL "TINYLLM_KERNELS=NAME: why". */
int cli_kernels(const char **name, struct kernels *k, struct tl_error *err);

/* Token id's whole piece (tokenizer_piece, no control texts) in *buf, a
 * heap buffer of *cap bytes grown to fit (a hostile vocabulary may hold
 * pieces of any length); *len gets its length. TL_ENOMEM on failure. */
int cli_piece(const struct tokenizer *t, int32_t id, char **buf, size_t *cap, size_t *len,
              struct tl_error *err);

/* Read a whole file ("-" = stdin) into a NUL-terminated heap buffer. */
int cli_read_file(const char *path, char **buf, size_t *len, struct tl_error *err);
/* Read stdin when it is not a terminal; *buf NULL when it is a terminal. */
int cli_read_stdin_if_piped(char **buf, size_t *len, struct tl_error *err);

#endif
