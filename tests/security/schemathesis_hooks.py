"""Loaded by the schemathesis run (SCHEMATHESIS_HOOKS): remote write's body is bytes, sent as
generated, like application/octet-stream (schemathesis knows no protobuf serializer)."""

import schemathesis

schemathesis.serializer.alias("application/x-protobuf", "application/octet-stream")
