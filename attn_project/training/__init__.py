"""The training side: the LightningModule, its callbacks, and safe checkpoint loading."""
