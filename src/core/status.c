/* status.c: status strings and error recording. */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *sermo_status_str(sermo_status status) {
    switch (status) {
    case SERMO_OK: return "ok";
    case SERMO_ERR_IO: return "input/output error";
    case SERMO_ERR_FORMAT: return "malformed or unrecognised content";
    case SERMO_ERR_EMPTY: return "empty";
    case SERMO_ERR_INVALID: return "invalid argument";
    case SERMO_ERR_NOMEM: return "out of memory";
    case SERMO_ERR_UNSUPPORTED: return "unsupported";
    case SERMO_ERR_NETWORK: return "network error";
    case SERMO_ERR_CHECKSUM: return "checksum mismatch";
    }
    return "unknown status";
}

sermo_status sermo_fail(sermo_error *err, sermo_status status, const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        err->status = status;
    }
    return status;
}

sermo_status sermo_fail_prefix(sermo_error *err, sermo_status status, const char *what) {
    if (!err) return status;
    char reason[SERMO_ERROR_MAX];
    memcpy(reason, err->msg, sizeof reason);
    reason[sizeof reason - 1] = 0;
    return sermo_fail(err, status, "%s: %s", what, reason);
}

void *sermo_alloc(size_t size, sermo_error *err, const char *what) {
    void *p = malloc(size ? size : 1);
    if (!p) sermo_fail(err, SERMO_ERR_NOMEM, "%s: cannot allocate %zu bytes", what, size);
    return p;
}
