"""Raw-format readers: one module per format, each turning a file as a service delivers it into xarray or
pandas objects with standard names, dims and units. The prepare layer is their only user.

Formats are detected from the first bytes (:mod:`.sniff`), never from the file name. Every reader raises
:class:`~terraflux.errors.DataError` naming the file and what to do when a file is truncated, corrupt or
does not have the expected layout.
"""
