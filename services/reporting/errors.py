"""Reporting's errors, each with its status."""

from __future__ import annotations

from shared.errors import AppError


class InvalidRange(AppError):
    status, slug, title = 422, "invalid-range", "Invalid date range"


class RangeTooLong(AppError):
    status, slug, title = 422, "range-too-long", "Date range too long for this granularity"


class PdfUnavailable(AppError):
    status, slug, title = 503, "pdf-unavailable", "PDF rendering is not installed"
