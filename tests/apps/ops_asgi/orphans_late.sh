# shellcheck shell=bash
# A prestart (PRE_START_PATH=orphans_late.sh) that leaves children running into the server's life:
# a background job in a subshell, a plain background job and a double fork, ending after 2 to 4 s.
(sleep 2 &)
sleep 3 &
( (sleep 4 &) & )
echo "orphans started"
