/* SPDX-License-Identifier: MIT */
#pragma once

#include "resource.h"

/* What package and system_updates share: how apt-get is run to change packages. */

/* Runs `apt-get -y -q <options> args...` with DEBIAN_FRONTEND=noninteractive through
 * resource_run_program(). The options keep configuration files the administrator changed
 * (--force-confdef, --force-confold) and wait up to 300 s for a dpkg lock that another apt holds
 * (unattended-upgrades on a fresh instance). */
int package_apt_get(Resource *r, char *const *args);
