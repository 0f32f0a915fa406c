"""Coarse role checks on fields. Scoping (which community, which household) lives in the services."""

from __future__ import annotations

from typing import Any

from strawberry.permission import BasePermission

from laoyou.core import i18n


class IsAuthenticated(BasePermission):
    message = "Please log in first."

    def has_permission(self, source: Any, info: Any, **kwargs: Any) -> bool:
        if info.context.actor.is_authenticated:
            return True
        self.message = i18n.gettext(IsAuthenticated.message, info.context.language)
        return False


class IsStaff(BasePermission):
    message = "Only staff can do this."

    def has_permission(self, source: Any, info: Any, **kwargs: Any) -> bool:
        if info.context.actor.is_staff:
            return True
        self.message = i18n.gettext(IsStaff.message, info.context.language)
        return False
