#!/bin/sh
# Entry point of the facepipe function images: `python -m awslambdaric <handler>`.
# Lambda passes the handler as the command (terraform image_config.command); a bare
# `docker run` uses FACEPIPE_HANDLER, baked in with --build-arg HANDLER.
set -eu
if [ "$#" -eq 0 ]; then
    set -- "${FACEPIPE_HANDLER:?no handler: pass one as the command or set FACEPIPE_HANDLER}"
fi
exec /opt/venv/bin/python -m awslambdaric "$@"
