#!/bin/sh
# RABBITMQ_DEFAULT_USER / RABBITMQ_DEFAULT_PASS, as the official image takes them: the account
# created when the node first starts with an empty data directory.
set -eu
if [ -n "${RABBITMQ_DEFAULT_USER:-}" ] || [ -n "${RABBITMQ_DEFAULT_PASS:-}" ]; then
  conf="$HOME/default-user.conf"
  umask 077
  {
    cat /etc/rabbitmq/rabbitmq.conf
    echo "default_user = ${RABBITMQ_DEFAULT_USER:-guest}"
    echo "default_pass = ${RABBITMQ_DEFAULT_PASS:-guest}"
  } >"$conf"
  export RABBITMQ_CONFIG_FILE="$conf"
fi
exec "$@"
