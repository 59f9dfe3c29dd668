#!/bin/sh
# Writes the production passwords into secrets/, the files compose.prod.yaml mounts as
# Docker secrets (`make prod-secrets`, a step of `make prod-up`).
# Usage: tools/prod-secrets.sh POSTGRES_PASSWORD [REDIS_PASSWORD ...]
# Each comes from the environment, else from a NAME=value line of .env (the file compose
# reads too), else the file written before is kept; with none of these, nothing is started.
set -eu

directory=secrets
# Only the owner can open the folder. The files in it are readable by all, because the
# containers' own users read them through their bind mounts, which bypass the folder.
umask 077
mkdir -p "$directory"
chmod 700 "$directory"

# The last NAME=value (or `export NAME=value`) line of .env: quotes around the value are
# removed, and a ` # comment` after an unquoted one.
from_dotenv() {
    [ -f .env ] || return 0
    value="$(sed -n "s/^[[:space:]]*\(export[[:space:]]\{1,\}\)\{0,1\}$1[[:space:]]*=[[:space:]]*//p" .env | tail -n 1)"
    case $value in
        \"*\") value="${value#\"}" && value="${value%\"}" ;;
        \'*\') value="${value#\'}" && value="${value%\'}" ;;
        *) value="${value%%[[:space:]]#*}" && value="${value%"${value##*[![:space:]]}"}" ;;
    esac
    printf '%s' "$value"
}

for name in "$@"; do
    case $name in
        *[!A-Z0-9_]* | '') echo "error: not a variable name: $name" >&2 && exit 2 ;;
    esac
    eval "value=\${$name:-}"
    [ -n "$value" ] || value="$(from_dotenv "$name")"
    file="$directory/$(printf '%s' "$name" | tr '[:upper:]' '[:lower:]')"
    if [ -n "$value" ]; then
        # Rewritten only when it changed: a running container keeps the file it mounted.
        if [ ! -f "$file" ] || [ "$(cat "$file")" != "$value" ]; then
            printf '%s' "$value" > "$file.new"
            chmod 444 "$file.new"
            mv -f "$file.new" "$file"
        fi
    elif [ ! -s "$file" ]; then
        echo "error: $name must be set: in the environment, in .env, or written to $file; nothing was started" >&2
        exit 1
    fi
done
