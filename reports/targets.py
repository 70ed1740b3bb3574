"""Which segment a sent campaign targeted: segmail's own buckets by their campaign, Mailchimp's by tag.

- A Mailchimp campaign that is one of segmail's send buckets belongs to that campaign and its
  configured segment (a campaign no longer in the config keeps its name, with segment "other").
- Any other campaign of the audience targets a segment when its `recipients.segment_opts` names the
  static segment of a segmail tag: as its saved segment, or as its one condition (`StaticSegment`,
  `static_is`). Anything else (the whole audience, other segments, more conditions) is "other".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from segmail.connector.mailchimp_reports import CampaignTarget

SEGMAIL = "segmail"
TAG = "tag"
OTHER = "other"


@dataclass(frozen=True, slots=True)
class Target:
    kind: str  # segmail | tag | other
    campaign: str | None  # segmail's campaign name
    segment: str | None  # None: "other"


def bucket_target(campaign: str, campaign_segments: Mapping[str, str]) -> Target:
    return Target(SEGMAIL, campaign, campaign_segments.get(campaign))


def tag_target(target: CampaignTarget, segment_of_tag_id: Mapping[int, str]) -> Target:
    """`segment_of_tag_id`: the static segment id of each segmail tag in the audience → its segment."""
    for segment_id in (target.saved_segment_id, target.condition_segment_id):
        if segment_id is not None and segment_id in segment_of_tag_id:
            return Target(TAG, None, segment_of_tag_id[segment_id])
    return Target(OTHER, None, None)


def needs_tag_ids(target: CampaignTarget) -> bool:
    """Whether the audience's tag ids are needed to place this campaign (it names some segment)."""
    return target.saved_segment_id is not None or target.condition_segment_id is not None
