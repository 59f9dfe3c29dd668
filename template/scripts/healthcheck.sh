#!/usr/bin/env bash
# Docker's health probe of the app, for both images (Dockerfile's HEALTHCHECK, compose.yaml):
# GET /health must answer 200. bash's /dev/tcp costs no Python start-up and needs no curl.
# The access log (ACCESS_LOG=true) leaves out /health, /ready and /metrics.
set -euo pipefail

exec 3<>/dev/tcp/127.0.0.1/8000
printf 'GET /health HTTP/1.0\r\n\r\n' >&3
head -n 1 <&3 | grep -q ' 200 '
