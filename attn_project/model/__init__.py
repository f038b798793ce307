"""The model side: attention modules, embeddings, attention fixed by a rule (controls), the
encoder blocks of deeper models, and the classifier with its config."""

from attn_project.model.classifier import MaskedTokenClassifier
from attn_project.model.config import ModelConfig

__all__ = ["MaskedTokenClassifier", "ModelConfig"]
