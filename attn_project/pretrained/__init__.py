"""A pretrained encoder read offline and looked at through the project's own lens: loading with
pinned hashes (``load``), pieces → words (``words``), every layer × head scored as a trained
run's rows are (``lens``)."""
