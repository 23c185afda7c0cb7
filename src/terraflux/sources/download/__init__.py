"""Transport of the ``download_*`` rules: real services into the raw layout of ``docs/data-layout.md``.

What to ask each service for lives with its source (``terraflux.sources.<source>``); these modules move bytes:

- ``cds``: the real ``cdsapi`` client (credentials, retries, error messages) and :func:`cds.retrieve`;
- ``https``: resumable, verified HTTPS downloads (:func:`https.download`);
- ``insitu``: the CarbonSense archive (download, verify, unpack) or a user-supplied site directory;
- ``delivery``: format check, sidecars (``<file>.request.json``, ``<file>.sha256``), atomic publish;
- ``errors``: what a user can fix, said clearly (credentials, licences, cost limits, truncation, ...);
- ``settings``: retry and timeout settings from config ``sources.cds`` / ``sources.http``.
"""
