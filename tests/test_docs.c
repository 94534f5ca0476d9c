/* test_docs.c: the documents agree with the tree: every folder the README's
 * Layout names exists and every folder under src/ is named there, every
 * relative link of README.md and of the docs leads to a file, and every
 * Markdown table has as many cells in each row as in its header. */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "test.h"

static int is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* The lines of the README's "## Layout" code block that start with a path. */
static int layout_paths(const char *readme, char paths[][64], int max)
{
    const char *sec = strstr(readme, "\n## Layout");
    const char *start = sec ? strstr(sec, "```\n") : NULL;
    const char *end = start ? strstr(start + 4, "```") : NULL;
    int n = 0;
    for (const char *p = start ? start + 4 : NULL; p && p < end && n < max;) {
        const char *nl = strchr(p, '\n');
        size_t len = strcspn(p, " \n");
        if (len > 0 && len < 64) {
            memcpy(paths[n], p, len);
            paths[n++][len] = 0;
        }
        p = nl ? nl + 1 : NULL;
    }
    return n;
}

static void test_layout_matches_tree(void)
{
    char *readme = test_read_file("README.md", NULL);
    if (!readme)
        SKIP("README.md not found (tests run from the repository root)");
    static char paths[64][64];
    int n = layout_paths(readme, paths, 64);
    CHECK(n >= 8, "the Layout section names %d paths", n);
    for (int i = 0; i < n; i++) {
        size_t len = strlen(paths[i]);
        if (paths[i][len - 1] == '/')
            CHECK(is_dir(paths[i]), "Layout names %s, which is not a folder", paths[i]);
    }
    /* the converse: each folder of src/ (one level) is in the Layout */
    DIR *d = opendir("src");
    CHECK(d != NULL, "no src/");
    for (struct dirent *e; d && (e = readdir(d));) {
        if (e->d_name[0] == '.')
            continue;
        char want[300];
        snprintf(want, sizeof want, "src/%s", e->d_name);
        if (!is_dir(want))
            continue;
        strcat(want, "/");
        int found = 0;
        for (int i = 0; i < n; i++)
            found |= strcmp(paths[i], want) == 0;
        CHECK(found, "%s is not in the README's Layout", want);
    }
    if (d)
        closedir(d);
    free(readme);
}

/* Relative links "](path)" of one Markdown file lead to existing files. */
static void check_links(const char *dir, const char *file)
{
    char path[256];
    snprintf(path, sizeof path, "%s%s", dir, file);
    char *s = test_read_file(path, NULL);
    CHECK(s != NULL, "cannot read %s", path);
    for (const char *p = s; p && (p = strstr(p, "](")); p += 2) {
        const char *q = p + 2, *e = strchr(q, ')');
        if (!e || e - q >= 200 || strncmp(q, "http", 4) == 0 || *q == '#')
            continue;
        char target[512];
        snprintf(target, sizeof target, "%s%.*s", dir, (int)(strcspn(q, "#)")), q);
        struct stat st;
        CHECK(stat(target, &st) == 0, "%s links to %s, which does not exist", path, target);
    }
    free(s);
}

/* Cells of a table row "| a | b |": the count of unescaped '|' minus one. */
static int cells(const char *line, size_t len)
{
    int bars = 0;
    for (size_t i = 0; i < len; i++)
        bars += line[i] == '|' && (i == 0 || line[i - 1] != '\\');
    return bars - 1;
}

static void check_tables(const char *path)
{
    char *s = test_read_file(path, NULL);
    CHECK(s != NULL, "cannot read %s", path);
    int header = 0, lineno = 0;
    for (const char *p = s; p && *p;) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        lineno++;
        if (len > 0 && p[0] == '|') {
            int c = cells(p, len);
            if (!header)
                header = c;
            else
                CHECK(c == header, "%s:%d: a table row of %d cells under a header of %d",
                      path, lineno, c, header);
        } else {
            header = 0;
        }
        p = nl ? nl + 1 : NULL;
    }
    free(s);
}

static void test_links_and_tables(void)
{
    if (!is_dir("docs"))
        SKIP("docs/ not found (tests run from the repository root)");
    check_links("", "README.md");
    check_tables("README.md");
    DIR *d = opendir("docs");
    for (struct dirent *e; d && (e = readdir(d));) {
        size_t len = strlen(e->d_name);
        if (len > 3 && strcmp(e->d_name + len - 3, ".md") == 0) {
            char path[300];
            snprintf(path, sizeof path, "docs/%s", e->d_name);
            check_links("docs/", e->d_name);
            check_tables(path);
        }
    }
    if (d)
        closedir(d);
}

int main(void)
{
    RUN_TEST(test_layout_matches_tree);
    RUN_TEST(test_links_and_tables);
    return test_finish();
}
