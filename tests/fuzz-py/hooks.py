"""Schemathesis hooks for mdz's schema fuzzing (tests/e2e/schema_fuzz.rs loads this module
through SCHEMATHESIS_HOOKS): a zip body (the project import) is sent as the raw bytes
generated for it, as the built-in binary serializer sends `application/octet-stream`."""

import schemathesis

schemathesis.serializer.alias(
    ["application/zip", "application/x-zip-compressed"], "application/octet-stream"
)
