"""Model shapes: Hugging Face config adapters, bundled catalog, parameter arithmetic."""

from inferplan.models import families_more as _families_more  # noqa: F401  (registers gptj, gemma2)
