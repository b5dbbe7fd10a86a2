/* SPDX-License-Identifier: MIT */
#pragma once

/* `strata-agent fetch REQUEST_FILE`: the fetch helper. fetch_as_user() (fetch.h) starts it as
 * the unprivileged fetch user with a request file that user owns:
 *   {"source": {...}, "dest": "...", "cache_dir": "...", "ca_file": "...",
 *    "imds_endpoint": "..."}          (ca_file and imds_endpoint optional)
 * It reads the file, removes it (it holds the source's secrets), fetches the source into dest
 * with fetch_source() and streams JSON lines on stdout:
 *   {"log": {"priority": 6, "message": "..."}}   while it works
 *   {"info": {"type": .., "url": .., "revision": ..}}   last, on success: exit 0
 *   {"error": "...", "errno": N}                         last, on failure: exit 1
 * It refuses to run as root. Exit 2 for a wrong command line. */
int fetch_main(int argc, char *argv[]);
