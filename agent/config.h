/* SPDX-License-Identifier: MIT */
#pragma once

#include "macro.h"

/* Read when strata-agent starts without --config; when it is absent the agent runs on
 * agent_config_default(). */
#define AGENT_CONFIG_PATH "/etc/strata/agent.yaml"

typedef enum ControlPlaneType {
        CONTROL_PLANE_LOCAL,
        CONTROL_PLANE_ETCD,
} ControlPlaneType;

/* The agent's configuration (config/agent.yaml documents every key). Strings and vectors are
 * owned; the optional ones are NULL when not set. Durations are usec_t. It holds no secrets: the
 * etcd password and TLS key are named by path and read by the backend, never stored here. */
typedef struct AgentConfig {
        char *instance_id;
        char *stack_id;

        struct {
                ControlPlaneType type;

                /* local */
                char *spool;
                char *stack_file; /* optional */

                /* etcd */
                char **endpoints;
                char *prefix;
                char *username;      /* optional, with password_file */
                char *password_file; /* optional, with username */
                char *ca_file;       /* optional */
                char *cert_file;     /* optional, with key_file */
                char *key_file;      /* optional, with cert_file */
                usec_t poll_interval;
                usec_t backoff_max;
        } control_plane;

        char **cookbook_path;
        char *state_dir;
        char *cache_dir;
        char *log_dir;
        char *run_as;
        bool privileged_steps;
        usec_t heartbeat_interval;
        usec_t health_timeout; /* always > heartbeat_interval */
        usec_t command_timeout;
        char *deploy_root;
        unsigned keep_releases;

        struct {
                unsigned count;
                unsigned days;
        } command_log_retention;

        usec_t metrics_interval;
} AgentConfig;

/* Loads and validates a YAML config file; keys it does not set keep their defaults, an empty
 * file gives all defaults. A missing file is an error naming it. Errors read
 * "PATH:LINE: key 'control_plane.type': expected ...". Without instance_id the content of
 * /etc/machine-id is used. */
int agent_config_load(const char *path, AgentConfig **ret, char **ret_error);

/* Every key at its default, instance_id from /etc/machine-id (the one thing that can fail). */
int agent_config_default(AgentConfig **ret, char **ret_error);

AgentConfig *agent_config_free(AgentConfig *c);
DEFINE_TRIVIAL_CLEANUP_FUNC(AgentConfig *, agent_config_free);

/* The effective config as a JSON object with the file's keys (durations as "60s", "5m", ...,
 * control_plane with only its backend's keys, unset optional keys left out), so that it can be
 * shown to an operator and loads back as the same config. */
int agent_config_to_json(const AgentConfig *c, json_object **ret);
