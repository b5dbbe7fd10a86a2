/* SPDX-License-Identifier: MIT */
#pragma once

/* `strata-agent apply`: converges a run list on this machine. Exit 0 when the run succeeded,
 * 1 when a resource failed, 2 on bad input. */
int apply_main(int argc, char *argv[]);
