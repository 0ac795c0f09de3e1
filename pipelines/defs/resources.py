"""Resources shared by every stage."""

import contextlib
from pathlib import Path

import dagster as dg

from pipelines.hub.home import HubPaths

# Every asset or op that writes the warehouse runs in this pool; the instance limits the pool
# to one slot (dagster_instance.yaml), so runs queue for the warehouse instead of failing on
# its lock.
WAREHOUSE_POOL = "warehouse"


class HubResource(dg.ConfigurableResource):
    """Where the hub lives. Empty values mean the defaults: $OWF_HUB (else $OWF_HOME/hub, else var/hub), and the hub's
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


def run_hub(run: dg.DagsterRun, default: HubResource) -> HubResource:
    """The hub a run used: the `hub` resource of its own run config where it has one (a run
    launched for another hub), else `default` (the definitions' hub). A sensor reacting to a
    run must act on that run's hub, not on its own."""
    config = ((run.run_config or {}).get("resources") or {}).get("hub") or {}
    given = config.get("config") or {}
    if not given:
        return default
    return HubResource(
        root=given.get("root", default.root), governance=given.get("governance", default.governance)
    )


def waits_logged(context) -> contextlib.AbstractContextManager:
    """Inside a step: while it runs, a wait for the warehouse lock (another writer took it)
    is a warning in the run's log, naming the writer, rather than a step that sits silent."""
    from pipelines.hub.warehouse import telling_waits

    return telling_waits(
        lambda holder: context.log.warning(f"waiting for the hub's {holder} to finish ...")
    )
