"""Opening packages at the hub against the organisation registry."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from pipelines.crypto.signing import key_fingerprint
from pipelines.governance import Governance, Refusal


def registry_key_resolver(gov: Governance) -> Callable[[str, str, dt.date], Ed25519PublicKey]:
    """(org, key fingerprint, day) -> that organisation's registered public signing key, valid
    on that day; otherwise a Refusal saying which of those failed."""

    registry = Path(gov.directory) / "organisations.yaml"

    def resolve(org: str, fingerprint: str, day: dt.date) -> Ed25519PublicKey:
        o = gov.organisation(org)
        for k in o.signing_keys:
            pub = k.public_key()
            if key_fingerprint(pub) == fingerprint:
                if not k.valid_on(day):
                    current = [c.key_id for c in o.signing_keys if c.valid_on(day)]
                    todo = (
                        f"prepare the package again under {org}'s current key"
                        f" ({', '.join(current)})"
                        if current
                        else "register a current key (`owf keys register`)"
                    )
                    raise Refusal(
                        "signing_key_expired",
                        f"{org}'s signing key {k.key_id} is valid {k.valid_from}..{k.valid_to},"
                        f" not on {day}; {todo}.",
                    )
                return pub
        raise Refusal(
            "unknown_signing_key",
            f"the package is signed with key {fingerprint}, which is not registered for {org}"
            f" in {registry}: it was signed with another organisation's key, or the key was"
            " never registered there (`owf keys register --hub HUB` writes the hub's"
            " registry).",
        )

    return resolve
