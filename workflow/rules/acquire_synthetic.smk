# Synthetic-world rules: synthesize_<source>. See acquire.smk.
