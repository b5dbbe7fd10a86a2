/* SPDX-License-Identifier: MIT */
#include <signal.h>
#include <sys/prctl.h>

#include "command-journal.h"
#include "command.h"
#include "config.h"
#include "lifecycle.h"
#include "run-command.h"
#include "str-util.h"

const char *builtin_cookbooks_dir(void) {
        return getenv("STRATA_BUILTIN_COOKBOOKS") ?: STRATA_DATADIR "/cookbooks";
}

static void emit(json_object *line) {
        const char *s = json_object_to_json_string_ext(line, JSON_C_TO_STRING_PLAIN |
                                                                     JSON_C_TO_STRING_NOSLASHESCAPE);

        /* One write per line: the daemon reads whole lines. */
        _cleanup_free_ char *text = strf("%s\n", s);
        if (text) {
                fputs(text, stdout);
                fflush(stdout);
        }
}

static void add_opt(json_object *o, const char *key, const char *value) {
        if (value)
                json_object_object_add(o, key, json_object_new_string(value));
}

static void log_line(int priority, const LogContext *ctx, const char *message, void *userdata) {
        _cleanup_json_ json_object *line = json_object_new_object();
        json_object *log = json_object_new_object();

        (void) userdata;
        if (!line || !log) {
                json_object_put(log);
                return;
        }
        json_object_object_add(log, "priority", json_object_new_int(priority));
        add_opt(log, "cookbook", ctx->cookbook);
        add_opt(log, "recipe", ctx->recipe);
        add_opt(log, "resource", ctx->resource);
        add_opt(log, "app", ctx->app);
        add_opt(log, "message", message);
        json_object_object_add(line, "log", log);
        emit(line);
}

/* The step running, for on_terminate(). */
static volatile sig_atomic_t current_step;

/* The daemon stops a worker with SIGTERM to the worker's process group. The step has a session
 * of its own and the daemon may not have read its {"step"} line yet: take it along. */
static void on_terminate(int sig) {
        if (current_step > 0)
                (void) kill(-(pid_t) current_step, SIGTERM);
        (void) signal(sig, SIG_DFL);
        (void) raise(sig);
}

static void step_started(pid_t pgid, void *userdata) {
        _cleanup_json_ json_object *line = json_object_new_object();

        (void) userdata;
        current_step = pgid;
        if (!line)
                return;
        json_object_object_add(line, "step", json_object_new_int64(pgid));
        emit(line);
}

int run_command(const AgentConfig *cfg, CommandJournal *journal, json_object *command,
                json_object *stack) {
        _cleanup_json_ json_object *result = NULL, *node = NULL;
        const char *id = command_id(command);
        int k;

        /* The worker must not outlive the daemon that supervises it. */
        (void) prctl(PR_SET_PDEATHSIG, SIGKILL);
        (void) sigaction(SIGTERM, &(struct sigaction){ .sa_handler = on_terminate }, NULL);

        (void) prctl(PR_SET_NAME, "strata-worker");

        char *builtin[] = { (char *) builtin_cookbooks_dir(), NULL };
        LifecycleRun run = {
                .config = cfg,
                .builtin_cookbooks = builtin,
                .command = command,
                .stack = stack,
                .log = log_line,
                .step_started = step_started,
        };
        k = lifecycle_run(&run, &result, &node);
        if (k < 0) {
                fprintf(stderr, "command %s: %s\n", id, strerror(-k));
                return 1;
        }
        if (node) {
                k = command_journal_write(journal, id, "node.json", node, 0);
                if (k < 0)
                        fprintf(stderr, "command %s: cannot write node.json: %s\n", id, strerror(-k));
        }
        k = command_journal_write(journal, id, "result.json", result, WRITE_SYNC);
        if (k < 0) {
                fprintf(stderr, "command %s: cannot write result.json: %s\n", id, strerror(-k));
                return 1;
        }
        return 0;
}
