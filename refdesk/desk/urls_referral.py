"""Referral detail, timeline, actions and search (filled in by the referral-pages work)."""

urlpatterns: list = []
