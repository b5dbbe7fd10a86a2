/* SPDX-License-Identifier: MIT */

#include "control-plane.h"

ControlPlane *control_plane_free(ControlPlane *cp) {
        if (cp)
                cp->ops->free(cp);
        return NULL;
}
