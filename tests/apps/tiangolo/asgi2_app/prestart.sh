#! /usr/bin/env bash
echo "Running inside /app/prestart.sh, you could add migrations to this file"
