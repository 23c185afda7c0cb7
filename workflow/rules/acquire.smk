# Layer 'acquire': rules are added by the work on this layer (see README, 'Stages').
