# shellcheck shell=bash
# A prestart that fails (e.g. migrations could not run).
echo "prestart: database is not reachable"
false
export PRESTART_RAN=should-not-happen
