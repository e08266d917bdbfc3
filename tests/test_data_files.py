"""Every shipped data file is listed in data/README.md with its sha256."""

import hashlib
import re

from conftest import REPO

DATA = REPO / "data"


def test_every_data_file_is_listed_with_its_checksum():
    listed = dict(re.findall(r"\| `([^`]+)` \| `([0-9a-f]{64})` \|", (DATA / "README.md").read_text()))
    shipped = {str(p.relative_to(DATA)) for p in DATA.rglob("*") if p.is_file() and p.name != "README.md"
               and not p.relative_to(DATA).parts[0] == "mnist"}
    assert shipped == set(listed), f"listed {sorted(listed)}, shipped {sorted(shipped)}"
    for name, digest in listed.items():
        assert hashlib.sha256((DATA / name).read_bytes()).hexdigest() == digest, f"{name} changed"
