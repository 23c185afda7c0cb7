# Layer 'acquire': raw files exactly as the services deliver them, under resources/{run}/raw/.
# Two producers write the same targets; `run.origin` decides which one is defined, so nothing downstream
# can tell them apart: download rules (real services) or synthesize rules (the seeded synthetic world).


if config["run"]["origin"] == "download":

    include: "acquire_download.smk"

else:

    include: "acquire_synthetic.smk"
