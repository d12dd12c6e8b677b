"""Reads one listed day off the camera page: scrolls, follows pagers and load-more, settles."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from playwright.sync_api import Page

from gatecam.errors import DiscoveryError
from gatecam.sources.draydog.network import NetworkLog

logger = logging.getLogger(__name__)

# The page has settled once no new image address appeared, nothing scrolled and no young
# request was open for this long: settle on "no new URLs", not on the network.
QUIET_SECONDS = 0.7
# Before clicking "next", the current page must have been this still.
_PAGE_QUIET_SECONDS = 0.3
# Element UI checks lazy images through a 200 ms throttle: pause longer between steps.
_SCROLL_PAUSE_MS = 250
_POLL_MS = 100
# A pager that yields nothing new this many times in a row has reached its end.
_BARREN_CLICKS = 3
_MAX_CLICKS = 500

# Reads every image address the DOM names (img src/srcset/data-src, inline styles and the
# markup itself), steps each scroll box down by less than a screen, and says whether a
# "next page" or "load more" control is there to click.
_READ = """([cdn, scroll]) => {
  const urls = new Set();
  const add = (value) => {
    if (!value) return;
    try { urls.add(new URL(value, document.baseURI).href); } catch (e) {}
  };
  for (const img of document.querySelectorAll('img, source')) {
    add(img.currentSrc || img.src);
    for (const name of ['data-src', 'data-original', 'data-lazy-src']) add(img.getAttribute(name));
    for (const part of (img.getAttribute('srcset') || '').split(',')) {
      add(part.trim().split(/\\s+/)[0]);
    }
  }
  const html = document.documentElement.outerHTML.replace(/\\\\\\//g, '/');
  let start = html.indexOf(cdn);
  while (start >= 0) {
    const end = html.slice(start).search(/["'\\s)<>&]/);
    add(end < 0 ? html.slice(start) : html.slice(start, start + end));
    start = html.indexOf(cdn, start + 1);
  }
  let moved = false;
  if (scroll) {
    const boxes = [document.scrollingElement || document.documentElement];
    for (const el of document.querySelectorAll('*')) {
      const overflow = getComputedStyle(el).overflowY;
      if ((overflow === 'auto' || overflow === 'scroll') && el.scrollHeight > el.clientHeight + 1) {
        boxes.push(el);
      }
    }
    for (const box of boxes) {
      const view = box === document.scrollingElement ? window.innerHeight : box.clientHeight;
      if (box.scrollTop + view < box.scrollHeight - 1) {
        const before = box.scrollTop;
        box.scrollTop = before + Math.max(40, Math.floor(view * 0.7));
        box.dispatchEvent(new Event('scroll'));
        if (box.scrollTop !== before) moved = true;
      }
    }
  }
  return {urls: [...urls], moved, next: !!window.__gatecamNext()};
}"""

# Finds the control that shows more of the day: el-pagination's next button, the page
# number after the active one, or a "load more" button.
_NEXT = """() => {
  const visible = (el) => !!(el.offsetParent || el.getClientRects().length);
  const enabled = (el) => !el.disabled && !el.classList.contains('is-disabled')
    && !el.classList.contains('disabled') && el.getAttribute('aria-disabled') !== 'true';
  window.__gatecamNext = () => {
    for (const el of document.querySelectorAll('.el-pagination .btn-next, button.btn-next')) {
      if (visible(el) && enabled(el)) return el;
    }
    const active = document.querySelector(
      '.el-pager li.number.active, .el-pager li.number.is-active');
    if (active && !document.querySelector('.el-pagination .btn-next, button.btn-next')) {
      let next = active.nextElementSibling;
      while (next && !next.matches('li.number')) next = next.nextElementSibling;
      if (next) return next;
    }
    for (const el of document.querySelectorAll('button, a, [role="button"]')) {
      if (/^\\s*(load|show|view)\\s+more\\b/i.test(el.textContent || '') && visible(el)
          && enabled(el)) return el;
    }
    return null;
  };
}"""

# Clicks that control, then scrolls every box back up so lazy images of the new page load.
_CLICK_NEXT = """() => {
  const next = window.__gatecamNext();
  if (!next) return false;
  next.click();
  for (const el of document.querySelectorAll('*')) { if (el.scrollTop) el.scrollTop = 0; }
  return true;
}"""


@dataclass
class Harvest:
    """Image addresses one listed day yielded, by the strategy that saw them."""

    dom: set[str] = field(default_factory=set)
    requests: set[str] = field(default_factory=set)
    json: set[str] = field(default_factory=set)
    pages: int = 1
    scroll_steps: int = 0
    seconds: float = 0.0
    stopped_at_known: bool = False

    def all(self) -> set[str]:
        return self.dom | self.requests | self.json


def install(page: Page) -> None:
    """Define the page-side helpers; call again after every navigation."""
    page.evaluate(_NEXT)


def read_day(
    page: Page,
    network: NetworkLog,
    *,
    url: str,
    cdn_url: str,
    timeout: float,
    follow: bool = True,
    enough: Callable[[set[str]], bool] = lambda new: False,
) -> Harvest:
    """Read until the page settles; with ``follow``, scroll and page to the end of the day.

    ``enough`` sees the addresses a page added; True stops paging there (images already
    archived were reached).
    """
    started = time.monotonic()
    deadline = started + timeout
    harvest = Harvest()
    seen: set[str] = set()
    since_click: set[str] = set()
    last_change = started
    barren = 0
    paging = follow
    cdn = cdn_url.rstrip("/") + "/"
    install(page)
    while True:
        state: dict[str, Any] = page.evaluate(_READ, [cdn, follow])
        network.read_json()
        harvest.dom.update(state["urls"])
        harvest.requests.update(network.images)
        harvest.json.update(network.json_urls)
        now = time.monotonic()
        found = harvest.all()
        if len(found) > len(seen):
            since_click |= found - seen
            seen = found
            last_change = now
        if state["moved"]:
            harvest.scroll_steps += 1
            last_change = now
        still = now - last_change
        if network.busy():
            pass
        elif paging and state["next"] and still >= _PAGE_QUIET_SECONDS:
            barren = barren + 1 if not since_click else 0
            if enough(since_click):
                harvest.stopped_at_known = True
                paging = False
            elif barren >= _BARREN_CLICKS or harvest.pages >= _MAX_CLICKS:
                logger.warning("the pager on %s stopped yielding images", url)
                paging = False
            elif page.evaluate(_CLICK_NEXT):
                harvest.pages += 1
                since_click = set()
                last_change = now
        elif still >= QUIET_SECONDS:
            harvest.seconds = now - started
            return harvest
        if now > deadline:
            raise DiscoveryError(
                f"camera page {url} did not settle within {timeout:g} s "
                f"(new images or pages kept appearing after {len(seen)} addresses)"
            )
        page.wait_for_timeout(_SCROLL_PAUSE_MS if state["moved"] else _POLL_MS)
