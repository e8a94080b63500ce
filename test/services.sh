#!/bin/sh
# Starts the PostgreSQL and Redis the backend tests use when they are down
# (127.0.0.1:5432 with trust auth and database "test"; 127.0.0.1:6379).
# Idempotent: a running service is left alone. A service that cannot be
# started is reported; the tests that need it then fail with that reason.
set -u


if ! bash -c 'exec 3<>/dev/tcp/127.0.0.1/5432' 2>/dev/null; then
	if command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
		echo "services: starting PostgreSQL"
		pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || echo "services: PostgreSQL did not start" >&2
	else
		echo "services: PostgreSQL is down and pg_ctlcluster is missing" >&2
	fi
fi
if ! bash -c 'exec 3<>/dev/tcp/127.0.0.1/6379' 2>/dev/null; then
	if command -v redis-server >/dev/null 2>&1; then
		echo "services: starting Redis"
		redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no || echo "services: Redis did not start" >&2
	else
		echo "services: Redis is down and redis-server is missing" >&2
	fi
fi
exit 0
