# shellcheck shell=bash
# A prestart (PRE_START_PATH=orphans_early.sh) whose background children are orphaned and end before
# the server starts: a background job in a subshell and a double fork.
(sleep 0.05 &)
( (sleep 0.05 &) & )
sleep 0.5  # both have ended before this script returns
echo "orphans started"
