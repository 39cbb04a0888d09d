"""Events the banners app emits (docs/realtime.md)."""
from outbox.services import GROUP_PUBLIC, publish

BANNERS_UPDATE = "banners.update"


def publish_banners_update(*, banner_id: int, placement: str, op: str) -> None:
    """`banners.update` {bannerId, placement, op: created|updated|deleted} to `public`: clients
    re-fetch `GET /api/banners?placement=`. Inside the transaction."""
    publish(channel=BANNERS_UPDATE, groups=[GROUP_PUBLIC], data={"bannerId": banner_id, "placement": placement, "op": op})
