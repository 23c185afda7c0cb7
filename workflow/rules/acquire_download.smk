# Download rules (real services): download_<source>. See acquire.smk.
