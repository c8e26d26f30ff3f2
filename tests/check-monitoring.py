#!/usr/bin/env python3
"""The monitoring samples of data/ (docs/deployment.md, "Monitoring"): the
Grafana dashboard is valid JSON, the alert rules valid YAML (when PyYAML is
installed), and every tessera_* metric either names is one the server
exposes (server/metrics.c), so a renamed metric cannot leave them behind."""
import json
import re
import sys
from pathlib import Path

src = Path(sys.argv[1])
exposed = set(re.findall(r'"(tessera_[a-z_]+)"', (src / "server/metrics.c").read_text()))
exposed |= {m + s for m in set(exposed) for s in ("_bucket", "_sum", "_count")}

dashboard = (src / "data/grafana-tessera.json").read_text()
json.loads(dashboard)
alerts = (src / "data/tessera-alerts.yml").read_text()
try:
    import yaml
    rules = yaml.safe_load(alerts)["groups"][0]["rules"]
    assert all("alert" in r and "expr" in r for r in rules), "a rule without alert or expr"
except ImportError:
    print("PyYAML missing: the alert rules' syntax is not checked")

used = set(re.findall(r"tessera_[a-z_]+", dashboard + alerts))
unknown = sorted(n for n in used if n not in exposed)
if unknown:
    sys.exit("not exposed by server/metrics.c: " + ", ".join(unknown))
print(f"{len(used)} metric names, all exposed")
