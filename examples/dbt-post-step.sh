#!/usr/bin/env sh
# Run dbt under a span and send the run it wrote as children of that span; always exit with
# dbt's own code (export trouble is only a warning).
#   examples/dbt-post-step.sh build --select staging
# The caller's TRACEPARENT (if any) becomes the parent of the wrapper span; dbt records the
# wrapper's context in its artifacts (metadata.env.TRACEPARENT).
exec retrace dbt --run -- dbt "$@"
