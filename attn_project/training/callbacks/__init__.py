"""Lightning callbacks, by job: ``attention`` (heat maps, metrics, the report) and
``checkpointing`` (checkpoints, seeding, non-finite losses)."""
