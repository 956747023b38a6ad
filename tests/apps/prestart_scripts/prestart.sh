# shellcheck shell=bash
# The default prestart (/app/prestart.sh): no shebang and not executable, with bash-only syntax.
fruits=(apple banana cherry)
if [[ ${#fruits[@]} -eq 3 && "${fruits[1]}" == banana ]]; then
    export PRESTART_BASHISMS="arrays and [[ ]] work"
fi
export PRESTART_RAN=default
echo "prestart says: working directory is $(pwd)"
