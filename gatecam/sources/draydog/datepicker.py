"""Picks a day in the camera page's date picker: Element UI 2 and Element Plus alike."""

from __future__ import annotations

import calendar
import re
from datetime import date

from playwright.sync_api import Page

from gatecam.errors import DayUnavailable, DiscoveryError

_MONTHS = {name.lower(): number for number, name in enumerate(calendar.month_name) if name}
_HEADER = re.compile(r"(\d{4})\D*?([A-Za-z]+|\d{1,2})\b")
_INPUT = 'input.el-input__inner[placeholder="Pick a day"], input[placeholder="Pick a day"]'
# Element UI 2 puts the icon class on the button; Element Plus names it arrow-left and
# draws an SVG; both carry an aria-label. Year arrows (d-arrow-*) must not match.
_ARROWS = {
    "left": '.el-icon-arrow-left, .arrow-left, [aria-label="Previous Month" i]',
    "right": '.el-icon-arrow-right, .arrow-right, [aria-label="Next Month" i]',
}


def header_month(text: str, url: str) -> int:
    """Months since year 0 for a picker header like "2025 September" or "2025 / 09"."""
    match = _HEADER.search(text)
    month = 0
    if match:
        name = match[2]
        month = int(name) if name.isdigit() else _MONTHS.get(name.lower(), 0)
    if not match or not 1 <= month <= 12:
        raise DiscoveryError(
            f"cannot read the date picker header {text!r} on {url}: the picker may have changed"
        )
    return int(match[1]) * 12 + month - 1


def pick_day(page: Page, url: str, day: date) -> None:
    """Open the picker, walk to ``day``'s month and click the day."""
    field = page.locator(_INPUT).first
    if field.count() == 0:
        raise DiscoveryError(
            f"no date picker (input 'Pick a day') on {url}: the page layout may have changed"
        )
    field.click()
    header = page.locator(".el-date-picker__header:visible").first
    wanted = day.year * 12 + day.month - 1
    for _ in range(12 * 50):  # bounded: a broken header must not loop forever
        text = " ".join(header.inner_text().split())
        shown = header_month(text, url)
        if shown == wanted:
            break
        arrow = header.locator(_ARROWS["right" if shown < wanted else "left"]).first
        arrow.click()
        # Vue re-renders after the click returns; wait so we never click twice per month.
        page.locator(".el-date-picker__header:visible").filter(has_not_text=text).wait_for()
    else:
        raise DiscoveryError(f"the date picker on {url} never reached {day:%Y %B}")
    cells = page.locator(
        "table.el-date-table:visible td.available:not(.prev-month):not(.next-month)"
    ).filter(has=page.locator("span", has_text=re.compile(rf"^\s*{day.day}\s*$")))
    if cells.count() == 0:
        page.keyboard.press("Escape")
        raise DayUnavailable(f"{day.isoformat()} is not available in the date picker on {url}")
    cells.first.click()
