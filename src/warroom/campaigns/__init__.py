"""Campaigns: definitions, live progress against target and plan, the review."""

from warroom.campaigns.model import Campaign, CampaignError, CampaignFile, load_file, parse_file
from warroom.campaigns.progress import Progress, evaluate
from warroom.campaigns.service import BehindPlanWatch, CampaignBook

__all__ = [
    "BehindPlanWatch",
    "Campaign",
    "CampaignBook",
    "CampaignError",
    "CampaignFile",
    "Progress",
    "evaluate",
    "load_file",
    "parse_file",
]
