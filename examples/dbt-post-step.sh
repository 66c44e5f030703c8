#!/usr/bin/env sh
# Run dbt, then send its run as a trace; always exit with dbt's own code.
#   examples/dbt-post-step.sh build --select staging
# The caller's TRACEPARENT (if any) becomes the parent, and dbt also records it in its
# artifacts (metadata.env.TRACEPARENT) through DBT_ENV_CUSTOM_ENV_TRACEPARENT.
if [ -n "${TRACEPARENT:-}" ]; then
  export DBT_ENV_CUSTOM_ENV_TRACEPARENT="$TRACEPARENT"
fi
dbt "$@"
rc=$?
retrace dbt "${DBT_TARGET_PATH:-target}" || echo "retrace: traces not delivered (exit $?)" >&2
exit $rc
