/* cli/options.c: the one option parser and help printer over the commands'
 * tables (cli/options.h). */
#include <ctype.h>
#include <limits.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/options.h"

#define MAX_ROWS 128   /* rows of one command, all groups together */

/* Is s one of the items of list, separated by runs of the characters in
 * seps? ("-m, --model" with ", "; "md|csv|json" with "|") */
static bool listed(const char *list, const char *seps, const char *s)
{
    size_t n = strlen(s);
    for (const char *p = list; *p;) {
        size_t len = strcspn(p, seps);
        if (len == n && !strncmp(p, s, n))
            return true;
        p += len;
        p += strspn(p, seps);
    }
    return false;
}

/* Integer bounds from a row's double range (INT64_MAX is not a double). */
static long bound(double v)
{
    return v >= (double)LONG_MAX ? LONG_MAX : v <= (double)LONG_MIN ? LONG_MIN : (long)v;
}

static int parse_text_len(const struct opt *o, const char *flag, const char *val, struct tl_error *err)
{
    size_t n = strlen(val);
    if (o->hi > 0 && (n < (size_t)o->lo || n > (size_t)o->hi))
        return tl_fail(err, TL_EINVAL, "%s: the string must have %.0f to %.0f bytes", flag, o->lo, o->hi);
    return TL_OK;
}

int opt_parse_list(const struct opt *o, const char *flag, const char *val, struct opt_list *l,
                   struct tl_error *err)
{
    l->n = 0;
    for (const char *p = val; *p;) {
        size_t len = strcspn(p, ",");
        if (len) {
            char item[64];
            if (l->n == OPT_LIST_MAX)
                return tl_fail(err, TL_EINVAL, "%s: at most %d values", flag, OPT_LIST_MAX);
            snprintf(item, sizeof item, "%.*s", (int)(len < sizeof item ? len : sizeof item - 1), p);
            int rc = cli_int(flag, item, bound(o->lo), bound(o->hi), &l->v[l->n++], err);
            if (rc)
                return rc;
        }
        p += len + (p[len] == ',');
    }
    return l->n ? TL_OK : tl_fail(err, TL_EINVAL, "%s needs a value", flag);
}

static int parse_choice(const struct opt *o, const char *flag, const char *val, struct tl_error *err)
{
    if (listed(o->choices, "|", val))
        return TL_OK;
    /* "md, csv, json or jsonl" */
    char list[256] = "";
    size_t items = 1;
    for (const char *p = o->choices; *p; p++)
        items += *p == '|';
    size_t k = 0;
    for (const char *p = o->choices; *p; k++) {
        size_t len = strcspn(p, "|");
        size_t at = strlen(list);
        snprintf(list + at, sizeof list - at, "%s%.*s", k == 0 ? "" : k + 1 == items ? " or " : ", ", (int)len, p);
        p += len + (p[len] == '|');
    }
    return tl_fail(err, TL_EINVAL, "%s: '%s' is not %s", flag, val, list);
}

/* Store val (NULL for the kinds without one) as row o says, into dst. */
static int store(const struct opt *o, const char *flag, const char *val, void *dst, struct tl_error *err)
{
    long l;
    double d;
    int rc = TL_OK;
    switch (o->kind) {
    case OPT_FLAG:
        *(bool *)dst = true;
        break;
    case OPT_CONST:
        *(int *)dst = o->ival;
        break;
    case OPT_INT:
        if (!(rc = cli_int(flag, val, bound(o->lo), bound(o->hi), &l, err)))
            *(int *)dst = (int)l;
        break;
    case OPT_U64:
        if (!(rc = cli_int(flag, val, bound(o->lo), bound(o->hi), &l, err)))
            *(uint64_t *)dst = (uint64_t)l;
        break;
    case OPT_FLOAT:
        if (!(rc = cli_float(flag, val, o->lo, o->hi, &d, err)))
            *(float *)dst = (float)d;
        break;
    case OPT_STR:
        if (!(rc = parse_text_len(o, flag, val, err)))
            *(const char **)dst = val;
        break;
    case OPT_STRS: {
        struct opt_strs *s = dst;
        if (s->n == OPT_LIST_MAX)
            rc = tl_fail(err, TL_EINVAL, "%s: at most %d values", flag, OPT_LIST_MAX);
        else if (!(rc = parse_text_len(o, flag, val, err)))
            s->v[s->n++] = val;
        break;
    }
    case OPT_LIST:
        rc = opt_parse_list(o, flag, val, dst, err);
        break;
    case OPT_CHOICE:
        if (!(rc = parse_choice(o, flag, val, err)))
            *(const char **)dst = val;
        break;
    case OPT_FN:
        rc = o->parse(o, flag, val, dst, err);
        break;
    }
    return rc;
}

/* A command's rows with their destinations, the groups laid end to end:
 * the index of a row here is its index in opt_parse's seen[]. */
struct row {
    const struct opt *o;
    void             *dst;
};

/* Fill rows (room for MAX_ROWS); returns how many, or MAX_ROWS + 1 when
 * the command has more. */
static size_t flatten(const struct opt_cmd *c, struct row *rows)
{
    size_t n = 0;
    for (size_t g = 0; g < c->n_groups; g++)
        for (size_t r = 0; r < c->groups[g].n; r++, n++) {
            if (n == MAX_ROWS)
                return MAX_ROWS + 1;
            const struct opt *o = &c->groups[g].rows[r];
            rows[n] = (struct row){ o, (char *)c->groups[g].base + o->off };
        }
    return n;
}

/* The index of the option row spelled a; n when none. */
static size_t find_option(const struct row *rows, size_t n, const char *a)
{
    size_t k = 0;
    while (k < n && !(rows[k].o->names && listed(rows[k].o->names, ", ", a)))
        k++;
    return k;
}

/* The index of the first positional row still to fill (an OPT_STRS one
 * never fills); n when none. */
static size_t next_positional(const struct row *rows, size_t n, const bool *seen)
{
    size_t k = 0;
    while (k < n && !(!rows[k].o->names && (!seen[k] || rows[k].o->kind == OPT_STRS)))
        k++;
    return k;
}

/* After the arguments: missing positionals ("missing OUT and TYPE"), then
 * the first missing required option. */
static int check_required(const struct opt_cmd *c, const struct row *rows, size_t n, const bool *seen,
                          struct tl_error *err)
{
    char missing[256] = "";
    const char *last = NULL;
    const struct opt *opt_missing = NULL;
    for (size_t k = 0; k < n; k++) {
        const struct opt *o = rows[k].o;
        if (seen[k] || !(o->flags & OPT_REQUIRED))
            continue;
        if (o->names) {
            opt_missing = opt_missing ? opt_missing : o;
            continue;
        }
        if (last) {
            size_t at = strlen(missing);
            snprintf(missing + at, sizeof missing - at, "%s%s", at ? ", " : "", last);
        }
        last = o->arg;
    }
    if (last) {
        size_t at = strlen(missing);
        snprintf(missing + at, sizeof missing - at, "%s%s", at ? " and " : "", last);
        return tl_fail(err, TL_EINVAL, "%s: missing %s (try tinyllm %s --help)", c->name, missing, c->name);
    }
    if (opt_missing) {
        size_t first = strcspn(opt_missing->names, ",");
        return tl_fail(err, TL_EINVAL, "%s: %.*s%s%s is required (try tinyllm %s --help)", c->name, (int)first,
                       opt_missing->names, opt_missing->arg ? " " : "", opt_missing->arg ? opt_missing->arg : "",
                       c->name);
    }
    return TL_OK;
}

int opt_parse(const struct opt_cmd *c, int argc, char **argv, bool *help, struct tl_error *err)
{
    bool seen[MAX_ROWS] = { false };
    struct row rows[MAX_ROWS];
    size_t n = flatten(c, rows);
    *help = false;
    if (n > MAX_ROWS)
        return tl_fail(err, TL_EINVAL, "%s: more than %d options", c->name, MAX_ROWS);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *val = NULL;
        size_t idx;
        int rc;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            opt_help(c, stdout);
            *help = true;
            return TL_OK;
        }
        if (a[0] == '-' && a[1]) {
            if ((idx = find_option(rows, n, a)) == n)
                return tl_fail(err, TL_EINVAL, "%s: unknown option '%s' (try tinyllm %s --help)", c->name, a, c->name);
            if (rows[idx].o->arg) {
                if (i + 1 >= argc)
                    return tl_fail(err, TL_EINVAL, "%s needs a value", a);
                val = argv[++i];
            }
            rc = store(rows[idx].o, a, val, rows[idx].dst, err);
        } else {
            if ((idx = next_positional(rows, n, seen)) == n)
                return tl_fail(err, TL_EINVAL, "%s: unexpected argument '%s' (try tinyllm %s --help)", c->name, a,
                               c->name);
            rc = store(rows[idx].o, rows[idx].o->arg, a, rows[idx].dst, err);
        }
        if (rc)
            return rc;
        seen[idx] = true;
    }
    return check_required(c, rows, n, seen, err);
}

enum { HELP_INDENT = 2, HELP_LABEL = 24 };

/* "  -m, --model FILE        help", long-only spellings under the long
 * column, the help on its own line after a label too wide for the column. */
static void help_row(const struct opt *o, FILE *f)
{
    char label[128];
    snprintf(label, sizeof label, "%s%s%s%s", o->names && !strncmp(o->names, "--", 2) ? "    " : "",
             o->names ? o->names : "", o->names && o->arg ? " " : "", o->arg ? o->arg : "");
    int col = HELP_INDENT + HELP_LABEL + 1;
    fprintf(f, "%*s%s", HELP_INDENT, "", label);
    int at = HELP_INDENT + (int)strlen(label);
    if (at >= col) {
        fputc('\n', f);
        at = 0;
    }
    for (const char *p = o->help; *p;) {
        size_t len = strcspn(p, "\n");
        fprintf(f, "%*s%.*s", col - at, "", (int)len, p);
        p += len;
        if (*p == '\n' && p[1]) {
            fputc('\n', f);
            at = 0;
            p++;
        } else if (*p) {
            p++;
        }
    }
    if (o->def)   /* "(default 512)", "(default: physical cores)" */
        fprintf(f, " (default%s %s)", isalpha((unsigned char)o->def[0]) ? ":" : "", o->def);
    fputc('\n', f);
}

void opt_help(const struct opt_cmd *c, FILE *f)
{
    fprintf(f, "usage: tinyllm %s %s\n%s\n", c->name, c->usage, c->about ? c->about : "");
    for (size_t g = 0; g < c->n_groups; g++) {
        if (c->groups[g].title)
            fprintf(f, "%s\n", c->groups[g].title);
        for (size_t r = 0; r < c->groups[g].n; r++)
            if (c->groups[g].rows[r].help)
                help_row(&c->groups[g].rows[r], f);
    }
    static const struct opt help = { .names = "-h, --help", .help = "this text" };
    help_row(&help, f);
}
