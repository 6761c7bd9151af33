"""Hydra launchers that place each job where its target's hardware is (Ray, Slurm)."""
