"""The commands (attn-train, attn-eval, attn-inspect, attn-explain, attn-pretrained, attn-study,
attn-bench): their logic; ``cli`` wires them and ``scripts/*.py`` call it."""
