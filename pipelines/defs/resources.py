"""Resources shared by every stage."""

from pathlib import Path

import dagster as dg

from pipelines.hub.home import HubPaths

# Every asset or op that writes the warehouse runs in this pool; the instance limits the pool
# to one slot (dagster.yaml), so runs queue for the warehouse instead of failing on its lock.
WAREHOUSE_POOL = "warehouse"


class HubResource(dg.ConfigurableResource):
    """Where the hub lives. Empty values mean the defaults: $OWF_HUB or var/hub, and the hub's
    own governance/ folder (or the project's)."""

    root: str = ""
    governance: str = ""

    def paths(self) -> HubPaths:
        if not self.root:
            default = HubPaths.default()
            return (
                HubPaths.at(default.root, self.governance or None) if self.governance else default
            )
        return HubPaths.at(Path(self.root), self.governance or None)
