/* SPDX-License-Identifier: MIT */
#include "str-util.h"
#include "version.h"

int version_parse(const char *s, Version *ret) {
        Version v = {};
        const char *p = s;

        if (!s || !*s)
                return -EINVAL;
        for (;;) {
                char digits[11];
                size_t n = strspn(p, "0123456789");

                if (n == 0 || n >= sizeof(digits) || v.n >= VERSION_PARTS)
                        return -EINVAL;
                memcpy(digits, p, n);
                digits[n] = 0;
                if (parse_uint32(digits, &v.part[v.n++]) < 0)
                        return -EINVAL;
                p += n;
                if (*p == 0)
                        break;
                if (*p != '.')
                        return -EINVAL;
                p++;
        }
        *ret = v;
        return 0;
}

int version_compare(const Version *a, const Version *b) {
        for (unsigned i = 0; i < VERSION_PARTS; i++)
                if (a->part[i] != b->part[i])
                        return a->part[i] < b->part[i] ? -1 : 1;
        return 0;
}

int version_constraint_check(const char *constraint, const Version *v, bool *ret_ok) {
        static const char *const ops[] = { "~>", ">=", "<=", "=", ">", "<" };
        const char *op = "=", *p = constraint;
        Version want;
        int c;

        p += strspn(p, " ");
        for (size_t i = 0; i < ELEMENTSOF(ops); i++)
                if (startswith(p, ops[i])) {
                        op = ops[i];
                        p += strlen(ops[i]);
                        break;
                }
        p += strspn(p, " ");
        if (version_parse(p, &want) < 0)
                return -EINVAL;

        c = version_compare(v, &want);
        if (streq(op, "~>")) {
                /* Pessimistic: the last given part may grow, the ones before it are fixed. */
                Version upper = want;

                if (want.n < 2) {
                        upper.part[0]++;
                } else {
                        upper.part[want.n - 2]++;
                        for (unsigned i = want.n - 1; i < VERSION_PARTS; i++)
                                upper.part[i] = 0;
                }
                *ret_ok = c >= 0 && version_compare(v, &upper) < 0;
        } else if (streq(op, ">="))
                *ret_ok = c >= 0;
        else if (streq(op, "<="))
                *ret_ok = c <= 0;
        else if (streq(op, ">"))
                *ret_ok = c > 0;
        else if (streq(op, "<"))
                *ret_ok = c < 0;
        else
                *ret_ok = c == 0;
        return 0;
}
