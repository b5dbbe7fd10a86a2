/* SPDX-License-Identifier: MIT */
#include <stdio.h>
#include <string.h>

#include "apply.h"

static void usage(FILE *f) {
        fprintf(f, "Usage: strata-agent COMMAND [OPTIONS]\n"
                   "\n"
                   "Commands:\n"
                   "  apply [OPTIONS] RECIPE...   converge a run list on this machine\n"
                   "  --version                   print the version\n"
                   "  --help                      show this help\n"
                   "\n"
                   "Run 'strata-agent COMMAND --help' for a command's options.\n");
}

int main(int argc, char *argv[]) {
        if (argc >= 2 && strcmp(argv[1], "apply") == 0)
                return apply_main(argc - 1, argv + 1);
        if (argc == 2 && strcmp(argv[1], "--version") == 0) {
                printf("strata-agent %s\n", STRATA_VERSION);
                return 0;
        }
        if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
                usage(stdout);
                return 0;
        }
        usage(stderr);
        return 2;
}
