"""Plumbing shared by the commands: configs, run-folder names, HPARAMS, the sweep summary, the
console, user errors, threads and override keys."""
