/* SPDX-License-Identifier: MIT */
#pragma once

/* How system_updates reads the package managers' lists of pending updates; each fills
 * *ret_packages with a NULL-terminated vector of package names, in the order listed and each
 * once (an empty vector when there is none). */

/* From the output of `apt-get -s upgrade` (LC_ALL=C): the packages it would upgrade to a version
 * that a security archive provides. Its lines
 *     Inst sed [4.9-1] (4.9-1+deb12u1 Debian-Security:12/stable-security [amd64])
 * name the package, its installed version (absent for a package newly installed as a
 * dependency: not an upgrade), the new version and the archives that have it, "label:version/
 * suite" separated by ", "; a security archive has "Security" in its label or a suite ending in
 * "-security" (Debian's bookworm-security, Ubuntu's jammy-security and ESM's
 * jammy-apps-security). An Inst line of another shape is an error (-EBADMSG, *ret_error quotes
 * it): an update missed there would go unnoticed. */
int system_updates_parse_apt(const char *output, char ***ret_packages, char **ret_error);

/* From the output of `dnf -q updateinfo list --security`, dnf 4
 *     RHSA-2024:0310 Important/Sec. openssl-libs-1:3.0.7-25.el9_3.x86_64
 * or dnf 5 (a header line, then the advisory, its type and severity, the package and the date):
 * the names of the packages (name-[epoch:]version-release.arch) that advisories update. */
int system_updates_parse_dnf(const char *output, char ***ret_packages);
