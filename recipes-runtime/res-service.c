/* SPDX-License-Identifier: MIT */
/* service: a systemd unit, through systemd's D-Bus API (org.freedesktop.systemd1).
 *
 * start: starts the unit unless it is active; stop: stops it unless it is inactive or failed;
 * restart and reload always act. Each waits for its job (JobRemoved) and fails unless the job
 * ended "done", within the resource's timeout (default SERVICE_JOB_TIMEOUT).
 * enable, disable: EnableUnitFiles / DisableUnitFiles when the unit file state differs, then a
 * daemon reload. Units that cannot be enabled (static, indirect, generated, transient, alias)
 * count as enabled; a masked unit cannot be enabled and is an error.
 *
 * A name without a unit type suffix means a .service. State is read in why-run too (nothing
 * is changed), so that why-run tells what a real run would do. Without systemd as PID 1 every
 * action fails with a clear error. */

#include <systemd/sd-bus.h>
#include <systemd/sd-daemon.h>
#include <time.h>

#include "resource.h"
#include "str-util.h"
#include "time-util.h"

#define SD_DESTINATION "org.freedesktop.systemd1"
#define SD_PATH "/org/freedesktop/systemd1"
#define SD_MANAGER "org.freedesktop.systemd1.Manager"
#define SD_UNIT "org.freedesktop.systemd1.Unit"
#define SD_PRIVATE_SOCKET "/run/systemd/private"
#define SERVICE_JOB_TIMEOUT (10 * 60 * USEC_PER_SEC)
#define UNIT_NAME_MAX 255

static const char *const unit_suffixes[] = {
        ".service", ".socket", ".target", ".timer", ".path",  ".mount",
        ".automount", ".swap", ".slice", ".scope", ".device", NULL,
};

static int unit_name(const char *name, char **ret) {
        for (const char *const *s = unit_suffixes; *s; s++)
                if (endswith(name, *s)) {
                        *ret = strdup(name);
                        return *ret ? 0 : -ENOMEM;
                }
        *ret = strf("%s.service", name);
        return *ret ? 0 : -ENOMEM;
}

static int bus_fail(Resource *r, int k, const sd_bus_error *error, const char *what,
                    const char *unit) {
        return resource_fail(r, k, "%s %s: %s", what, unit,
                             error && error->message ? error->message : strerror(-k));
}

/* ActiveState of the unit; LoadUnit loads it first if systemd has not yet. */
static int unit_active_state(Resource *r, sd_bus *bus, const char *unit, char **ret) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        const char *path;
        int k;

        k = sd_bus_call_method(bus, SD_DESTINATION, SD_PATH, SD_MANAGER, "LoadUnit", &error,
                               &reply, "s", unit);
        if (k < 0)
                return bus_fail(r, k, &error, "cannot load", unit);
        k = sd_bus_message_read(reply, "o", &path);
        if (k < 0)
                return bus_fail(r, k, NULL, "cannot load", unit);
        k = sd_bus_get_property_string(bus, SD_DESTINATION, path, SD_UNIT, "ActiveState", &error,
                                       ret);
        if (k < 0)
                return bus_fail(r, k, &error, "cannot read the state of", unit);
        return 0;
}

typedef struct JobWait {
        char *job; /* object path of the job we wait for */
        char *result;
} JobWait;

static int on_job_removed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        JobWait *w = userdata;
        const char *path, *unit, *result;
        uint32_t id;

        (void) ret_error;
        if (sd_bus_message_read(m, "uoss", &id, &path, &unit, &result) < 0)
                return 0;
        if (w->job && !w->result && streq(path, w->job))
                w->result = strdup(result);
        return 0;
}

/* Calls a job method (StartUnit, ...) and waits for the job to be removed. */
static int unit_job(Resource *r, sd_bus *bus, const char *method, const char *what,
                    const char *unit) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(sd_bus_slot_unrefp) sd_bus_slot *slot = NULL;
        int64_t seconds = resource_int(r, "timeout", 0);
        usec_t deadline;
        JobWait w = {};
        const char *job;
        int k;

        deadline = now_usec(CLOCK_MONOTONIC) + (seconds > 0 ? (usec_t) seconds * USEC_PER_SEC
                                             : SERVICE_JOB_TIMEOUT);

        /* The match exists before the job does, so its end cannot be missed; systemd sends
         * job signals only to subscribed clients. Signals that arrive while the call below
         * waits for its reply are queued, not dispatched, so w.job is known before them. */
        k = sd_bus_match_signal(bus, &slot, SD_DESTINATION, SD_PATH, SD_MANAGER, "JobRemoved",
                                on_job_removed, &w);
        if (k < 0)
                return bus_fail(r, k, NULL, "cannot watch the jobs of", unit);
        k = sd_bus_call_method(bus, SD_DESTINATION, SD_PATH, SD_MANAGER, "Subscribe", &error, NULL,
                               NULL);
        if (k < 0)
                return bus_fail(r, k, &error, "cannot watch the jobs of", unit);

        k = sd_bus_call_method(bus, SD_DESTINATION, SD_PATH, SD_MANAGER, method, &error, &reply,
                               "ss", unit, "replace");
        if (k < 0)
                return bus_fail(r, k, &error, what, unit);
        k = sd_bus_message_read(reply, "o", &job);
        if (k < 0)
                return bus_fail(r, k, NULL, what, unit);
        w.job = strdup(job);
        if (!w.job)
                return resource_fail(r, -ENOMEM, "out of memory");

        while (!w.result) {
                usec_t now = now_usec(CLOCK_MONOTONIC);

                k = sd_bus_process(bus, NULL);
                if (k < 0)
                        break;
                if (k > 0)
                        continue;
                if (now >= deadline) {
                        k = -ETIME;
                        break;
                }
                k = sd_bus_wait(bus, deadline - now);
                if (k < 0)
                        break;
        }

        if (k == -ETIME)
                k = resource_fail(r, k, "%s %s: the job did not finish in time", what, unit);
        else if (!w.result)
                k = bus_fail(r, k, NULL, what, unit);
        else if (!streq(w.result, "done"))
                k = resource_fail(r, -EIO, "%s %s: the job ended '%s' (see journalctl -u %s)",
                                  what, unit, w.result, unit);
        else
                k = 0;
        free(w.job);
        free(w.result);
        return k;
}

static int unit_file_state(Resource *r, sd_bus *bus, const char *unit, char **ret) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        const char *state;
        int k;

        k = sd_bus_call_method(bus, SD_DESTINATION, SD_PATH, SD_MANAGER, "GetUnitFileState",
                               &error, &reply, "s", unit);
        if (k < 0)
                return bus_fail(r, k, &error, "cannot read the unit file state of", unit);
        k = sd_bus_message_read(reply, "s", &state);
        if (k < 0)
                return bus_fail(r, k, NULL, "cannot read the unit file state of", unit);
        *ret = strdup(state);
        return *ret ? 0 : resource_fail(r, -ENOMEM, "out of memory");
}

static int daemon_reload(Resource *r, sd_bus *bus, const char *unit) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        int k;

        k = sd_bus_call_method(bus, SD_DESTINATION, SD_PATH, SD_MANAGER, "Reload", &error, NULL,
                               NULL);
        if (k < 0)
                return bus_fail(r, k, &error, "cannot reload systemd after changing", unit);
        return 0;
}

static int unit_enable(Resource *r, sd_bus *bus, const char *unit, bool enable) {
        static const char *const cannot_enable[] = { "static",    "indirect", "generated",
                                                     "transient", "alias",    NULL };
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_free_ char *state = NULL;
        int k;

        k = unit_file_state(r, bus, unit, &state);
        if (k < 0)
                return k;

        if (enable) {
                if (streq(state, "enabled") || strv_contains((char **) cannot_enable, state))
                        return 0;
                if (startswith(state, "masked"))
                        return resource_fail(r, -EPERM, "cannot enable %s: it is masked", unit);
                if (!resource_change(r, "enable %s (was %s)", unit, state))
                        return 1;
                k = sd_bus_call_method(bus, SD_DESTINATION, SD_PATH, SD_MANAGER, "EnableUnitFiles",
                                       &error, NULL, "asbb", 1, unit, 0, 0);
        } else {
                if (!streq(state, "enabled") && !streq(state, "enabled-runtime"))
                        return 0;
                if (!resource_change(r, "disable %s", unit))
                        return 1;
                k = sd_bus_call_method(bus, SD_DESTINATION, SD_PATH, SD_MANAGER,
                                       "DisableUnitFiles", &error, NULL, "asb", 1, unit,
                                       streq(state, "enabled-runtime"));
        }
        if (k < 0)
                return bus_fail(r, k, &error, enable ? "cannot enable" : "cannot disable", unit);

        k = daemon_reload(r, bus, unit);
        return k < 0 ? k : 1;
}

static int unit_start_stop(Resource *r, sd_bus *bus, const char *unit, const char *action) {
        _cleanup_free_ char *active = NULL;
        int k;

        if (streq(action, "restart")) {
                if (!resource_change(r, "restart %s", unit))
                        return 1;
                k = unit_job(r, bus, "RestartUnit", "cannot restart", unit);
                return k < 0 ? k : 1;
        }
        if (streq(action, "reload")) {
                if (!resource_change(r, "reload %s", unit))
                        return 1;
                k = unit_job(r, bus, "ReloadUnit", "cannot reload", unit);
                return k < 0 ? k : 1;
        }

        k = unit_active_state(r, bus, unit, &active);
        if (k < 0)
                return k;
        if (streq(action, "start")) {
                if (streq(active, "active") || streq(active, "reloading"))
                        return 0;
                if (!resource_change(r, "start %s (was %s)", unit, active))
                        return 1;
                k = unit_job(r, bus, "StartUnit", "cannot start", unit);
        } else {
                if (streq(active, "inactive") || streq(active, "failed"))
                        return 0;
                if (!resource_change(r, "stop %s (was %s)", unit, active))
                        return 1;
                k = unit_job(r, bus, "StopUnit", "cannot stop", unit);
        }
        return k < 0 ? k : 1;
}

/* As root, straight to systemd's private socket, as systemctl does: no D-Bus daemon needed,
 * which minimal images may lack. The system bus otherwise. */
static int bus_connect(sd_bus **ret) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        int k;

        if (geteuid() != 0)
                return sd_bus_open_system(ret);

        k = sd_bus_new(&bus);
        if (k < 0)
                return k;
        k = sd_bus_set_address(bus, "unix:path=" SD_PRIVATE_SOCKET);
        if (k >= 0)
                k = sd_bus_start(bus);
        if (k < 0)
                return sd_bus_open_system(ret);

        *ret = TAKE_PTR(bus);
        return 0;
}

static int service_apply(Resource *r, const char *action) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_free_ char *unit = NULL;
        int k;

        if (sd_booted() <= 0)
                return resource_fail(r, -EOPNOTSUPP,
                                     "systemd is not running (PID 1 is not systemd); cannot "
                                     "manage units");

        k = unit_name(resource_str(r, "name"), &unit);
        if (k < 0)
                return resource_fail(r, k, "out of memory");
        k = bus_connect(&bus);
        if (k < 0)
                return resource_fail(r, k, "cannot connect to systemd: %s", strerror(-k));

        if (streq(action, "enable") || streq(action, "disable"))
                return unit_enable(r, bus, unit, streq(action, "enable"));
        return unit_start_stop(r, bus, unit, action);
}

/* What systemd accepts in a unit name, and nothing that reads as an option or a path. */
static int service_check(Resource *r, char **ret_error) {
        const char *name = resource_str(r, "name");

        if (!*name || strlen(name) > UNIT_NAME_MAX - strlen(".service") || name[0] == '-' ||
            name[0] == '.')
                return error_set(ret_error, -EINVAL, "name '%s' is not a unit name", name);
        for (const char *p = name; *p; p++)
                if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                      (*p >= '0' && *p <= '9') || strchr(":_.\\@-", *p)))
                        return error_set(ret_error, -EINVAL,
                                         "name '%s' is not a unit name (letters, digits and "
                                         ":_.\\@-)",
                                         name);
        return 0;
}

static const char *const service_actions[] = { "start",  "stop",   "restart", "reload",
                                               "enable", "disable", NULL };

static const PropSpec service_properties[] = {
        { "name", PROP_STRING, true },
        { NULL },
};

const ResourceType resource_type_service = {
        .name = "service",
        .actions = service_actions,
        .properties = service_properties,
        .identity = "name",
        .check = service_check,
        .apply = service_apply,
};
