#!/bin/sh
# Entry point of the Sanad image: `<service>` runs that service; anything else
# (e.g. `sanad token create ...`) is run as given.
set -eu

service="${1:-intake}"
case "$service" in
  intake)     port=8101 ;;
  triage)     port=8102 ;;
  escalation) port=8103 ;;
  reporting)  port=8104 ;;
  *)          exec "$@" ;;
esac

# --no-access-log: an access log line carries the client address and the path;
#   for people at risk both identify them. The services log what they need.
# --no-server-header: do not advertise the server software.
# --timeout-graceful-shutdown: the services drain their consumers and flush the
#   outbox on SIGTERM; bound it well inside the orchestrator's grace period.
# No --proxy-headers/--forwarded-allow-ips: the services must not learn client
#   addresses from X-Forwarded-For.
exec python -m uvicorn --factory "services.${service}.main:create_app" \
  --host 0.0.0.0 --port "${SANAD_HTTP_PORT:-$port}" \
  --no-access-log --no-server-header \
  --timeout-graceful-shutdown 10
