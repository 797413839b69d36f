"""Check the built distributions as PyPI would show them (run by ``scripts/dev.sh test`` after the build).

The project page is the wheel's METADATA description: every link and image there must be absolute, since
PyPI resolves no path into the repository and no heading anchor; the files it names must be in the sdist.
"""

from __future__ import annotations

import email
import pathlib
import re
import sys
import tarfile
import zipfile

dist = pathlib.Path(sys.argv[1])
(wheel,) = dist.glob("*.whl")
(sdist,) = dist.glob("*.tar.gz")
with zipfile.ZipFile(wheel) as zf:
    (name,) = [n for n in zf.namelist() if n.endswith(".dist-info/METADATA")]
    metadata = email.message_from_bytes(zf.read(name))
    enabling = ".data/data/etc/jupyter/jupyter_server_config.d/livecam_widget.json"
    assert any(n.endswith(enabling) for n in zf.namelist()), f"the wheel lacks {enabling} (server extension)"
description = metadata.get_payload()
assert isinstance(description, str) and "# livecam-widget" in description, "no README in the metadata"
assert metadata["Description-Content-Type"] == "text/markdown", metadata["Description-Content-Type"]
targets = re.findall(r"\]\(([^)\s]+)\)", description)
relative = [t for t in targets if not re.match(r"(https?|mailto):", t)]
assert not relative, f"links PyPI cannot resolve: {relative}"
with tarfile.open(sdist) as tf:
    shipped = {m.name.split("/", 1)[1] for m in tf.getmembers() if "/" in m.name}
named = re.findall(r"`(docs/[^`]+)`", description)
missing = [path for path in named if path not in shipped]
assert named and not missing, f"named on the page but not in the sdist: {missing or 'nothing named'}"
print(f"check_dist: {wheel.name}: no relative links ({len(targets)} absolute); {len(set(named))} docs in the sdist")
