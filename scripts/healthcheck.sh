#!/bin/sh
# healthcheck.sh — the container's HEALTHCHECK (Dockerfile): GET /api/v1/health on
# this machine, over HTTPS when the service serves TLS (INFICOND_TLS_CERT set) and
# over plain HTTP otherwise, so turning TLS on does not mark the container unhealthy.
# -k: the check asks "is it alive", not "is the certificate trusted" (it may be
# self-signed or name another host). Exit 0 healthy, non-zero otherwise.
port=${INFICOND_PORT:-8080}
if [ -n "${INFICOND_TLS_CERT:-}" ]; then
  exec curl -fsSk --max-time 3 "https://127.0.0.1:$port/api/v1/health"
fi
exec curl -fsS --max-time 3 "http://127.0.0.1:$port/api/v1/health"
