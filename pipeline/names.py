"""Dataset names: they become folder and file names under the work dir
(``<work>/datasets/<name>/``, ``<work>/validations/<name>.jsonl``), so only safe names pass.

A safe name is 1-100 characters of letters, digits, ``.``, ``_`` and ``-``, starting with a
letter or digit: ``alice``, ``alice-v2``, ``run_2024.1``; never ``../x``, ``a/b`` or ``.hidden``.
Example::

    check_dataset_name("../../x")   # ValueError: dataset name '../../x' is not a safe name ...
    dataset_name_from("my clips")   # 'my_clips' (a folder name made safe)
"""

from __future__ import annotations

import re

SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


def check_dataset_name(name: str) -> str:
    """``name`` if it is safe, else ValueError saying what is allowed."""
    if not SAFE_NAME.fullmatch(name) or ".." in name:
        raise ValueError(
            f"dataset name {name!r} is not a safe name: use 1-100 letters, digits, '.', '_' or '-',"
            " starting with a letter or digit (it becomes a folder under the work dir)"
        )
    return name


def dataset_name_from(text: str) -> str:
    """A safe dataset name derived from a folder or file name."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._-").replace("..", "_")[:100]
    return cleaned or "dataset"
