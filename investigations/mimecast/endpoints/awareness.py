"""Awareness training: SAFE scores, phishing campaigns and results, training, performance."""

from __future__ import annotations

from typing import Any, Unpack

from investigations.mimecast.envelope import Paged, Paging, first_or_empty, flat_list, search_by
from investigations.mimecast.types import (
    Page,
    PerformanceDetail,
    PhishingCampaign,
    PhishingUserResult,
    SafeScore,
    SafeScoreSummary,
    TrainingDetails,
    parse,
    parse_list,
)

AWARENESS_MAX_PAGE_SIZE = 500
_ROOT = "/api/awareness-training"
PERFORMANCE = Paged(f"{_ROOT}/company/get-performance-details", PerformanceDetail, cap=AWARENESS_MAX_PAGE_SIZE)
# A campaign's users come as data[0].items[], not as data[] like the other awareness lists.
PHISHING_USERS = Paged(
    f"{_ROOT}/phishing/campaign/get-user-data", PhishingUserResult, key="items", cap=AWARENESS_MAX_PAGE_SIZE
)
SAFE_SCORES = Paged(f"{_ROOT}/company/get-safe-score-details", SafeScore, cap=AWARENESS_MAX_PAGE_SIZE)


class Awareness:
    def _awareness_first(self, path: str, model):
        return parse(model, first_or_empty(self._call(path), path))

    def get_performance_details(
        self,
        *,
        include_user_details: bool = True,
        search_field: str | None = None,
        search_value: str | None = None,
        **paging: Unpack[Paging],
    ) -> Page[PerformanceDetail]:
        item: dict[str, Any] = {"includeUserDetails": bool(include_user_details)}
        if search_value:
            item["searchBy"] = search_by(search_field, search_value, default="email")
        return self._page(PERFORMANCE, item, **paging)

    def get_phishing_campaigns(self, campaign_id: str | None = None) -> list[PhishingCampaign]:
        path = f"{_ROOT}/phishing/campaign/get-campaign"
        body = self._call(path, {"id": campaign_id} if campaign_id else None)
        return parse_list(PhishingCampaign, flat_list(body, path))

    def get_phishing_user_data(self, campaign_id: str, **paging: Unpack[Paging]) -> Page[PhishingUserResult]:
        return self._page(PHISHING_USERS, {"id": campaign_id}, **paging)

    def get_safe_score_details(self, **paging: Unpack[Paging]) -> Page[SafeScore]:
        return self._page(SAFE_SCORES, None, **paging)

    def get_safe_score_summary(self) -> SafeScoreSummary:
        return self._awareness_first(f"{_ROOT}/company/get-safe-score-summary", SafeScoreSummary)

    def get_training_details(self) -> TrainingDetails:
        return self._awareness_first(f"{_ROOT}/user/get-training-details", TrainingDetails)
