/* SPDX-License-Identifier: MIT */
#pragma once

#include "config.h"
#include "control-plane.h"

/* The etcd control plane: etcd v3 through its JSON gateway, never blocking the event loop.
 * Keys, under the configured prefix P (docs/agent.md, "etcd control plane"):
 *   P/instances/<id>/registered     created once, if absent: instance, stack, hostname, agent
 *   P/instances/<id>/alive          the heartbeat record, bound to a lease of TTL
 *                                   health_timeout that every heartbeat keeps alive
 *   P/instances/<id>/commands/<cmd> commands: watched, and read whole every poll_interval
 *   P/instances/<id>/results/<cmd>  results, created once (a command with one is never
 *                                   handed over again)
 *   P/instances/<id>/logs/<cmd>     the last 1 MiB of a command's log, put before its result
 *   P/stacks/<stack> and P/stacks/<stack>/{layers,apps,instances,users}/<name>
 *                                   the stack description, read for every command (an
 *                                   instance "online" there whose alive record is gone is
 *                                   "connection_lost", when this user may read those)
 * The watch resumes from the revision kept in <state_dir>/etcd-revision; a compacted one
 * makes it read every command instead. Any failure (an endpoint down, a refused password,
 * permission denied) is logged, the connection is dropped and made again after a backoff
 * with full jitter (capped at backoff_max), on the next endpoint when the last one did not
 * answer. Meanwhile results and logs wait in order, and a command gets the last stack
 * description read (kept in <state_dir>/etcd-stack.json). Each heartbeat record also goes to
 * <state_dir>/heartbeat.json with the state of the link, for strata-agent-cli. */
int cp_etcd_new(sd_event *event, const AgentConfig *config, const ControlPlaneSink *sink,
                ControlPlane **ret, char **ret_error);
