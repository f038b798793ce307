"""attn_project: self-attention from scratch, a masked-token attention classifier, and its analysis."""
