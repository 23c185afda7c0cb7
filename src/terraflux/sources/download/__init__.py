"""Producers of the ``download_*`` rules: real services into the raw layout of ``docs/data-layout.md``.

Modules:

- ``builders``: the request for one raw file of each source (CDS datasets, HTTPS URLs);
- ``cds``: the real ``cdsapi`` client (credentials, retries, error messages) and :func:`cds.retrieve`;
- ``https``: resumable, verified HTTPS downloads (:func:`https.download`);
- ``insitu``: the CarbonSense archive (download, verify, unpack) or a user-supplied site directory;
- ``delivery``: format sniffing, sidecars (``<file>.request.json``, ``<file>.sha256``), atomic publish;
- ``errors``: what a user can fix, said clearly (credentials, licences, cost limits, truncation, ...).
"""
