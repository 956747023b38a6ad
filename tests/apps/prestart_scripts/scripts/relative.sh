# shellcheck shell=bash
# Named with a relative PRE_START_PATH (scripts/relative.sh = /app/scripts/relative.sh).
export PRESTART_RAN=relative
