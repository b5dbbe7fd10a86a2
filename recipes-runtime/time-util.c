/* SPDX-License-Identifier: MIT */
#include "str-util.h"
#include "time-util.h"

usec_t now_usec(clockid_t clock) {
        struct timespec ts;

        clock_gettime(clock, &ts);
        return (usec_t) ts.tv_sec * USEC_PER_SEC + (usec_t) ts.tv_nsec / 1000;
}

char *format_timestamp(usec_t t) {
        time_t sec = (time_t) (t / USEC_PER_SEC);
        struct tm tm;
        char buf[32];

        if (!gmtime_r(&sec, &tm) || strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm) == 0)
                return NULL;
        return strf("%s.%03uZ", buf, (unsigned) ((t % USEC_PER_SEC) / 1000));
}
