/* SPDX-License-Identifier: MIT */
#include <stdio.h>
#include <string.h>

#include "agent.h"
#include "apply.h"
#include "fetch-command.h"

static void usage(FILE *f) {
        fprintf(f, "Usage: strata-agent [--config FILE] [--check-config]\n"
                   "       strata-agent apply [OPTIONS] RECIPE...\n"
                   "       strata-agent --version | --help\n"
                   "\n"
                   "Without a command, runs the agent daemon. 'apply' converges a run list on this\n"
                   "machine ('strata-agent apply --help').\n");
}

int main(int argc, char *argv[]) {
        if (argc >= 2 && strcmp(argv[1], "apply") == 0)
                return apply_main(argc - 1, argv + 1);
        if (argc >= 2 && strcmp(argv[1], "fetch") == 0)
                return fetch_main(argc - 1, argv + 1);
        if (argc == 2 && strcmp(argv[1], "--version") == 0) {
                printf("strata-agent %s\n", STRATA_VERSION);
                return 0;
        }
        if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
                usage(stdout);
                return 0;
        }
        return daemon_main(argc, argv);
}
