"""Drawing: heat maps, the per-epoch blitted sample figure, the offline HTML attention view."""
